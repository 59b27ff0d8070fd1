package signpost

import (
	"bytes"
	"testing"

	"github.com/coredns/coredns/plugin/pkg/edns"
	"github.com/miekg/dns"
)

type bufWriter struct{ bytes.Buffer }

func TestBadVersAdvertisesTheServersSize(t *testing.T) {
	q := new(dns.Msg).SetQuestion("svc.internal.", dns.TypeSOA)
	q.SetEdns0(4096, false)
	q.IsEdns0().SetVersion(1)
	reply, err := edns.Version(q) // what CoreDNS's server writes
	if err == nil {
		t.Fatal("edns.Version took version 1")
	}
	wire, err := reply.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var out bufWriter
	w := badversDecorator(nil)(&out)
	if n, err := w.Write(wire); err != nil || n != len(wire) {
		t.Fatalf("Write: %d, %v", n, err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(out.Bytes()); err != nil {
		t.Fatal(err)
	}
	opt := m.IsEdns0()
	if m.Rcode != dns.RcodeBadVers || opt == nil || opt.UDPSize() != advertisedUDPSize || opt.Version() != 0 {
		t.Errorf("reply %s, OPT %v: want BADVERS with version 0 and size %d", dns.RcodeToString[m.Rcode], opt, advertisedUDPSize)
	}
	if len(m.Question) != 1 || m.Id != q.Id {
		t.Errorf("question or id changed: %v", m)
	}
}

func TestBadVersWriterPassesOtherReplies(t *testing.T) {
	for _, m := range []*dns.Msg{
		new(dns.Msg).SetReply(new(dns.Msg).SetQuestion("web.svc.internal.", dns.TypeA)),
		func() *dns.Msg {
			r := new(dns.Msg).SetReply(new(dns.Msg).SetQuestion("web.svc.internal.", dns.TypeA))
			r.SetEdns0(1232, false)
			return r
		}(),
	} {
		wire, _ := m.Pack()
		var out bufWriter
		badversDecorator(nil)(&out).Write(wire)
		if !bytes.Equal(out.Bytes(), wire) {
			t.Errorf("a reply that is not BADVERS changed: %v", m)
		}
	}
}
