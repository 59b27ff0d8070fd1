package signpost

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

func TestConsulParse(t *testing.T) {
	cn, err := newConsulNames("consul.", "dc1")
	must(t, err)
	v4, v6 := netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("2001:db8::1")
	tests := []struct {
		name string
		want query
		err  error
	}{
		{"consul.", query{kind: kindApex}, nil},
		// <service>.service[.<dc>]
		{"web.service.consul.", query{kind: kindService, service: "web"}, nil},
		{"web.service.dc1.consul.", query{kind: kindService, service: "web"}, nil},
		{"web.service.dc1.dc.consul.", query{kind: kindService, service: "web"}, nil},
		// <tag>.<service>.service[.<dc>]
		{"blue.web.service.consul.", query{kind: kindService, service: "web", tag: "blue"}, nil},
		{"blue.web.service.dc1.consul.", query{kind: kindService, service: "web", tag: "blue"}, nil},
		// RFC 2782, with and without the service label and the datacenter.
		{"_web._tcp.service.consul.", query{kind: kindService, service: "web"}, nil},
		{"_web._tcp.service.dc1.consul.", query{kind: kindService, service: "web"}, nil},
		{"_web._udp.service.consul.", query{kind: kindService, service: "web"}, nil},
		{"_web._tcp.consul.", query{kind: kindService, service: "web"}, nil},
		{"_web._tcp.dc1.consul.", query{kind: kindService, service: "web"}, nil},
		{"_web._tcp.service.dc1.dc.consul.", query{kind: kindService, service: "web"}, nil},
		{"_web._blue.service.consul.", query{kind: kindService, service: "web", tag: "blue"}, nil},
		{"_web._blue.service.dc1.consul.", query{kind: kindService, service: "web", tag: "blue"}, nil},
		// Names that exist because there are names below them.
		{"service.consul.", query{kind: kindENT}, nil},
		{"service.dc1.consul.", query{kind: kindENT}, nil},
		{"dc1.consul.", query{kind: kindENT}, nil},
		{"dc1.dc.consul.", query{kind: kindENT}, nil},
		{"dc.consul.", query{kind: kindENT}, nil},
		{"service.dc1.dc.consul.", query{kind: kindENT}, nil},
		{"addr.consul.", query{kind: kindENT}, nil},
		{"addr.dc1.consul.", query{kind: kindENT}, nil},
		{"_tcp.service.consul.", query{kind: kindENT, service: "tcp"}, nil},
		{"_tcp.consul.", query{kind: kindENT, service: "tcp"}, nil},
		{"_blue.service.dc1.consul.", query{kind: kindENT, service: "blue"}, nil},
		// SRV targets: Consul's hex addresses, with or without the datacenter.
		{"0a000005.addr.dc1.consul.", query{kind: kindAddr, addr: v4}, nil},
		{"0a000005.addr.consul.", query{kind: kindAddr, addr: v4}, nil},
		{"20010db8000000000000000000000001.addr.dc1.consul.", query{kind: kindAddr, addr: v6}, nil},
		{"00000000000000000000ffff0a000005.addr.dc1.consul.", query{}, errNameNotFound}, // mapped: 0a000005 is its name
		{"0a00005.addr.dc1.consul.", query{}, errNameNotFound},
		{"0a00000g.addr.dc1.consul.", query{}, errNameNotFound},
		{"x.0a000005.addr.dc1.consul.", query{}, errNameNotFound},
		{"10-0-0-5.addr.consul.", query{}, errNameNotFound}, // Signpost's own label is not a Consul name
		// Unknown datacenters, Consul's other lookups, Signpost's own forms.
		{"web.service.dc2.consul.", query{}, errNameNotFound},
		{"web.service.dc2.dc.consul.", query{}, errNameNotFound},
		{"web.service.dc1.dc.dc1.consul.", query{}, errNameNotFound},
		{"web.service.p1.peer.consul.", query{}, errNameNotFound},
		{"web.service.default.ns.dc1.dc.consul.", query{}, errNameNotFound},
		{"dc2.dc.consul.", query{}, errNameNotFound},
		{"_web._tcp.service.dc2.consul.", query{}, errNameNotFound},
		{"blue.web.service.dc2.consul.", query{}, errNameNotFound},
		{"0a000005.addr.dc2.consul.", query{}, errNameNotFound},
		{"dc2.consul.", query{}, errNameNotFound},
		{"web.service.dc1.dc1.consul.", query{}, errNameNotFound},
		{"web.service.dc2.dc1.consul.", query{}, errNameNotFound},
		{"dc1.service.dc2.consul.", query{}, errNameNotFound},
		{"node1.node.consul.", query{}, errNameNotFound},
		{"node1.node.dc1.consul.", query{}, errNameNotFound},
		{"web.query.consul.", query{}, errNameNotFound},
		{"web.connect.consul.", query{}, errNameNotFound},
		{"web.consul.", query{}, errNameNotFound},
		{"web.dc1.consul.", query{}, errNameNotFound},
		{"a.b.web.service.consul.", query{}, errNameNotFound},
		{"web._tcp.service.consul.", query{}, errNameNotFound},
		{"_x._web._tcp.consul.", query{}, errNameNotFound},
	}
	for _, tc := range tests {
		got, err := cn.parse(tc.name)
		if !errors.Is(err, tc.err) {
			t.Errorf("parse(%q) error = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if got != tc.want {
			t.Errorf("parse(%q) = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestConsulAddrLabel(t *testing.T) {
	for addr, label := range map[string]string{
		"10.0.0.5":    "0a000005",
		"192.0.2.255": "c00002ff",
		"2001:db8::1": "20010db8000000000000000000000001",
		"::1":         "00000000000000000000000000000001",
	} {
		a := netip.MustParseAddr(addr)
		if got := consulAddrLabel(a); got != label {
			t.Errorf("consulAddrLabel(%s) = %s, want %s", addr, got, label)
		}
		if got, ok := parseConsulAddrLabel(label); !ok || got != a {
			t.Errorf("parseConsulAddrLabel(%s) = %v, %v; want %s", label, got, ok, addr)
		}
	}
}

func TestConsulDatacenterNames(t *testing.T) {
	for _, dc := range []string{"service", "addr", "node", "query", "dc", "peer", "", "dc_1", "-dc", strings.Repeat("d", 64)} {
		if _, err := newConsulNames("consul.", dc); err == nil {
			t.Errorf("datacenter %q accepted", dc)
		}
	}
	cn, err := newConsulNames("consul.", "EU-West-1")
	if err != nil || cn.dc != "eu-west-1" {
		t.Errorf("datacenter EU-West-1: %+v, %v; want eu-west-1", cn, err)
	}
}

// newConsulSignposts returns the test registry served in svc.internal.
// and, with Consul's names, in consul.: through the general path and
// through the packed fast path.
func newConsulSignposts(t testing.TB, opts options) (general, fast *Signpost) {
	t.Helper()
	general = newTestSignpost(t)
	general.Zones = []string{testZone, "consul."}
	cn, err := newConsulNames("consul.", "dc1")
	must(t, err)
	opts.consul = cn
	general.opts = opts
	f := *general
	f.cache = newAnswerCache(100)
	return general, &f
}

var consulSOA = test.SOA("consul. 7 IN SOA ns.dns.consul. hostmaster.consul. 1 7200 1800 86400 7")

var consulTable = []test.Case{
	// <service>.service[.<dc>].consul
	{Qname: "mysql.service.consul.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("mysql.service.consul. 5 IN A 10.0.0.5"),
		test.A("mysql.service.consul. 5 IN A 10.0.0.6"),
	}},
	{Qname: "web.service.dc1.consul.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.service.dc1.consul. 5 IN A 10.0.1.1")}},
	{Qname: "web.service.dc1.dc.consul.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("web.service.dc1.dc.consul. 5 IN A 10.0.1.1")}},
	{Qname: "web.service.consul.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("web.service.consul. 5 IN AAAA 2001:db8::2")}},
	{Qname: "mysql.service.consul.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{
			test.SRV("mysql.service.consul. 5 IN SRV 0 1 3306 0a000005.addr.dc1.consul."),
			test.SRV("mysql.service.consul. 5 IN SRV 0 1 3306 0a000006.addr.dc1.consul."),
		},
		Extra: []dns.RR{
			test.A("0a000005.addr.dc1.consul. 5 IN A 10.0.0.5"),
			test.A("0a000006.addr.dc1.consul. 5 IN A 10.0.0.6"),
		},
	},
	// RFC 2782, with and without the service label and the datacenter.
	{Qname: "_web._tcp.service.consul.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{
			test.SRV("_web._tcp.service.consul. 5 IN SRV 0 1 8080 0a000101.addr.dc1.consul."),
			test.SRV("_web._tcp.service.consul. 5 IN SRV 0 5 8080 20010db8000000000000000000000002.addr.dc1.consul."),
		},
		Extra: []dns.RR{
			test.A("0a000101.addr.dc1.consul. 5 IN A 10.0.1.1"),
			test.AAAA("20010db8000000000000000000000002.addr.dc1.consul. 5 IN AAAA 2001:db8::2"),
		},
	},
	{Qname: "_mysql._tcp.service.dc1.consul.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{
			test.SRV("_mysql._tcp.service.dc1.consul. 5 IN SRV 0 1 3306 0a000005.addr.dc1.consul."),
			test.SRV("_mysql._tcp.service.dc1.consul. 5 IN SRV 0 1 3306 0a000006.addr.dc1.consul."),
		},
		Extra: []dns.RR{
			test.A("0a000005.addr.dc1.consul. 5 IN A 10.0.0.5"),
			test.A("0a000006.addr.dc1.consul. 5 IN A 10.0.0.6"),
		},
	},
	{Qname: "_mysql._tcp.consul.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{
			test.SRV("_mysql._tcp.consul. 5 IN SRV 0 1 3306 0a000005.addr.dc1.consul."),
			test.SRV("_mysql._tcp.consul. 5 IN SRV 0 1 3306 0a000006.addr.dc1.consul."),
		},
		Extra: []dns.RR{
			test.A("0a000005.addr.dc1.consul. 5 IN A 10.0.0.5"),
			test.A("0a000006.addr.dc1.consul. 5 IN A 10.0.0.6"),
		},
	},
	// Tags.
	{Qname: "primary.mysql.service.consul.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("primary.mysql.service.consul. 5 IN A 10.0.0.5")}},
	{Qname: "replica.mysql.service.dc1.consul.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("replica.mysql.service.dc1.consul. 5 IN SRV 0 1 3306 0a000006.addr.dc1.consul.")},
		Extra:  []dns.RR{test.A("0a000006.addr.dc1.consul. 5 IN A 10.0.0.6")},
	},
	{Qname: "_mysql._primary.service.consul.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("_mysql._primary.service.consul. 5 IN SRV 0 1 3306 0a000005.addr.dc1.consul.")},
		Extra:  []dns.RR{test.A("0a000005.addr.dc1.consul. 5 IN A 10.0.0.5")},
	},
	{Qname: "_mysql._replica.service.dc1.consul.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("_mysql._replica.service.dc1.consul. 5 IN A 10.0.0.6")}},
	{Qname: "green.web.service.consul.", Qtype: dns.TypeA, Ns: []dns.RR{consulSOA}}, // the tag exists, IPv6 only
	{Qname: "nosuchtag.mysql.service.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}},
	{Qname: "_mysql._nosuchtag.service.consul.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}},
	// SRV targets resolve.
	{Qname: "0a000005.addr.dc1.consul.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("0a000005.addr.dc1.consul. 5 IN A 10.0.0.5")}},
	{Qname: "0a000005.addr.consul.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("0a000005.addr.consul. 5 IN A 10.0.0.5")}},
	{Qname: "20010db8000000000000000000000002.addr.dc1.consul.", Qtype: dns.TypeAAAA, Answer: []dns.RR{
		test.AAAA("20010db8000000000000000000000002.addr.dc1.consul. 5 IN AAAA 2001:db8::2")}},
	{Qname: "0a000005.addr.dc1.consul.", Qtype: dns.TypeAAAA, Ns: []dns.RR{consulSOA}},
	{Qname: "0a090909.addr.dc1.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}}, // not registered
	{Qname: "0a000005.addr.dc2.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}},
	// Negative answers.
	{Qname: "nope.service.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}},
	{Qname: "web.service.dc2.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}}, // unknown datacenter
	{Qname: "_web._tcp.service.dc2.consul.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}},
	{Qname: "dc2.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}},
	{Qname: "node1.node.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}},
	{Qname: "mysql.query.consul.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}},
	{Qname: "mysql.consul.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}}, // Signpost's form
	{Qname: "mysql.service.consul.", Qtype: dns.TypeTXT, Ns: []dns.RR{consulSOA}},                  // NODATA
	{Qname: "mysql.service.consul.", Qtype: dns.TypeAAAA, Ns: []dns.RR{consulSOA}},
	{Qname: "down.service.consul.", Qtype: dns.TypeA, Ns: []dns.RR{consulSOA}}, // exists, nothing healthy
	// Empty non-terminals (RFC 8020) and the apex.
	{Qname: "service.consul.", Qtype: dns.TypeA, Ns: []dns.RR{consulSOA}},
	{Qname: "dc1.consul.", Qtype: dns.TypeA, Ns: []dns.RR{consulSOA}},
	{Qname: "service.dc1.consul.", Qtype: dns.TypeSRV, Ns: []dns.RR{consulSOA}},
	{Qname: "addr.dc1.consul.", Qtype: dns.TypeA, Ns: []dns.RR{consulSOA}},
	{Qname: "_tcp.service.consul.", Qtype: dns.TypeSRV, Ns: []dns.RR{consulSOA}},
	{Qname: "_replica.service.consul.", Qtype: dns.TypeSRV, Ns: []dns.RR{consulSOA}},
	{Qname: "_nosuchtag.service.consul.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{consulSOA}},
	{Qname: "consul.", Qtype: dns.TypeA, Ns: []dns.RR{consulSOA}},
	{Qname: "consul.", Qtype: dns.TypeNS, Ns: []dns.RR{consulSOA}},
	{Qname: "consul.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA("consul. 5 IN SOA ns.dns.consul. hostmaster.consul. 1 7200 1800 86400 7")}},
	// Failover applies to Consul's names too.
	{Qname: "vip.service.consul.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("vip.service.consul. 5 IN A 10.0.0.200")}},
	{Qname: "_vip._tcp.service.consul.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("_vip._tcp.service.consul. 5 IN SRV 0 1 443 0a0000c8.addr.dc1.consul.")},
		Extra:  []dns.RR{test.A("0a0000c8.addr.dc1.consul. 5 IN A 10.0.0.200")},
	},
	{Qname: "0a0000c8.addr.dc1.consul.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("0a0000c8.addr.dc1.consul. 5 IN A 10.0.0.200")}},
	{Qname: "lb.service.dc1.consul.", Qtype: dns.TypeA, Answer: []dns.RR{test.CNAME("lb.service.dc1.consul. 5 IN CNAME lb.example.org.")}},
	// ANY (RFC 8482).
	{Qname: "mysql.service.consul.", Qtype: dns.TypeANY, Answer: []dns.RR{test.HINFO("mysql.service.consul. 5 IN HINFO \"RFC8482\" \"\"")}},
	// Signpost's own zone is unchanged beside it.
	{Qname: "mysql.svc.internal.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{
			test.SRV("mysql.svc.internal. 5 IN SRV 0 1 3306 10-0-0-5.addr.svc.internal."),
			test.SRV("mysql.svc.internal. 5 IN SRV 0 1 3306 10-0-0-6.addr.svc.internal."),
		},
		Extra: []dns.RR{
			test.A("10-0-0-5.addr.svc.internal. 5 IN A 10.0.0.5"),
			test.A("10-0-0-6.addr.svc.internal. 5 IN A 10.0.0.6"),
		},
	},
	{Qname: "web.service.svc.internal.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
}

// TestConsulNames answers every Consul form through both paths: the
// general one and the packed fast one.
func TestConsulNames(t *testing.T) {
	general, fast := newConsulSignposts(t, options{ttl: 5, negativeTTL: 7})
	for _, tc := range consulTable {
		for path, sp := range map[string]*Signpost{"general": general, "fast": fast} {
			t.Run(path+" "+dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
				for range 2 { // the second from the packed cache
					r := serve(t, sp, tc.Msg(), false, 1)
					if !r.Authoritative {
						t.Error("reply is not authoritative")
					}
					if err := test.SortAndCheck(r, tc); err != nil {
						t.Fatal(err)
					}
					for _, rr := range r.Ns {
						if s, ok := rr.(*dns.SOA); ok && (s.Minttl != 7 || s.Hdr.Ttl != 7) {
							t.Errorf("SOA minimum %d, TTL %d; want the negative TTL 7 for both", s.Minttl, s.Hdr.Ttl)
						}
					}
				}
			})
		}
	}
}

// TestConsulNamesCase asks in mixed case (DNS 0x20): the same answer, the
// question and the owner names echoed as asked.
func TestConsulNamesCase(t *testing.T) {
	general, fast := newConsulSignposts(t, options{ttl: 5, negativeTTL: 7})
	for _, sp := range []*Signpost{general, fast} {
		for _, c := range []struct {
			name  string
			qtype uint16
			n     int
		}{
			{"MySQL.Service.DC1.Consul.", dns.TypeA, 2},
			{"PRIMARY.mysql.SERVICE.consul.", dns.TypeA, 1},
			{"_MySQL._TCP.Service.Consul.", dns.TypeSRV, 2},
			{"_mysql._Primary.service.dC1.consul.", dns.TypeSRV, 1},
			{"0A000005.ADDR.Dc1.CONSUL.", dns.TypeA, 1},
		} {
			r := serve(t, sp, new(dns.Msg).SetQuestion(c.name, c.qtype), false, 1)
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != c.n {
				t.Errorf("%s %s: %s with %d answers, want NOERROR with %d", c.name, dns.TypeToString[c.qtype], dns.RcodeToString[r.Rcode], len(r.Answer), c.n)
				continue
			}
			if q := r.Question[0].Name; q != c.name {
				t.Errorf("%s: question echoed as %q", c.name, q)
			}
			for _, rr := range r.Answer {
				if rr.Header().Name != c.name {
					t.Errorf("%s: answer owner %q, want the name as asked", c.name, rr.Header().Name)
				}
			}
		}
		r := serve(t, sp, new(dns.Msg).SetQuestion("Web.Service.DC2.Consul.", dns.TypeA), false, 1)
		if r.Rcode != dns.RcodeNameError {
			t.Errorf("Web.Service.DC2.Consul.: %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
		}
	}
}

// TestConsulSRVTargetsResolve follows every SRV target of Consul's names
// with a query to the same server, as a client without the glue does.
func TestConsulSRVTargetsResolve(t *testing.T) {
	general, fast := newConsulSignposts(t, options{ttl: 5, negativeTTL: 7})
	for _, sp := range []*Signpost{general, fast} {
		for _, name := range []string{"_web._tcp.service.consul.", "mysql.service.dc1.consul.", "_vip._tcp.consul."} {
			r := serve(t, sp, new(dns.Msg).SetQuestion(name, dns.TypeSRV), false, 1)
			if len(r.Answer) == 0 {
				t.Fatalf("%s SRV: no answer", name)
			}
			for _, rr := range r.Answer {
				target := rr.(*dns.SRV).Target
				if !strings.HasSuffix(target, ".addr.dc1.consul.") {
					t.Errorf("%s: target %s is not in the Consul domain's datacenter", name, target)
				}
				var got []string
				for _, qtype := range []uint16{dns.TypeA, dns.TypeAAAA} {
					tr := serve(t, sp, new(dns.Msg).SetQuestion(target, qtype), false, 1)
					if tr.Rcode != dns.RcodeSuccess {
						t.Errorf("%s %s: %s", target, dns.TypeToString[qtype], dns.RcodeToString[tr.Rcode])
					}
					for _, a := range tr.Answer {
						got = append(got, a.String())
					}
				}
				if len(got) != 1 {
					t.Errorf("%s: %q, want the one address of the target", target, got)
				}
			}
		}
	}
}

// TestConsulMaxAnswers: max-answers applies to Consul's names, through
// both paths.
func TestConsulMaxAnswers(t *testing.T) {
	general, fast := newConsulSignposts(t, options{ttl: 5, negativeTTL: 7, maxAnswers: 1})
	for _, sp := range []*Signpost{general, fast} {
		for _, c := range []struct {
			name  string
			qtype uint16
		}{{"mysql.service.consul.", dns.TypeA}, {"_mysql._tcp.service.dc1.consul.", dns.TypeSRV}} {
			seen := map[string]bool{}
			for i := range 64 {
				r := serve(t, sp, new(dns.Msg).SetQuestion(c.name, c.qtype), false, uint64(i))
				if len(r.Answer) != 1 {
					t.Fatalf("%s %s: %d answers with max-answers 1", c.name, dns.TypeToString[c.qtype], len(r.Answer))
				}
				seen[r.Answer[0].String()] = true
			}
			if len(seen) != 2 {
				t.Errorf("%s %s: %d distinct answers in 64 queries, want both instances in turn", c.name, dns.TypeToString[c.qtype], len(seen))
			}
		}
	}
}

// BenchmarkServeDNSConsulNames answers the same services by Signpost's
// names and by Consul's (svcN.svc.internal. against svcN.service.dc1.consul.),
// through the general path and the packed one, over 1,000 instances: the
// cost of Consul's names beside the baseline of Signpost's own in one run.
func BenchmarkServeDNSConsulNames(b *testing.B) {
	const n = 1_000
	reg := benchRegistry(b, n)
	cn, err := newConsulNames("consul.", "dc1")
	must(b, err)
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		for _, names := range []string{"signpost", "consul"} {
			for _, path := range []string{"general", "packed"} {
				b.Run(fmt.Sprintf("%s/%s/%s", dns.TypeToString[qtype], names, path), func(b *testing.B) {
					sp := &Signpost{Zones: []string{testZone, "consul."}, reg: reg, upstream: upstream.New(),
						opts: options{ttl: 5, negativeTTL: 5, consul: cn}}
					if path == "packed" {
						sp.cache = newAnswerCache(defaultCacheSize)
					}
					format := "svc%d.svc.internal."
					if names == "consul" {
						format = "svc%d.service.dc1.consul."
					}
					queries := make([]*dns.Msg, 1024)
					writers := make([]dns.ResponseWriter, len(queries))
					for i := range queries {
						queries[i] = new(dns.Msg).SetQuestion(fmt.Sprintf(format, (i*7919)%(n/3)), qtype)
						writers[i] = request.NewScrubWriter(queries[i], &discardWriter{})
					}
					ctx := context.Background()
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; i < b.N; i++ {
						j := i % len(queries)
						if _, err := sp.ServeDNS(ctx, writers[j], queries[j]); err != nil {
							b.Fatal(err)
						}
					}
				})
			}
		}
	}
}
