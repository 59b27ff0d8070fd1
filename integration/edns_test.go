package integration

import (
	"testing"

	"github.com/miekg/dns"
)

// TestBadVersAdvertisesSize asks with EDNS version 1, which the server does
// not know: the BADVERS reply must carry the server's UDP payload size in
// its OPT record (RFC 6891 section 6.1.3), not 0. dig shows the same.
func TestBadVersAdvertisesSize(t *testing.T) {
	s := startServer(t, `svc.internal:{{PORT}} {
    signpost
}
`)
	q := newQuery("svc.internal.", dns.TypeSOA)
	q.SetEdns0(4096, false)
	q.IsEdns0().SetVersion(1)
	r := s.exchange(t, q, "udp")
	opt := r.IsEdns0()
	if r.Rcode != dns.RcodeBadVers || opt == nil || opt.Version() != 0 || opt.UDPSize() < 512 {
		t.Fatalf("reply %s, OPT %v: want BADVERS, EDNS version 0 and a UDP size of at least 512", rcodeName(r.Rcode), opt)
	}
	d := s.dig(t, "+edns=1", "+noednsneg", "svc.internal.", "SOA")
	if d.Rcode != dns.RcodeBadVers || d.IsEdns0() == nil || d.IsEdns0().UDPSize() != opt.UDPSize() {
		t.Errorf("dig: %s, OPT %v; want BADVERS with size %d", rcodeName(d.Rcode), d.IsEdns0(), opt.UDPSize())
	}
}
