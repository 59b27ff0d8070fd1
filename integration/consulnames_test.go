package integration

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// consulCorefile serves the registry in Signpost's zone and, with
// consul-names, under Consul's names in consul. (datacenter dc1), on one
// port. The TTLs are those of staticCorefile so that its record helpers
// apply.
const consulCorefile = `svc.internal:{{PORT}} consul:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        ttl 7s
        negative-ttl 3s
        consul-names consul dc1
        service mysql {
            instance db1 10.0.0.5:3306 tags primary
            instance db2 10.0.0.6:3306 tags replica weight 5
        }
        service redis {
            instance cache1 [2001:db8::7]:6379
        }
        service vip {
            instance v1 10.0.3.1:8443
            failover 10.0.0.200:443
            min-healthy 2
        }
    }
    errors
}
`

const consulZone = "consul."

var consulMySQLGlue = []string{
	a("0a000005.addr.dc1.consul.", "10.0.0.5"),
	a("0a000006.addr.dc1.consul.", "10.0.0.6"),
}

func consulMySQLSRV(name string) []string {
	return []string{
		srv(name, "0 1 3306 0a000005.addr.dc1.consul."),
		srv(name, "0 5 3306 0a000006.addr.dc1.consul."),
	}
}

// consulCases are the Consul names a client asks, and what every client
// must see. web is registered through the API before they run.
var consulCases = []dnsCase{
	// <service>.service[.<dc>].consul
	{name: "mysql.service.consul.", qtype: dns.TypeA, answer: []string{
		a("mysql.service.consul.", "10.0.0.5"), a("mysql.service.consul.", "10.0.0.6")}},
	{name: "mysql.service.dc1.consul.", qtype: dns.TypeA, answer: []string{
		a("mysql.service.dc1.consul.", "10.0.0.5"), a("mysql.service.dc1.consul.", "10.0.0.6")}},
	{name: "web.service.consul.", qtype: dns.TypeA, answer: []string{a("web.service.consul.", "10.0.2.10")}},
	{name: "redis.service.consul.", qtype: dns.TypeAAAA, answer: []string{aaaa("redis.service.consul.", "2001:db8::7")}},
	{name: "mysql.service.consul.", qtype: dns.TypeSRV, answer: consulMySQLSRV("mysql.service.consul."), extra: consulMySQLGlue},
	// RFC 2782, with and without the datacenter and the service label.
	{name: "_mysql._tcp.service.consul.", qtype: dns.TypeSRV, answer: consulMySQLSRV("_mysql._tcp.service.consul."), extra: consulMySQLGlue},
	{name: "_mysql._tcp.service.dc1.consul.", qtype: dns.TypeSRV, answer: consulMySQLSRV("_mysql._tcp.service.dc1.consul."), extra: consulMySQLGlue},
	{name: "_mysql._tcp.consul.", qtype: dns.TypeSRV, answer: consulMySQLSRV("_mysql._tcp.consul."), extra: consulMySQLGlue},
	{name: "_redis._tcp.service.consul.", qtype: dns.TypeSRV,
		answer: []string{srv("_redis._tcp.service.consul.", "0 1 6379 20010db8000000000000000000000007.addr.dc1.consul.")},
		extra:  []string{aaaa("20010db8000000000000000000000007.addr.dc1.consul.", "2001:db8::7")}},
	// Tags, in both forms.
	{name: "primary.mysql.service.consul.", qtype: dns.TypeA, answer: []string{a("primary.mysql.service.consul.", "10.0.0.5")}},
	{name: "replica.mysql.service.dc1.consul.", qtype: dns.TypeSRV,
		answer: []string{srv("replica.mysql.service.dc1.consul.", "0 5 3306 0a000006.addr.dc1.consul.")},
		extra:  []string{a("0a000006.addr.dc1.consul.", "10.0.0.6")}},
	{name: "_mysql._primary.service.consul.", qtype: dns.TypeSRV,
		answer: []string{srv("_mysql._primary.service.consul.", "0 1 3306 0a000005.addr.dc1.consul.")},
		extra:  []string{a("0a000005.addr.dc1.consul.", "10.0.0.5")}},
	{name: "_web._blue.service.dc1.consul.", qtype: dns.TypeSRV,
		answer: []string{srv("_web._blue.service.dc1.consul.", "0 1 8080 0a00020a.addr.dc1.consul.")},
		extra:  []string{a("0a00020a.addr.dc1.consul.", "10.0.2.10")}},
	{name: "nosuchtag.mysql.service.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
	// The SRV targets resolve on the same server.
	{name: "0a000005.addr.dc1.consul.", qtype: dns.TypeA, answer: []string{a("0a000005.addr.dc1.consul.", "10.0.0.5")}},
	{name: "20010db8000000000000000000000007.addr.dc1.consul.", qtype: dns.TypeAAAA, answer: []string{
		aaaa("20010db8000000000000000000000007.addr.dc1.consul.", "2001:db8::7")}},
	{name: "0a090909.addr.dc1.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true}, // no instance has it
	// Failover applies as in Signpost's own names.
	{name: "vip.service.consul.", qtype: dns.TypeA, answer: []string{a("vip.service.consul.", "10.0.0.200")}},
	{name: "_vip._tcp.service.consul.", qtype: dns.TypeSRV,
		answer: []string{srv("_vip._tcp.service.consul.", "0 1 443 0a0000c8.addr.dc1.consul.")},
		extra:  []string{a("0a0000c8.addr.dc1.consul.", "10.0.0.200")}},
	// Case-insensitive, the question echoed as sent (DNS 0x20).
	{name: "MySQL.Service.DC1.Consul.", qtype: dns.TypeA, answer: []string{
		a("MySQL.Service.DC1.Consul.", "10.0.0.5"), a("MySQL.Service.DC1.Consul.", "10.0.0.6")}},
	{name: "_MySQL._Primary.SERVICE.consul.", qtype: dns.TypeSRV,
		answer: []string{srv("_MySQL._Primary.SERVICE.consul.", "0 1 3306 0a000005.addr.dc1.consul.")},
		extra:  []string{a("0a000005.addr.dc1.consul.", "10.0.0.5")}},
	// NODATA: the name exists, the type does not.
	{name: "mysql.service.consul.", qtype: dns.TypeAAAA, soa: true},
	{name: "mysql.service.consul.", qtype: dns.TypeTXT, soa: true},
	{name: "service.consul.", qtype: dns.TypeA, soa: true},
	{name: "dc1.consul.", qtype: dns.TypeA, soa: true},
	{name: "consul.", qtype: dns.TypeA, soa: true},
	// NXDOMAIN: an unknown datacenter, Consul's node and prepared-query
	// names, and anything else.
	{name: "mysql.service.dc2.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
	{name: "_mysql._tcp.service.dc2.consul.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, soa: true},
	{name: "nope.service.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
	{name: "signpost.node.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
	{name: "mysql.query.consul.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, soa: true},
	{name: "mysql.consul.", qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true},
	// Signpost's own zone is served beside them, unchanged.
	{name: "mysql.svc.internal.", qtype: dns.TypeSRV, extra: mysqlGlue, answer: []string{
		srv("mysql.svc.internal.", mysqlSRVdb1), srv("mysql.svc.internal.", mysqlSRVdb2)}},
}

// checkConsulReply compares a reply with what c expects, as checkReply
// does for Signpost's zone.
func checkConsulReply(t *testing.T, client string, r *dns.Msg, c dnsCase) {
	t.Helper()
	what := fmt.Sprintf("%s: %s %s", client, c.name, dns.TypeToString[c.qtype])
	if r.Rcode != c.rcode {
		t.Errorf("%s: rcode %s, want %s", what, rcodeName(r.Rcode), rcodeName(c.rcode))
	}
	if !r.Authoritative || r.Truncated {
		t.Errorf("%s: AA %v TC %v, want an authoritative whole answer", what, r.Authoritative, r.Truncated)
	}
	if len(r.Question) != 1 || r.Question[0].Name != c.name || r.Question[0].Qtype != c.qtype {
		t.Errorf("%s: question %v, want %s %s echoed exactly", what, r.Question, c.name, dns.TypeToString[c.qtype])
	}
	if got, want := rrStrings(r.Answer), sorted(c.answer); !slices.Equal(got, want) {
		t.Errorf("%s: answer\n got %q\nwant %q", what, got, want)
	}
	if got, want := rrStrings(r.Extra), sorted(c.extra); !slices.Equal(got, want) {
		t.Errorf("%s: additional\n got %q\nwant %q", what, got, want)
	}
	soaZone := consulZone
	if dns.IsSubDomain(zone, c.name) {
		soaZone = zone
	}
	checkSOA(t, what, r, c.soa, soaZone, staticNeg)
}

// TestConsulNamesDNS asks Consul's names of a real server with miekg/dns
// over UDP and TCP and with dig, an instance registered through the API
// among them.
func TestConsulNamesDNS(t *testing.T) {
	t.Parallel()
	s := startServer(t, consulCorefile)
	if !s.register(t, "web", "w1", "10.0.2.10", 8080) {
		t.FailNow()
	}
	clients := []struct {
		name string
		ask  func(t *testing.T, c dnsCase) *dns.Msg
	}{
		{"miekg/udp", func(t *testing.T, c dnsCase) *dns.Msg { return s.exchange(t, newQuery(c.name, c.qtype), "udp") }},
		{"miekg/udp+edns0", func(t *testing.T, c dnsCase) *dns.Msg {
			m := newQuery(c.name, c.qtype)
			m.SetEdns0(1232, false)
			return s.exchange(t, m, "udp")
		}},
		{"miekg/tcp", func(t *testing.T, c dnsCase) *dns.Msg { return s.exchange(t, newQuery(c.name, c.qtype), "tcp") }},
		{"dig", func(t *testing.T, c dnsCase) *dns.Msg { return s.dig(t, "-q", c.name, "-t", dns.TypeToString[c.qtype]) }},
	}
	for _, cl := range clients {
		t.Run(cl.name, func(t *testing.T) {
			for _, c := range consulCases {
				checkConsulReply(t, cl.name, cl.ask(t, c), c)
			}
		})
	}

	// The apex SOA, whose serial follows the registry.
	r := s.dig(t, "-q", consulZone, "-t", "SOA")
	if len(r.Answer) != 1 {
		t.Fatalf("dig consul. SOA: answer %q, want the SOA", rrStrings(r.Answer))
	}
	if soa, ok := r.Answer[0].(*dns.SOA); !ok || soa.Hdr.Name != consulZone || soa.Hdr.Ttl != staticTTL || soa.Minttl != staticNeg {
		t.Errorf("dig consul. SOA: %s, want consul.'s SOA with TTL %d and minimum %d", r.Answer[0], staticTTL, staticNeg)
	}
}

// TestConsulNamesGoResolver asks through Go's own stub resolver, as a Go
// service that finds its dependencies by Consul's names does: SRV by
// service and protocol, then each target's addresses, and host names.
func TestConsulNamesGoResolver(t *testing.T) {
	t.Parallel()
	s := startServer(t, consulCorefile)
	if !s.register(t, "web", "w1", "10.0.2.10", 8080) {
		t.FailNow()
	}
	r := s.resolver()

	mysql := []string{"0a000005.addr.dc1.consul.:3306 weight 1", "0a000006.addr.dc1.consul.:3306 weight 5"}
	checkGoSRV(t, r, "mysql", "tcp", "service.consul", "_mysql._tcp.service.consul.", mysql)
	checkGoSRV(t, r, "mysql", "tcp", "service.dc1.consul.", "_mysql._tcp.service.dc1.consul.", mysql)
	checkGoSRV(t, r, "mysql", "primary", "service.consul.", "_mysql._primary.service.consul.", mysql[:1])
	checkGoSRV(t, r, "", "", "replica.mysql.service.consul.", "replica.mysql.service.consul.", mysql[1:])
	checkGoSRV(t, r, "web", "tcp", "service.consul.", "_web._tcp.service.consul.", []string{"0a00020a.addr.dc1.consul.:8080 weight 1"})
	checkGoSRV(t, r, "redis", "tcp", "service.consul.", "_redis._tcp.service.consul.", []string{
		"20010db8000000000000000000000007.addr.dc1.consul.:6379 weight 1"})

	hosts := []struct {
		name string
		want []string
	}{
		{"mysql.service.consul", []string{"10.0.0.5", "10.0.0.6"}},
		{"mysql.service.dc1.consul.", []string{"10.0.0.5", "10.0.0.6"}},
		{"Primary.MySQL.Service.Consul.", []string{"10.0.0.5"}},
		{"web.service.consul.", []string{"10.0.2.10"}},
		{"redis.service.consul.", []string{"2001:db8::7"}},
		{"vip.service.consul.", []string{"10.0.0.200"}},
		{"0a000006.addr.dc1.consul.", []string{"10.0.0.6"}},
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
	for _, name := range []string{"mysql.service.dc2.consul.", "nope.service.consul.", "signpost.node.consul."} {
		_, err := r.LookupHost(lookupCtx(t), name)
		var de *net.DNSError
		if !errors.As(err, &de) || !de.IsNotFound {
			t.Errorf("LookupHost(%s): %v, want a not-found DNSError", name, err)
		}
	}
	_, _, err := r.LookupSRV(lookupCtx(t), "mysql", "tcp", "service.dc2.consul.")
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("LookupSRV(mysql, tcp, service.dc2.consul.): %v, want a not-found DNSError", err)
	}
}

// TestConsulNamesCorefileErrors: a Consul domain that is not one of the
// block's zones, or a datacenter that cannot be a label of its own, stops
// the server at start-up with an error naming the Corefile line.
func TestConsulNamesCorefileErrors(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ plugin, line, want string }{
		// The plugin serves svc.internal only, so consul. never reaches it.
		{"signpost svc.internal", "consul-names", "Corefile:4 - Error during parsing: consul-names domain consul. is not a zone of this server block (it serves svc.internal.)"},
		{"signpost", "consul-names consul service", "Corefile:4 - Error during parsing: invalid consul-names datacenter"},
	} {
		corefile := "svc.internal:{{PORT}} consul:{{PORT}} {\n    bind 127.0.0.1\n    " + c.plugin + " {\n        " + c.line + "\n    }\n}\n"
		if out := refusedCorefile(t, corefile); !strings.Contains(out, c.want) {
			t.Errorf("%s: output\n%s\nwant it to contain %q", c.line, out, c.want)
		}
	}
}

// refusedCorefile runs the server on a Corefile it must refuse, and
// returns what it printed before its non-zero exit.
func refusedCorefile(t *testing.T, corefile string) string {
	t.Helper()
	dir := t.TempDir()
	text := strings.ReplaceAll(corefile, "{{PORT}}", strconv.Itoa(freePort(t)))
	if err := os.WriteFile(filepath.Join(dir, "Corefile"), []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), badStartTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, signpostBin, "-conf", "Corefile")
	cmd.Dir = dir
	cmd.WaitDelay = stopTimeout
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if ctx.Err() != nil || !errors.As(err, &ee) || ee.ExitCode() == 0 {
		t.Fatalf("Corefile\n%s\nexit %v, want a refusal at start-up\n%s", text, err, out)
	}
	return string(out)
}
