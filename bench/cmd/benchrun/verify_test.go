package main

import (
	"net/netip"
	"testing"

	"github.com/miekg/dns"
)

func TestCheckSRV(t *testing.T) {
	s := newDataset(1, 2).services[0]
	good := func() *dns.Msg {
		m := new(dns.Msg)
		for _, a := range s.addrs {
			m.Answer = append(m.Answer, &dns.SRV{Hdr: dns.RR_Header{Name: "SVC1.svc.internal.", Rrtype: dns.TypeSRV},
				Port: port, Target: target(a)})
			m.Extra = append(m.Extra, &dns.A{Hdr: dns.RR_Header{Name: target(a), Rrtype: dns.TypeA}, A: a.AsSlice()})
		}
		return m
	}
	if err := checkSRV(good(), s); err != nil {
		t.Errorf("good answer: %v", err)
	}
	noGlue := good()
	noGlue.Extra = noGlue.Extra[1:]
	wrongPort := good()
	wrongPort.Answer[0].(*dns.SRV).Port = 80
	missing := good()
	missing.Answer = missing.Answer[1:]
	for name, m := range map[string]*dns.Msg{"no glue": noGlue, "wrong port": wrongPort, "missing": missing} {
		if checkSRV(m, s) == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestCheckA(t *testing.T) {
	addrs := []netip.Addr{netip.MustParseAddr("10.0.0.1"), netip.MustParseAddr("10.1.0.1")}
	rr := func(name, ip string) dns.RR {
		return &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA}, A: netip.MustParseAddr(ip).AsSlice()}
	}
	name := "svc1.svc.internal."
	tests := []struct {
		rrs  []dns.RR
		good bool
	}{
		{[]dns.RR{rr(name, "10.1.0.1"), rr(name, "10.0.0.1")}, true},
		{[]dns.RR{rr(name, "10.0.0.1")}, false},
		{[]dns.RR{rr(name, "10.0.0.1"), rr(name, "10.0.0.1")}, false},
		{[]dns.RR{rr("svc2.svc.internal.", "10.0.0.1"), rr(name, "10.1.0.1")}, false},
	}
	for i, tc := range tests {
		if err := checkA(tc.rrs, name, addrs); (err == nil) != tc.good {
			t.Errorf("case %d: err %v, want good %v", i, err, tc.good)
		}
	}
}

func TestParseAnswers(t *testing.T) {
	scrape := `# HELP coredns_signpost_answers_total Counter of replies.
# TYPE coredns_signpost_answers_total counter
coredns_signpost_answers_total{path="general"} 3
coredns_signpost_answers_total{path="packed"} 2000
coredns_signpost_queries_total{result="success",type="A"} 1000
`
	packed, general, err := parseAnswers(scrape)
	if err != nil || packed != 2000 || general != 3 {
		t.Errorf("parseAnswers = %v, %v, %v; want 2000, 3, nil", packed, general, err)
	}
	if _, _, err := parseAnswers("coredns_signpost_queries_total{} 1\n"); err == nil {
		t.Error("a scrape without the counter: no error")
	}
}
