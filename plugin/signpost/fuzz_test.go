package signpost

import (
	"context"
	"net/netip"
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// FuzzParseName feeds query names to the parser, in a Signpost zone and in
// the Consul domain: it must not panic, and an address name must round-trip
// to the one canonical label it came from.
func FuzzParseName(f *testing.F) {
	for _, name := range []string{
		"web.svc.internal.", "blue.web.svc.internal.", "_web._tcp.svc.internal.", "_web._blue.svc.internal.",
		"10-0-0-5.addr.svc.internal.", "2001-db8--1.addr.svc.internal.", "addr.svc.internal.", "_tcp.svc.internal.",
		"svc.internal.", "a.b.c.svc.internal.", "10-0-0-05.addr.svc.internal.", "--.addr.svc.internal.", "_.svc.internal.",
		"web.service.consul.", "blue.web.service.dc1.consul.", "_web._tcp.service.dc1.consul.", "_web._tcp.consul.",
		"0a000005.addr.dc1.consul.", "20010db8000000000000000000000001.addr.consul.", "web.service.dc2.consul.",
		"dc1.consul.", "consul.", "n.node.consul.",
	} {
		f.Add(name)
	}
	sp := &Signpost{opts: options{consul: &consulNames{domain: "consul.", dc: "dc1"}}}
	f.Fuzz(func(t *testing.T, name string) {
		name = strings.ToLower(name)
		for zone, label := range map[string]func(netip.Addr) string{testZone: addrToLabel, "consul.": consulAddrLabel} {
			name := name
			if !strings.HasSuffix(name, "."+zone) && name != zone {
				name += "." + zone
			}
			q, err := sp.parse(name, zone)
			if err != nil || q.kind != kindAddr {
				continue
			}
			if first, _, _ := strings.Cut(name, "."); label(q.addr) != first {
				t.Fatalf("%q: address %s, whose label is %q", name, q.addr, label(q.addr))
			}
		}
	})
}

// FuzzServeDNS feeds arbitrary bytes as a query to both paths: no panic,
// and every reply parses.
func FuzzServeDNS(f *testing.F) {
	for _, q := range []*dns.Msg{
		new(dns.Msg).SetQuestion("web.svc.internal.", dns.TypeA),
		new(dns.Msg).SetQuestion("_mysql._tcp.svc.internal.", dns.TypeSRV),
		new(dns.Msg).SetQuestion("10-0-0-5.addr.svc.internal.", dns.TypeAAAA),
		new(dns.Msg).SetQuestion("lb.svc.internal.", dns.TypeCNAME),
		new(dns.Msg).SetQuestion("nope.svc.internal.", dns.TypeANY),
		new(dns.Msg).SetQuestion("example.org.", dns.TypeA),
		new(dns.Msg).SetEdns0(1232, true).SetQuestion("mysql.svc.internal.", dns.TypeSRV),
		new(dns.Msg).SetQuestion("_mysql._tcp.service.dc1.consul.", dns.TypeSRV),
		new(dns.Msg).SetQuestion("primary.mysql.service.consul.", dns.TypeA),
		new(dns.Msg).SetQuestion("0a000005.addr.dc1.consul.", dns.TypeA),
		new(dns.Msg).SetQuestion("web.service.dc2.consul.", dns.TypeAAAA),
	} {
		b, err := q.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	sp := newTestSignpost(f)
	sp.Zones = append(sp.Zones, "consul.")
	sp.opts.consul = &consulNames{domain: "consul.", dc: "dc1"}
	fast := *sp
	fast.cache = newAnswerCache(100)
	f.Fuzz(func(t *testing.T, wire []byte, tcp bool) {
		r := new(dns.Msg)
		if r.Unpack(wire) != nil || len(r.Question) == 0 {
			return // the server drops these before any plugin
		}
		for _, p := range []*Signpost{sp, &fast} {
			cw := &captureWriter{ResponseWriter: test.ResponseWriter{TCP: tcp}}
			p.ServeDNS(context.Background(), request.NewScrubWriter(r, cw), r)
			if cw.wire == nil {
				continue // refused or handed on, as a server without a next plugin does
			}
			if err := new(dns.Msg).Unpack(cw.wire); err != nil {
				t.Fatalf("reply to %v does not parse: %v", r.Question, err)
			}
		}
	})
}

// FuzzPathsAgree is the differential check on registries and queries
// drawn from the fuzzer's seed.
func FuzzPathsAgree(f *testing.F) {
	for seed := range uint64(8) {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, seed uint64) {
		checkWorld(t, seed, 20)
	})
}

// FuzzParseCorefile feeds signpost blocks to the Corefile parser: it must
// refuse what it cannot read with an error, never panic.
func FuzzParseCorefile(f *testing.F) {
	for _, s := range []string{
		"signpost {\napi 127.0.0.1:8053\nttl 5s\n}",
		"signpost svc.internal {\nservice db {\ninstance db1 10.0.0.5:3306 tags primary weight 2\ncheck mysql interval 2s\nfailover 10.0.0.100:3306\nmin-healthy 1\n}\n}",
		"signpost {\nself-preservation 0.2 5\nmax-answers 3\nserve-warning\nfallthrough\n}",
		"signpost {\netcd {\nendpoint http://127.0.0.1:2379\npath /signpost\n}\n}",
		"signpost {\nservice db {\nfailover cname lb.example.org.\n}\n}",
		"signpost {\n}", "signpost", "signpost {\n{\n}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		if strings.Contains(input, "token-file") || strings.Contains(input, "tls") {
			return // those read files named in the input
		}
		parse(caddy.NewTestController("dns", input))
	})
}
