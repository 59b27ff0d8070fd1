package integration

import (
	"fmt"
	"slices"
	"testing"

	"github.com/miekg/dns"
)

// failoverCorefile has services below min-healthy (static instances always
// pass, so min-healthy above the instance count forces the failover), and a
// second server block on the same port serving the load balancer's name
// through the hosts plugin, for the CNAME failover to follow.
const failoverCorefile = `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        ttl 7s
        negative-ttl 3s
        service db {
            instance a 10.0.0.1:3306
            instance b 10.0.0.2:3306
            failover 10.0.0.100:3306
            min-healthy 3
        }
        service cache {
            instance a 10.0.1.1:6379
            failover 10.0.1.100 2001:db8::100
            min-healthy 2
        }
        service web {
            instance w1 10.0.2.1:80
            instance w2 10.0.2.2:80
            failover cname lb.other.test.
            min-healthy 3
        }
        service ok {
            instance a 10.0.3.1:80
            failover 10.0.3.100
            min-healthy 1
        }
    }
    errors
}
other.test:{{PORT}} {
    bind 127.0.0.1
    hosts {
        10.9.9.9 lb.other.test
        ttl 60
    }
    errors
}
`

func TestFailover(t *testing.T) {
	t.Parallel()
	s := startServer(t, failoverCorefile)
	vipGlue := []string{a("10-0-0-100.addr.svc.internal.", "10.0.0.100")}
	cases := []dnsCase{
		// VIP with a port: A answers the VIP, SRV points at its addr name.
		{name: "db.svc.internal.", qtype: dns.TypeA, answer: []string{a("db.svc.internal.", "10.0.0.100")}},
		{name: "db.svc.internal.", qtype: dns.TypeAAAA, soa: true},
		{name: "db.svc.internal.", qtype: dns.TypeSRV, extra: vipGlue, answer: []string{
			srv("db.svc.internal.", "0 1 3306 10-0-0-100.addr.svc.internal.")}},
		{name: "_db._tcp.svc.internal.", qtype: dns.TypeSRV, extra: vipGlue, answer: []string{
			srv("_db._tcp.svc.internal.", "0 1 3306 10-0-0-100.addr.svc.internal.")}},
		// A client that ignores glue resolves the SRV target itself.
		{name: "10-0-0-100.addr.svc.internal.", qtype: dns.TypeA, answer: []string{
			a("10-0-0-100.addr.svc.internal.", "10.0.0.100")}},
		// VIPs of both families, without a port.
		{name: "cache.svc.internal.", qtype: dns.TypeA, answer: []string{a("cache.svc.internal.", "10.0.1.100")}},
		{name: "cache.svc.internal.", qtype: dns.TypeAAAA, answer: []string{aaaa("cache.svc.internal.", "2001:db8::100")}},
		// CNAME to the load balancer, followed through the server's own
		// plugin chain: the hosts plugin of the other server block answers,
		// with its own TTL.
		{name: "web.svc.internal.", qtype: dns.TypeA, answer: []string{
			fmt.Sprintf("web.svc.internal. %d IN CNAME lb.other.test.", staticTTL),
			"lb.other.test. 60 IN A 10.9.9.9"}},
		{name: "Web.SVC.internal.", qtype: dns.TypeA, answer: []string{
			fmt.Sprintf("Web.SVC.internal. %d IN CNAME lb.other.test.", staticTTL),
			"lb.other.test. 60 IN A 10.9.9.9"}},
		// Enough healthy instances: no failover.
		{name: "ok.svc.internal.", qtype: dns.TypeA, answer: []string{a("ok.svc.internal.", "10.0.3.1")}},
	}
	clients := []struct {
		name string
		ask  func(t *testing.T, c dnsCase) *dns.Msg
	}{
		{"miekg/udp", func(t *testing.T, c dnsCase) *dns.Msg { return s.exchange(t, newQuery(c.name, c.qtype), "udp") }},
		{"miekg/tcp", func(t *testing.T, c dnsCase) *dns.Msg { return s.exchange(t, newQuery(c.name, c.qtype), "tcp") }},
		{"dig", func(t *testing.T, c dnsCase) *dns.Msg {
			return s.dig(t, "-q", c.name, "-t", dns.TypeToString[c.qtype])
		}},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			for _, c := range cases {
				checkReply(t, cl.name, cl.ask(t, c), c)
			}
			// The CNAME comes first, so that a stub reads the chain in order.
			r := cl.ask(t, dnsCase{name: "web.svc.internal.", qtype: dns.TypeA})
			if len(r.Answer) != 2 || r.Answer[0].Header().Rrtype != dns.TypeCNAME {
				t.Errorf("%s A web: answer %q, want the CNAME first, then the A", cl.name, r.Answer)
			}
		})
	}

	t.Run("go", func(t *testing.T) {
		r := s.resolver()
		for _, h := range []struct {
			name string
			want []string
		}{
			{"db.svc.internal.", []string{"10.0.0.100"}},
			{"cache.svc.internal.", []string{"10.0.1.100", "2001:db8::100"}},
			{"web.svc.internal.", []string{"10.9.9.9"}}, // the stub ends with the address
			{"ok.svc.internal.", []string{"10.0.3.1"}},
		} {
			got, err := r.LookupHost(lookupCtx(t), h.name)
			if err != nil {
				t.Errorf("LookupHost(%s): %v", h.name, err)
				continue
			}
			if got = sorted(got); !slices.Equal(got, h.want) {
				t.Errorf("LookupHost(%s) = %v, want %v", h.name, got, h.want)
			}
		}
		cname, err := r.LookupCNAME(lookupCtx(t), "web.svc.internal.")
		if err != nil || cname != "lb.other.test." {
			t.Errorf("LookupCNAME(web) = %q, %v; want lb.other.test.", cname, err)
		}
		checkGoSRV(t, r, "db", "tcp", "svc.internal.", "_db._tcp.svc.internal.", []string{
			"10-0-0-100.addr.svc.internal.:3306 weight 1"})
	})
}
