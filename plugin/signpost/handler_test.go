package signpost

import (
	"context"
	"net/netip"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

const testZone = "svc.internal."

// newTestSignpost returns a plugin over a registry holding:
//
//	mysql  static: db1 10.0.0.5:3306 primary, db2 10.0.0.6:3306 replica; failover VIP
//	web    API: w1 10.0.1.1, w2 2001:db8::2 weight 5, w3 critical, w4 warning
//	down   static: one critical instance, no failover
//	vip    static: critical instances, failover 10.0.0.200:443
//	lb     static: critical instance, failover cname lb.example.org.
func newTestSignpost(t testing.TB) *Signpost {
	t.Helper()
	reg := registry.New(registry.Config{})
	static := []registry.StaticService{
		{
			Config: registry.ServiceConfig{Name: "mysql", Failover: registry.Failover{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.100")}}},
			Instances: []registry.Instance{
				{ID: "db1", Address: netip.MustParseAddr("10.0.0.5"), Port: 3306, Tags: []string{"primary"}, Weight: 1},
				{ID: "db2", Address: netip.MustParseAddr("10.0.0.6"), Port: 3306, Tags: []string{"replica"}, Weight: 1},
			},
		},
		{
			Config:    registry.ServiceConfig{Name: "down"},
			Instances: []registry.Instance{{ID: "d1", Address: netip.MustParseAddr("10.0.2.1"), Port: 80, Weight: 1}},
		},
		{
			Config: registry.ServiceConfig{Name: "vip", Failover: registry.Failover{Addrs: []netip.Addr{netip.MustParseAddr("10.0.0.200")}, Port: 443}},
			Instances: []registry.Instance{
				{ID: "v1", Address: netip.MustParseAddr("10.0.3.1"), Port: 8443, Weight: 1},
			},
		},
		{
			Config:    registry.ServiceConfig{Name: "lb", Failover: registry.Failover{Name: "lb.example.org."}},
			Instances: []registry.Instance{{ID: "l1", Address: netip.MustParseAddr("10.0.4.1"), Port: 80, Weight: 1}},
		},
	}
	must(t, reg.ApplyStatic(static))
	for _, in := range []registry.Instance{
		{Service: "web", ID: "w1", Address: netip.MustParseAddr("10.0.1.1"), Port: 8080, Weight: 1, Tags: []string{"blue"}},
		{Service: "web", ID: "w2", Address: netip.MustParseAddr("2001:db8::2"), Port: 8080, Weight: 5, Tags: []string{"green"}},
		{Service: "web", ID: "w3", Address: netip.MustParseAddr("10.0.1.3"), Port: 8080, Weight: 1, Tags: []string{"blue"}},
		{Service: "web", ID: "w4", Address: netip.MustParseAddr("10.0.1.4"), Port: 8080, Weight: 1, Tags: []string{"blue"}},
	} {
		_, err := reg.Register(in)
		must(t, err)
	}
	must(t, reg.SetHealth("web", "w3", registry.Critical))
	must(t, reg.SetHealth("web", "w4", registry.Warning))
	must(t, reg.SetHealth("down", "d1", registry.Critical))
	must(t, reg.SetHealth("vip", "v1", registry.Critical))
	must(t, reg.SetHealth("lb", "l1", registry.Critical))
	return &Signpost{
		Zones:    []string{testZone},
		reg:      reg,
		upstream: upstream.New(),
		opts:     options{ttl: 5, negativeTTL: 7},
	}
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

var soa = test.SOA("svc.internal. 7 IN SOA ns.dns.svc.internal. hostmaster.svc.internal. 1 7200 1800 86400 7")

var dnsTable = []test.Case{
	// Services.
	{Qname: "mysql.svc.internal.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("mysql.svc.internal. 5 IN A 10.0.0.5"),
		test.A("mysql.svc.internal. 5 IN A 10.0.0.6"),
	}},
	{Qname: "web.svc.internal.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("web.svc.internal. 5 IN A 10.0.1.1"),
	}},
	{Qname: "web.svc.internal.", Qtype: dns.TypeAAAA, Answer: []dns.RR{
		test.AAAA("web.svc.internal. 5 IN AAAA 2001:db8::2"),
	}},
	{Qname: "mysql.svc.internal.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}}, // NODATA
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
	{Qname: "_web._tcp.svc.internal.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{
			test.SRV("_web._tcp.svc.internal. 5 IN SRV 0 1 8080 10-0-1-1.addr.svc.internal."),
			test.SRV("_web._tcp.svc.internal. 5 IN SRV 0 5 8080 2001-db8--2.addr.svc.internal."),
		},
		Extra: []dns.RR{
			test.A("10-0-1-1.addr.svc.internal. 5 IN A 10.0.1.1"),
			test.AAAA("2001-db8--2.addr.svc.internal. 5 IN AAAA 2001:db8::2"),
		},
	},
	// Tags.
	{Qname: "primary.mysql.svc.internal.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("primary.mysql.svc.internal. 5 IN A 10.0.0.5"),
	}},
	{Qname: "_mysql._replica.svc.internal.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("_mysql._replica.svc.internal. 5 IN SRV 0 1 3306 10-0-0-6.addr.svc.internal.")},
		Extra:  []dns.RR{test.A("10-0-0-6.addr.svc.internal. 5 IN A 10.0.0.6")},
	},
	{Qname: "green.web.svc.internal.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},                                  // tag exists, IPv6 only
	{Qname: "nosuchtag.mysql.svc.internal.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}}, // no such tag
	// Address names.
	{Qname: "10-0-0-5.addr.svc.internal.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-0-0-5.addr.svc.internal. 5 IN A 10.0.0.5")}},
	{Qname: "2001-db8--2.addr.svc.internal.", Qtype: dns.TypeAAAA, Answer: []dns.RR{test.AAAA("2001-db8--2.addr.svc.internal. 5 IN AAAA 2001:db8::2")}},
	{Qname: "10-0-0-5.addr.svc.internal.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}},
	{Qname: "10-9-9-9.addr.svc.internal.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}}, // not registered
	{Qname: "10-0-0-100.addr.svc.internal.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("10-0-0-100.addr.svc.internal. 5 IN A 10.0.0.100")}},
	// Negative answers.
	{Qname: "nope.svc.internal.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "a.b.c.svc.internal.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "mysql.svc.internal.", Qtype: dns.TypeTXT, Ns: []dns.RR{soa}},
	{Qname: "_mysql.svc.internal.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa}},                           // empty non-terminal (RFC 8020)
	{Qname: "_nope.svc.internal.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}}, // below a missing service
	{Qname: "_tcp.svc.internal.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa}},                             // _web._tcp is below (RFC 8020)
	{Qname: "_udp.svc.internal.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},                               // _web._udp is below
	{Qname: "_replica.svc.internal.", Qtype: dns.TypeSRV, Ns: []dns.RR{soa}},                         // _mysql._replica is below
	{Qname: "_nosuchtag.svc.internal.", Qtype: dns.TypeSRV, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
	{Qname: "addr.svc.internal.", Qtype: dns.TypeA, Ns: []dns.RR{soa}}, // empty non-terminal
	{Qname: "down.svc.internal.", Qtype: dns.TypeA, Ns: []dns.RR{soa}}, // exists, nothing healthy
	{Qname: "svc.internal.", Qtype: dns.TypeA, Ns: []dns.RR{soa}},      // apex
	{Qname: "svc.internal.", Qtype: dns.TypeSOA, Answer: []dns.RR{test.SOA("svc.internal. 5 IN SOA ns.dns.svc.internal. hostmaster.svc.internal. 1 7200 1800 86400 7")}},
	// Failover.
	{Qname: "vip.svc.internal.", Qtype: dns.TypeA, Answer: []dns.RR{test.A("vip.svc.internal. 5 IN A 10.0.0.200")}},
	{Qname: "vip.svc.internal.", Qtype: dns.TypeSRV,
		Answer: []dns.RR{test.SRV("vip.svc.internal. 5 IN SRV 0 1 443 10-0-0-200.addr.svc.internal.")},
		Extra:  []dns.RR{test.A("10-0-0-200.addr.svc.internal. 5 IN A 10.0.0.200")},
	},
	{Qname: "vip.svc.internal.", Qtype: dns.TypeAAAA, Ns: []dns.RR{soa}},
	{Qname: "lb.svc.internal.", Qtype: dns.TypeA, Answer: []dns.RR{test.CNAME("lb.svc.internal. 5 IN CNAME lb.example.org.")}},
	// ANY (RFC 8482).
	{Qname: "mysql.svc.internal.", Qtype: dns.TypeANY, Answer: []dns.RR{test.HINFO("mysql.svc.internal. 5 IN HINFO \"RFC8482\" \"\"")}},
	{Qname: "nope.svc.internal.", Qtype: dns.TypeANY, Rcode: dns.RcodeNameError, Ns: []dns.RR{soa}},
}

func TestServeDNS(t *testing.T) {
	sp := newTestSignpost(t)
	for _, tc := range dnsTable {
		t.Run(dns.TypeToString[tc.Qtype]+" "+tc.Qname, func(t *testing.T) {
			rec := dnstest.NewRecorder(&test.ResponseWriter{})
			if _, err := sp.ServeDNS(context.Background(), rec, tc.Msg()); err != nil {
				t.Fatal(err)
			}
			if rec.Msg == nil {
				t.Fatal("no reply written")
			}
			if !rec.Msg.Authoritative {
				t.Error("reply is not authoritative")
			}
			if err := test.SortAndCheck(rec.Msg, tc); err != nil {
				t.Error(err)
			}
			for _, rr := range rec.Msg.Ns {
				if s, ok := rr.(*dns.SOA); ok && (s.Minttl != 7 || s.Hdr.Ttl != 7) {
					t.Errorf("SOA minimum %d, TTL %d; want the negative TTL 7 for both", s.Minttl, s.Hdr.Ttl)
				}
			}
		})
	}
}

func TestServeDNSCaseInsensitive(t *testing.T) {
	sp := newTestSignpost(t)
	m := new(dns.Msg)
	m.SetQuestion("PriMary.MySQL.Svc.Internal.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	sp.ServeDNS(context.Background(), rec, m)
	if rec.Msg.Rcode != dns.RcodeSuccess || len(rec.Msg.Answer) != 1 {
		t.Fatalf("got %v", rec.Msg)
	}
	if q := rec.Msg.Question[0].Name; q != "PriMary.MySQL.Svc.Internal." {
		t.Errorf("question echoed as %q", q)
	}
	if n := rec.Msg.Answer[0].Header().Name; n != "PriMary.MySQL.Svc.Internal." {
		t.Errorf("answer owner %q, want the name as asked", n)
	}
}

func TestServeDNSOutsideZone(t *testing.T) {
	sp := newTestSignpost(t)
	m := new(dns.Msg)
	m.SetQuestion("example.org.", dns.TypeA)

	rcode, _ := sp.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), m)
	if rcode != dns.RcodeRefused {
		t.Errorf("without a next plugin: rcode %s, want REFUSED", dns.RcodeToString[rcode])
	}

	sp.Next = test.NextHandler(dns.RcodeBadCookie, nil)
	if rcode, _ := sp.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), m); rcode != dns.RcodeBadCookie {
		t.Errorf("with a next plugin: rcode %d, want the next plugin's", rcode)
	}
}

func TestServeDNSFallthrough(t *testing.T) {
	sp := newTestSignpost(t)
	sp.Next = test.NextHandler(dns.RcodeBadCookie, nil)
	m := new(dns.Msg)
	m.SetQuestion("nope.svc.internal.", dns.TypeA)
	if rcode, _ := sp.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), m); rcode != dns.RcodeSuccess {
		t.Errorf("without fallthrough: rcode %d, want an answer of our own", rcode)
	}
	sp.Fall = fall.Root
	if rcode, _ := sp.ServeDNS(context.Background(), dnstest.NewRecorder(&test.ResponseWriter{}), m); rcode != dns.RcodeBadCookie {
		t.Errorf("with fallthrough: rcode %d, want the next plugin's", rcode)
	}
}

func TestServeDNSShuffles(t *testing.T) {
	sp := newTestSignpost(t)
	for i := range 10 {
		_, err := sp.reg.Register(registry.Instance{Service: "many", ID: "i" + string(rune('a'+i)),
			Address: netip.AddrFrom4([4]byte{10, 1, 0, byte(i + 1)}), Port: 80, Weight: 1})
		must(t, err)
	}
	orders := map[string]bool{}
	for range 50 {
		m := new(dns.Msg)
		m.SetQuestion("many.svc.internal.", dns.TypeA)
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		sp.ServeDNS(context.Background(), rec, m)
		if len(rec.Msg.Answer) != 10 {
			t.Fatalf("%d answers, want 10", len(rec.Msg.Answer))
		}
		key := ""
		for _, rr := range rec.Msg.Answer {
			key += rr.(*dns.A).A.String() + ","
		}
		orders[key] = true
	}
	if len(orders) < 2 {
		t.Errorf("50 queries gave %d distinct orders; answers are not shuffled", len(orders))
	}
}

func TestServeDNSMaxAnswersAndDuplicates(t *testing.T) {
	sp := newTestSignpost(t)
	for i := range 6 {
		// Two instances per address, on different ports.
		_, err := sp.reg.Register(registry.Instance{Service: "dup", ID: "d" + string(rune('a'+i)),
			Address: netip.AddrFrom4([4]byte{10, 2, 0, byte(i/2 + 1)}), Port: uint16(8000 + i), Weight: 1})
		must(t, err)
	}
	m := new(dns.Msg)
	m.SetQuestion("dup.svc.internal.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	sp.ServeDNS(context.Background(), rec, m)
	if n := len(rec.Msg.Answer); n != 3 {
		t.Errorf("A: %d records, want 3 (one per distinct address)", n)
	}
	m.SetQuestion("dup.svc.internal.", dns.TypeSRV)
	rec = dnstest.NewRecorder(&test.ResponseWriter{})
	sp.ServeDNS(context.Background(), rec, m)
	if a, e := len(rec.Msg.Answer), len(rec.Msg.Extra); a != 6 || e != 3 {
		t.Errorf("SRV: %d answers and %d glue records, want 6 and 3", a, e)
	}

	sp.opts.maxAnswers = 2
	rec = dnstest.NewRecorder(&test.ResponseWriter{})
	sp.ServeDNS(context.Background(), rec, m)
	if a := len(rec.Msg.Answer); a != 2 {
		t.Errorf("max-answers 2: %d SRV answers", a)
	}
}

func TestServeDNSServeWarning(t *testing.T) {
	sp := newTestSignpost(t)
	sp.opts.serveWarning = true
	m := new(dns.Msg)
	m.SetQuestion("blue.web.svc.internal.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	sp.ServeDNS(context.Background(), rec, m)
	tc := test.Case{Qname: "blue.web.svc.internal.", Qtype: dns.TypeA, Answer: []dns.RR{
		test.A("blue.web.svc.internal. 5 IN A 10.0.1.1"),
		test.A("blue.web.svc.internal. 5 IN A 10.0.1.4"),
	}}
	if err := test.SortAndCheck(rec.Msg, tc); err != nil {
		t.Error(err)
	}
}

func TestServeDNSFollowsRegistry(t *testing.T) {
	sp := newTestSignpost(t)
	ask := func() *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("mysql.svc.internal.", dns.TypeA)
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		sp.ServeDNS(context.Background(), rec, m)
		return rec.Msg
	}
	must(t, sp.reg.SetHealth("mysql", "db1", registry.Critical))
	if r := ask(); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.0.0.6" {
		t.Fatalf("after db1 fails: %v", r.Answer)
	}
	must(t, sp.reg.SetHealth("mysql", "db2", registry.Critical))
	if r := ask(); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.0.0.100" {
		t.Fatalf("with both down, want the failover VIP: %v", r.Answer)
	}
	must(t, sp.reg.SetHealth("mysql", "db2", registry.Passing))
	if r := ask(); len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "10.0.0.6" {
		t.Fatalf("after db2 is back: %v", r.Answer)
	}
}

func TestFailoverCNAMELoopIsBounded(t *testing.T) {
	sp := newTestSignpost(t)
	ctx := context.WithValue(context.Background(), depthKey{}, maxCNAMEDepth)
	m := new(dns.Msg)
	m.SetQuestion("lb.svc.internal.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	if _, err := sp.ServeDNS(ctx, rec, m); err != nil {
		t.Fatal(err)
	}
	if len(rec.Msg.Answer) != 1 {
		t.Errorf("at the depth limit, want the CNAME alone: %v", rec.Msg.Answer)
	}
}

// With no service at all, nothing exists below _tcp or _udp: NXDOMAIN.
func TestProtoLabelsOfAnEmptyRegistry(t *testing.T) {
	sp := &Signpost{Zones: []string{testZone}, reg: registry.New(registry.Config{}), upstream: upstream.New(), opts: options{ttl: 5, negativeTTL: 7}}
	for _, name := range []string{"_tcp.svc.internal.", "_udp.svc.internal.", "_blue.svc.internal."} {
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := sp.ServeDNS(context.Background(), rec, new(dns.Msg).SetQuestion(name, dns.TypeSRV)); err != nil {
			t.Fatal(err)
		}
		if rec.Msg.Rcode != dns.RcodeNameError || len(rec.Msg.Ns) != 1 {
			t.Errorf("%s: %s with %d authority records, want NXDOMAIN with the SOA", name, dns.RcodeToString[rec.Msg.Rcode], len(rec.Msg.Ns))
		}
	}
}
