package integration

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// staticCorefile serves services declared in the Corefile. The TTLs differ
// from the defaults so that the answers prove they were read.
const staticCorefile = `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        ttl 7s
        negative-ttl 3s
        service mysql {
            instance db1 10.0.0.5:3306 tags primary
            instance db2 10.0.0.6:3306 tags replica weight 5
        }
        service redis {
            instance cache1 10.0.1.7:6379 tags blue
            instance cache2 [2001:db8::7]:6379 weight 2
        }
        service web {
            instance w0 10.0.2.10:8080
            instance w1 10.0.2.11:8080
            instance w2 10.0.2.12:8080
            instance w3 10.0.2.13:8080
            instance w4 10.0.2.14:8080
            instance w5 10.0.2.15:8080
            instance w6 10.0.2.16:8080
            instance w7 10.0.2.17:8080
            instance w8 10.0.2.18:8080
            instance w9 10.0.2.19:8080
        }
    }
    errors
}
`

const (
	zone        = "svc.internal."
	staticTTL   = 7
	staticNeg   = 3
	mysqlSRVdb1 = "0 1 3306 10-0-0-5.addr.svc.internal."
	mysqlSRVdb2 = "0 5 3306 10-0-0-6.addr.svc.internal."
)

// dnsCase is one query and the reply every client must see.
type dnsCase struct {
	name   string // the question exactly as sent
	qtype  uint16
	rcode  int
	answer []string // answer records, any order
	extra  []string // additional records, any order, OPT left out
	soa    bool     // authority holds the zone SOA with the negative TTL
}

func a(name, addr string) string    { return fmt.Sprintf("%s %d IN A %s", name, staticTTL, addr) }
func aaaa(name, addr string) string { return fmt.Sprintf("%s %d IN AAAA %s", name, staticTTL, addr) }
func srv(name, rdata string) string { return fmt.Sprintf("%s %d IN SRV %s", name, staticTTL, rdata) }

var mysqlGlue = []string{
	a("10-0-0-5.addr.svc.internal.", "10.0.0.5"),
	a("10-0-0-6.addr.svc.internal.", "10.0.0.6"),
}

var staticCases = []dnsCase{
	// Addresses of a service, with the configured TTL.
	{name: "mysql.svc.internal.", qtype: dns.TypeA, answer: []string{
		a("mysql.svc.internal.", "10.0.0.5"), a("mysql.svc.internal.", "10.0.0.6")}},
	{name: "redis.svc.internal.", qtype: dns.TypeA, answer: []string{a("redis.svc.internal.", "10.0.1.7")}},
	{name: "redis.svc.internal.", qtype: dns.TypeAAAA, answer: []string{aaaa("redis.svc.internal.", "2001:db8::7")}},
	// NODATA: the name exists, the type does not.
	{name: "mysql.svc.internal.", qtype: dns.TypeAAAA, soa: true},
	{name: "mysql.svc.internal.", qtype: dns.TypeTXT, soa: true},
	// SRV with glue, in both forms.
	{name: "mysql.svc.internal.", qtype: dns.TypeSRV, extra: mysqlGlue, answer: []string{
		srv("mysql.svc.internal.", mysqlSRVdb1), srv("mysql.svc.internal.", mysqlSRVdb2)}},
	{name: "_mysql._tcp.svc.internal.", qtype: dns.TypeSRV, extra: mysqlGlue, answer: []string{
		srv("_mysql._tcp.svc.internal.", mysqlSRVdb1), srv("_mysql._tcp.svc.internal.", mysqlSRVdb2)}},
	{name: "_redis._udp.svc.internal.", qtype: dns.TypeSRV,
		answer: []string{
			srv("_redis._udp.svc.internal.", "0 1 6379 10-0-1-7.addr.svc.internal."),
			srv("_redis._udp.svc.internal.", "0 2 6379 2001-db8--7.addr.svc.internal."),
		},
		extra: []string{
			a("10-0-1-7.addr.svc.internal.", "10.0.1.7"),
			aaaa("2001-db8--7.addr.svc.internal.", "2001:db8::7"),
		}},
	// Tag filters, both forms.
	{name: "primary.mysql.svc.internal.", qtype: dns.TypeA, answer: []string{a("primary.mysql.svc.internal.", "10.0.0.5")}},
	{name: "replica.mysql.svc.internal.", qtype: dns.TypeSRV,
		answer: []string{srv("replica.mysql.svc.internal.", mysqlSRVdb2)},
		extra:  []string{a("10-0-0-6.addr.svc.internal.", "10.0.0.6")}},
	{name: "_mysql._primary.svc.internal.", qtype: dns.TypeSRV,
		answer: []string{srv("_mysql._primary.svc.internal.", mysqlSRVdb1)},
		extra:  []string{a("10-0-0-5.addr.svc.internal.", "10.0.0.5")}},
	{name: "blue.redis.svc.internal.", qtype: dns.TypeAAAA, soa: true}, // the blue instance is IPv4 only
	{name: "nosuchtag.mysql.svc.internal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
	{name: "_mysql._nosuchtag.svc.internal.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, soa: true},
	// addr names: the SRV targets.
	{name: "10-0-0-5.addr.svc.internal.", qtype: dns.TypeA, answer: []string{a("10-0-0-5.addr.svc.internal.", "10.0.0.5")}},
	{name: "2001-db8--7.addr.svc.internal.", qtype: dns.TypeAAAA, answer: []string{aaaa("2001-db8--7.addr.svc.internal.", "2001:db8::7")}},
	{name: "10-0-0-5.addr.svc.internal.", qtype: dns.TypeAAAA, soa: true},
	{name: "10-9-9-9.addr.svc.internal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true}, // no instance has it
	// Names that do not exist.
	{name: "nope.svc.internal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
	{name: "nope.svc.internal.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, soa: true},
	{name: "_nope._tcp.svc.internal.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, soa: true},
	{name: "a.b.c.svc.internal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
	// Empty non-terminals: names exist below them, so NODATA (RFC 8020).
	{name: "_mysql.svc.internal.", qtype: dns.TypeA, soa: true},
	{name: "_mysql.svc.internal.", qtype: dns.TypeSRV, soa: true},
	{name: "addr.svc.internal.", qtype: dns.TypeA, soa: true},
	{name: "svc.internal.", qtype: dns.TypeA, soa: true},
	// Case-insensitive, question echoed as sent (DNS 0x20).
	{name: "MySQL.Svc.INTERNAL.", qtype: dns.TypeA, answer: []string{
		a("MySQL.Svc.INTERNAL.", "10.0.0.5"), a("MySQL.Svc.INTERNAL.", "10.0.0.6")}},
	{name: "_MySQL._TCP.svc.internal.", qtype: dns.TypeSRV, extra: mysqlGlue, answer: []string{
		srv("_MySQL._TCP.svc.internal.", mysqlSRVdb1), srv("_MySQL._TCP.svc.internal.", mysqlSRVdb2)}},
	{name: "PRIMARY.mysql.svc.internal.", qtype: dns.TypeA, answer: []string{a("PRIMARY.mysql.svc.internal.", "10.0.0.5")}},
	{name: "10-0-0-5.ADDR.svc.internal.", qtype: dns.TypeA, answer: []string{a("10-0-0-5.ADDR.svc.internal.", "10.0.0.5")}},
	{name: "NoPe.SVC.internal.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
	// ANY gets the minimal RFC 8482 answer.
	{name: "mysql.svc.internal.", qtype: dns.TypeANY, answer: []string{
		fmt.Sprintf(`mysql.svc.internal. %d IN HINFO "RFC8482" ""`, staticTTL)}},
	// Outside the zone, with nothing after the plugin: refused, no recursion.
	{name: "example.com.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
	{name: "internal.", qtype: dns.TypeA, rcode: dns.RcodeRefused},
}

// checkReply compares a reply with what c expects, whichever client got it.
func checkReply(t *testing.T, client string, r *dns.Msg, c dnsCase) {
	t.Helper()
	what := fmt.Sprintf("%s: %s %s", client, c.name, dns.TypeToString[c.qtype])
	if r.Rcode != c.rcode {
		t.Errorf("%s: rcode %s, want %s", what, rcodeName(r.Rcode), rcodeName(c.rcode))
	}
	if r.Truncated {
		t.Errorf("%s: TC set on a small reply", what)
	}
	if len(r.Question) != 1 || r.Question[0].Name != c.name || r.Question[0].Qtype != c.qtype {
		t.Errorf("%s: question %v, want %s %s echoed exactly", what, r.Question, c.name, dns.TypeToString[c.qtype])
	}
	if wantAA := c.rcode != dns.RcodeRefused; r.Authoritative != wantAA {
		t.Errorf("%s: AA %v, want %v", what, r.Authoritative, wantAA)
	}
	if got, want := rrStrings(r.Answer), sorted(c.answer); !slices.Equal(got, want) {
		t.Errorf("%s: answer\n got %q\nwant %q", what, got, want)
	}
	if got, want := rrStrings(r.Extra), sorted(c.extra); !slices.Equal(got, want) {
		t.Errorf("%s: additional\n got %q\nwant %q", what, got, want)
	}
	checkSOA(t, what, r, c.soa, zone, staticNeg)
}

// checkSOA checks that the authority section holds exactly the zone's SOA
// with TTL and minimum equal to the negative TTL (RFC 2308), or is empty.
func checkSOA(t *testing.T, what string, r *dns.Msg, want bool, zone string, negTTL uint32) {
	t.Helper()
	if !want {
		if len(r.Ns) != 0 {
			t.Errorf("%s: authority %q, want none", what, rrStrings(r.Ns))
		}
		return
	}
	if len(r.Ns) != 1 {
		t.Errorf("%s: authority %q, want the zone SOA alone", what, rrStrings(r.Ns))
		return
	}
	soa, ok := r.Ns[0].(*dns.SOA)
	switch {
	case !ok:
		t.Errorf("%s: authority %s, want a SOA", what, r.Ns[0])
	case soa.Hdr.Name != zone:
		t.Errorf("%s: SOA owner %s, want %s", what, soa.Hdr.Name, zone)
	case soa.Minttl != negTTL || soa.Hdr.Ttl != negTTL:
		t.Errorf("%s: SOA TTL %d minimum %d, want both %d (negative-ttl)", what, soa.Hdr.Ttl, soa.Minttl, negTTL)
	}
}

// TestStaticServices runs every case with each client: miekg/dns over UDP
// (plain and with EDNS0) and TCP, and dig.
func TestStaticServices(t *testing.T) {
	t.Parallel()
	s := startServer(t, staticCorefile)
	clients := []struct {
		name string
		ask  func(t *testing.T, c dnsCase) *dns.Msg
	}{
		{"miekg/udp", func(t *testing.T, c dnsCase) *dns.Msg {
			return s.exchange(t, newQuery(c.name, c.qtype), "udp")
		}},
		{"miekg/udp+edns0", func(t *testing.T, c dnsCase) *dns.Msg {
			m := newQuery(c.name, c.qtype)
			m.SetEdns0(1232, false)
			r := s.exchange(t, m, "udp")
			if r.Rcode != dns.RcodeRefused && r.IsEdns0() == nil {
				t.Errorf("%s %s: no OPT in the reply to an EDNS0 query", c.name, dns.TypeToString[c.qtype])
			}
			return r
		}},
		{"miekg/tcp", func(t *testing.T, c dnsCase) *dns.Msg {
			return s.exchange(t, newQuery(c.name, c.qtype), "tcp")
		}},
		{"dig", func(t *testing.T, c dnsCase) *dns.Msg {
			return s.dig(t, "-q", c.name, "-t", dns.TypeToString[c.qtype])
		}},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			for _, c := range staticCases {
				checkReply(t, cl.name, cl.ask(t, c), c)
			}
		})
	}
}

// TestGoResolver asks the same server through Go's own stub resolver, the
// way a Go service finds its dependencies.
func TestGoResolver(t *testing.T) {
	t.Parallel()
	s := startServer(t, staticCorefile)
	r := s.resolver()

	hosts := []struct {
		name string
		want []string
	}{
		{"mysql.svc.internal.", []string{"10.0.0.5", "10.0.0.6"}},
		{"MYSQL.svc.internal.", []string{"10.0.0.5", "10.0.0.6"}},
		{"redis.svc.internal.", []string{"10.0.1.7", "2001:db8::7"}},
		{"primary.mysql.svc.internal.", []string{"10.0.0.5"}},
		{"10-0-0-6.addr.svc.internal.", []string{"10.0.0.6"}},
		{"2001-db8--7.addr.svc.internal.", []string{"2001:db8::7"}},
	}
	for _, h := range hosts {
		got, err := r.LookupHost(lookupCtx(t), h.name)
		if err != nil {
			t.Errorf("LookupHost(%s): %v", h.name, err)
			continue
		}
		if got = sorted(got); !slices.Equal(got, h.want) {
			t.Errorf("LookupHost(%s) = %v, want %v", h.name, got, h.want)
		}
	}

	ips, err := r.LookupIPAddr(lookupCtx(t), "redis.svc.internal.")
	if err != nil {
		t.Fatalf("LookupIPAddr(redis): %v", err)
	}
	var got []string
	for _, ip := range ips {
		got = append(got, ip.String())
	}
	if got, want := sorted(got), []string{"10.0.1.7", "2001:db8::7"}; !slices.Equal(got, want) {
		t.Errorf("LookupIPAddr(redis) = %v, want %v", got, want)
	}

	for _, name := range []string{"nope.svc.internal.", "nosuchtag.mysql.svc.internal."} {
		_, err := r.LookupHost(lookupCtx(t), name)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("LookupHost(%s): %v, want a not-found DNSError", name, err)
		}
	}

	checkGoSRV(t, r, "mysql", "tcp", "svc.internal.", "_mysql._tcp.svc.internal.", []string{
		"10-0-0-5.addr.svc.internal.:3306 weight 1", "10-0-0-6.addr.svc.internal.:3306 weight 5"})
	checkGoSRV(t, r, "", "", "replica.mysql.svc.internal.", "replica.mysql.svc.internal.", []string{
		"10-0-0-6.addr.svc.internal.:3306 weight 5"})
	checkGoSRV(t, r, "redis", "udp", "svc.internal.", "_redis._udp.svc.internal.", []string{
		"10-0-1-7.addr.svc.internal.:6379 weight 1", "2001-db8--7.addr.svc.internal.:6379 weight 2"})
}

// checkGoSRV looks an SRV name up with the Go resolver, and then, as a Go
// client does before dialling, each target's addresses.
func checkGoSRV(t *testing.T, r *net.Resolver, service, proto, name, wantCNAME string, want []string) {
	t.Helper()
	cname, addrs, err := r.LookupSRV(lookupCtx(t), service, proto, name)
	if err != nil {
		t.Errorf("LookupSRV(%q, %q, %s): %v", service, proto, name, err)
		return
	}
	if cname != wantCNAME {
		t.Errorf("LookupSRV(%q, %q, %s): name %s, want %s", service, proto, name, cname, wantCNAME)
	}
	var got []string
	for _, a := range addrs {
		if a.Priority != 0 {
			t.Errorf("LookupSRV(%s): priority %d, want 0", name, a.Priority)
		}
		got = append(got, fmt.Sprintf("%s:%d weight %d", a.Target, a.Port, a.Weight))
		if hosts, err := r.LookupHost(lookupCtx(t), a.Target); err != nil || len(hosts) != 1 {
			t.Errorf("LookupHost(%s), the SRV target of %s: %v, %v; want one address", a.Target, name, hosts, err)
		}
	}
	if got = sorted(got); !slices.Equal(got, want) {
		t.Errorf("LookupSRV(%q, %q, %s) = %v, want %v", service, proto, name, got, want)
	}
}

// TestShuffle checks that answers are shuffled per query: 50 queries of a
// 10-instance service see more than one order (all 50 alike by chance has
// probability (1/10!)^49), and every answer holds all 10 addresses.
func TestShuffle(t *testing.T) {
	t.Parallel()
	s := startServer(t, staticCorefile)
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		orders := make(map[string]int)
		for range 50 {
			r := s.exchange(t, newQuery("web.svc.internal.", qtype), "udp")
			if len(r.Answer) != 10 {
				t.Fatalf("%s web: %d answers, want 10: %v", dns.TypeToString[qtype], len(r.Answer), r.Answer)
			}
			var order []string
			for _, rr := range r.Answer {
				order = append(order, strings.Join(strings.Fields(rr.String()), " "))
			}
			if got := len(uniq(order)); got != 10 {
				t.Fatalf("%s web: %d distinct records, want 10", dns.TypeToString[qtype], got)
			}
			orders[strings.Join(order, "|")]++
		}
		if len(orders) < 2 {
			t.Errorf("%s web: the same order in all 50 answers; answers are not shuffled", dns.TypeToString[qtype])
		}
	}
}

func uniq(s []string) []string {
	s = sorted(s)
	return slices.Compact(s)
}
