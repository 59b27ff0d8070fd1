package signpost

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"

	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// wireWriter captures a reply as the client gets it, whether the plugin
// wrote a message or bytes.
type wireWriter struct {
	test.ResponseWriter
	wire []byte
	raw  bool // written as bytes, by the packed path
}

func (w *wireWriter) WriteMsg(m *dns.Msg) error {
	b, err := m.Pack()
	w.wire = b
	return err
}

func (w *wireWriter) Write(b []byte) (int, error) {
	w.wire, w.raw = append([]byte(nil), b...), true
	return len(b), nil
}

// ask sends r through the plugin the way CoreDNS's server does (with its
// scrubbing writer, and the prometheus plugin's recorder in front) and
// returns the reply as the client unpacks it.
func ask(t testing.TB, sp *Signpost, r *dns.Msg, tcp bool) (*dns.Msg, bool) {
	t.Helper()
	m, raw, _ := askWire(t, sp, r, tcp)
	return m, raw
}

// askWire is ask, also returning the size of the reply on the wire.
func askWire(t testing.TB, sp *Signpost, r *dns.Msg, tcp bool) (*dns.Msg, bool, int) {
	t.Helper()
	ww := &wireWriter{ResponseWriter: test.ResponseWriter{TCP: tcp}}
	w := metrics.NewRecorder(request.NewScrubWriter(r, ww))
	if _, err := sp.ServeDNS(context.Background(), w, r); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	if err := m.Unpack(ww.wire); err != nil {
		t.Fatalf("unpacking the reply: %v", err)
	}
	return m, ww.raw, len(ww.wire)
}

// TestPackedMatchesGeneral runs the whole DNS table through the packed path:
// each reply must be what the general path answers.
func TestPackedMatchesGeneral(t *testing.T) {
	sp := newTestSignpost(t)
	sp.cache = newAnswerCache(100)
	packed := 0
	for round := range 2 { // the second round is served from the cache
		for _, tc := range dnsTable {
			r := tc.Msg()
			m, raw := ask(t, sp, r, false)
			if raw {
				packed++
			}
			if err := test.SortAndCheck(m, tc); err != nil {
				t.Errorf("round %d, %s %s (packed %v): %v", round, dns.TypeToString[tc.Qtype], tc.Qname, raw, err)
			}
			if !m.Authoritative || m.Id != r.Id {
				t.Errorf("%s: header %v", tc.Qname, m.MsgHdr)
			}
		}
	}
	if packed < 16 {
		t.Errorf("only %d replies came from the packed path", packed)
	}
}

func TestPackedEchoesQuestion(t *testing.T) {
	sp := newTestSignpost(t)
	sp.cache = newAnswerCache(100)
	r := new(dns.Msg).SetQuestion("_MySQL._TCP.Svc.INTERNAL.", dns.TypeSRV)
	r.RecursionDesired, r.CheckingDisabled, r.Id = true, true, 4242
	m, raw := ask(t, sp, r, false)
	if !raw {
		t.Fatal("not served from the packed path")
	}
	if m.Question[0].Name != "_MySQL._TCP.Svc.INTERNAL." || m.Id != 4242 || !m.RecursionDesired || !m.CheckingDisabled || !m.Response {
		t.Errorf("reply header or question not as asked: %v", m)
	}
	for _, rr := range m.Answer {
		if rr.Header().Name != "_MySQL._TCP.Svc.INTERNAL." {
			t.Errorf("owner %q, want the question as asked", rr.Header().Name)
		}
	}
	if len(m.Extra) != 2 {
		t.Errorf("%d glue records, want 2", len(m.Extra))
	}
}

func TestPackedFollowsSnapshot(t *testing.T) {
	sp := newTestSignpost(t)
	sp.cache = newAnswerCache(100)
	r := new(dns.Msg).SetQuestion("mysql.svc.internal.", dns.TypeA)
	if m, _ := ask(t, sp, r, false); len(m.Answer) != 2 {
		t.Fatalf("%d answers", len(m.Answer))
	}
	must(t, sp.reg.SetHealth("mysql", "db1", registry.Critical))
	if m, _ := ask(t, sp, r, false); len(m.Answer) != 1 {
		t.Fatalf("a cached answer outlived the change: %v", m.Answer)
	}
	must(t, sp.reg.SetHealth("mysql", "db2", registry.Critical))
	if m, _ := ask(t, sp, r, false); len(m.Answer) != 1 || m.Answer[0].(*dns.A).A.String() != "10.0.0.100" {
		t.Fatalf("want the failover VIP: %v", m.Answer)
	}
}

// TestPackedTruncation compares the packed path with the general path (the
// server's scrubbing writer) for a large service at each buffer size.
func TestPackedTruncation(t *testing.T) {
	sp := newTestSignpost(t)
	for i := range 200 {
		_, err := sp.reg.Register(registry.Instance{Service: "big", ID: fmt.Sprintf("b%d", i),
			Address: netip.AddrFrom4([4]byte{10, 9, byte(i / 250), byte(i%250 + 1)}), Port: 80, Weight: 1})
		must(t, err)
	}
	general := *sp
	sp.cache = newAnswerCache(100)
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		for _, tc := range []struct {
			name    string
			bufsize uint16 // 0: no EDNS0
			tcp     bool
		}{{"udp", 0, false}, {"edns1232", 1232, false}, {"edns4096", 4096, false}, {"tcp", 0, true}} {
			r := new(dns.Msg).SetQuestion("big.svc.internal.", qtype)
			if tc.bufsize > 0 {
				r.SetEdns0(tc.bufsize, false)
			}
			// The same shuffle on both paths: the same records fit.
			general.rand, sp.rand = rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(1, 2))
			want, _ := ask(t, &general, r.Copy(), tc.tcp)
			got, raw, size := askWire(t, sp, r.Copy(), tc.tcp)
			if !raw {
				t.Fatalf("%s: not packed", tc.name)
			}
			limit := 512
			if tc.bufsize > 0 {
				limit = int(tc.bufsize)
			}
			if !tc.tcp && size > limit {
				t.Errorf("%s %s: %d bytes over a %d byte buffer", dns.TypeToString[qtype], tc.name, size, limit)
			}
			if got.Truncated != want.Truncated || len(got.Answer) != len(want.Answer) || len(got.Extra) != len(want.Extra) {
				t.Errorf("%s %s: packed TC=%v %d answers %d extra; general TC=%v %d answers %d extra", dns.TypeToString[qtype], tc.name,
					got.Truncated, len(got.Answer), len(got.Extra), want.Truncated, len(want.Answer), len(want.Extra))
			}
			if tc.bufsize > 0 && got.IsEdns0() == nil {
				t.Errorf("%s: no OPT record in the reply to an EDNS0 query", tc.name)
			}
		}
	}
}

func TestPackedCacheKeepsNoMissingNames(t *testing.T) {
	sp := newTestSignpost(t)
	sp.cache = newAnswerCache(100)
	for i := range 50 {
		m, _ := ask(t, sp, new(dns.Msg).SetQuestion(fmt.Sprintf("random%d.svc.internal.", i), dns.TypeA), false)
		if m.Rcode != dns.RcodeNameError {
			t.Fatalf("random%d: rcode %d", i, m.Rcode)
		}
	}
	if n := sp.cache.len(); n != 0 {
		t.Errorf("%d cache entries for names that do not exist", n)
	}
	ask(t, sp, new(dns.Msg).SetQuestion("mysql.svc.internal.", dns.TypeA), false)
	if n := sp.cache.len(); n != 1 {
		t.Errorf("%d cache entries after one real name", n)
	}
}
