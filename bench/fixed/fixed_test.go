package fixed

import (
	"context"
	"net"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"
)

func TestServeDNS(t *testing.T) {
	f := &Fixed{IP: net.IPv4(10, 9, 8, 7).To4()}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV, dns.TypeAAAA} {
		r := new(dns.Msg)
		r.SetQuestion("SvC1.svc.internal.", qtype)
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		code, err := f.ServeDNS(context.Background(), rec, r)
		if err != nil || code != dns.RcodeSuccess {
			t.Fatalf("qtype %d: code %d, err %v", qtype, code, err)
		}
		if rec.Msg.Id != r.Id || len(rec.Msg.Answer) != 1 {
			t.Fatalf("qtype %d: reply %v", qtype, rec.Msg)
		}
		a, ok := rec.Msg.Answer[0].(*dns.A)
		if !ok || a.Hdr.Name != "SvC1.svc.internal." || !a.A.Equal(f.IP) {
			t.Errorf("qtype %d: answer %v", qtype, rec.Msg.Answer[0])
		}
	}
}
