package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

const bigInstances = 200

// bigCorefile serves a service with 200 instances: far more than fit in a
// UDP reply, whether 512 bytes or an EDNS0 buffer of 1232.
func bigCorefile() string {
	var b strings.Builder
	b.WriteString("svc.internal:{{PORT}} {\n    bind 127.0.0.1\n    signpost {\n        service big {\n")
	for i := range bigInstances {
		fmt.Fprintf(&b, "            instance i%d %s:%d\n", i, bigAddr(i), 9000+i)
	}
	b.WriteString("        }\n    }\n    errors\n}\n")
	return b.String()
}

func bigAddr(i int) string { return fmt.Sprintf("10.1.%d.%d", i/250, i%250+1) }

func bigWant() (addrs, srvs []string) {
	for i := range bigInstances {
		addrs = append(addrs, bigAddr(i))
		srvs = append(srvs, fmt.Sprintf("%s.addr.svc.internal.:%d", strings.ReplaceAll(bigAddr(i), ".", "-"), 9000+i))
	}
	return sorted(addrs), sorted(srvs)
}

func TestTruncation(t *testing.T) {
	t.Parallel()
	s := startServer(t, bigCorefile())
	wantAddrs, wantSRV := bigWant()

	t.Run("udp", func(t *testing.T) {
		for _, tc := range []struct {
			qtype   uint16
			bufsize uint16 // 0: no EDNS0
			fits    bool   // all 200 answers fit in the buffer
		}{
			{dns.TypeA, 0, false}, {dns.TypeSRV, 0, false},
			{dns.TypeA, 1232, false}, {dns.TypeSRV, 1232, false},
			{dns.TypeA, 4096, true}, // 200 A records take about 3.3 kB
		} {
			m := newQuery("big.svc.internal.", tc.qtype)
			limit := 512
			if tc.bufsize > 0 {
				m.SetEdns0(tc.bufsize, false)
				limit = int(tc.bufsize)
			}
			what := fmt.Sprintf("UDP %s bufsize %d", dns.TypeToString[tc.qtype], limit)
			pkt, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			raw := s.rawExchange(t, "udp", pkt, queryTimeout)
			if raw == nil {
				t.Errorf("%s: no reply", what)
				continue
			}
			if len(raw) > limit {
				t.Errorf("%s: reply of %d bytes, over the client's %d", what, len(raw), limit)
			}
			r := new(dns.Msg)
			if err := r.Unpack(raw); err != nil {
				t.Errorf("%s: unpacking the reply: %v", what, err)
				continue
			}
			switch {
			case tc.fits:
				checkBigA(t, what, r, wantAddrs)
			case !r.Truncated:
				t.Errorf("%s: TC not set, with %d of %d answers", what, len(r.Answer), bigInstances)
			}
			if r.Rcode != dns.RcodeSuccess || r.Id != m.Id {
				t.Errorf("%s: rcode %s id %d, want NOERROR id %d", what, rcodeName(r.Rcode), r.Id, m.Id)
			}
			if tc.bufsize > 0 && r.IsEdns0() == nil {
				t.Errorf("%s: no OPT record in the reply to an EDNS0 query", what)
			}
		}
	})

	t.Run("tcp", func(t *testing.T) {
		r := s.exchange(t, newQuery("big.svc.internal.", dns.TypeA), "tcp")
		checkBigA(t, "miekg/tcp", r, wantAddrs)

		r = s.exchange(t, newQuery("_big._tcp.svc.internal.", dns.TypeSRV), "tcp")
		checkBigSRV(t, "miekg/tcp", r, wantAddrs, wantSRV)
	})

	t.Run("dig", func(t *testing.T) {
		r := s.dig(t, "+ignore", "+noedns", "-q", "big.svc.internal.", "-t", "A")
		if !r.Truncated {
			t.Errorf("dig +ignore +noedns A: TC not set")
		}
		// Without +ignore, dig retries over TCP by itself.
		checkBigA(t, "dig", s.dig(t, "-q", "big.svc.internal.", "-t", "A"), wantAddrs)
		checkBigSRV(t, "dig +tcp", s.dig(t, "+tcp", "-q", "big.svc.internal.", "-t", "SRV"), wantAddrs, wantSRV)
	})

	t.Run("go", func(t *testing.T) {
		// Go's resolver gets TC over UDP and retries over TCP itself.
		res := s.resolver()
		hosts, err := res.LookupHost(lookupCtx(t), "big.svc.internal.")
		if err != nil {
			t.Fatalf("LookupHost(big): %v", err)
		}
		if got := sorted(hosts); !slices.Equal(got, wantAddrs) {
			t.Errorf("LookupHost(big): %d addresses, want all %d", len(got), bigInstances)
		}
		_, addrs, err := res.LookupSRV(lookupCtx(t), "big", "tcp", "svc.internal.")
		if err != nil {
			t.Fatalf("LookupSRV(big): %v", err)
		}
		var got []string
		for _, a := range addrs {
			got = append(got, fmt.Sprintf("%s:%d", a.Target, a.Port))
		}
		if got = sorted(got); !slices.Equal(got, wantSRV) {
			t.Errorf("LookupSRV(big): %d records, want all %d", len(got), bigInstances)
		}
	})
}

func checkBigA(t *testing.T, client string, r *dns.Msg, want []string) {
	t.Helper()
	if r.Truncated || r.Rcode != dns.RcodeSuccess {
		t.Errorf("%s A big: TC %v rcode %s, want the full answer", client, r.Truncated, rcodeName(r.Rcode))
	}
	var got []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			got = append(got, a.A.String())
		}
	}
	if got = sorted(got); !slices.Equal(got, want) {
		t.Errorf("%s A big: %d addresses, want all %d", client, len(got), len(want))
	}
}

func checkBigSRV(t *testing.T, client string, r *dns.Msg, wantAddrs, wantSRV []string) {
	t.Helper()
	if r.Truncated || r.Rcode != dns.RcodeSuccess {
		t.Errorf("%s SRV big: TC %v rcode %s, want the full answer", client, r.Truncated, rcodeName(r.Rcode))
	}
	var got, glue []string
	for _, rr := range r.Answer {
		if s, ok := rr.(*dns.SRV); ok {
			got = append(got, fmt.Sprintf("%s:%d", s.Target, s.Port))
		}
	}
	for _, rr := range r.Extra {
		if a, ok := rr.(*dns.A); ok {
			glue = append(glue, a.A.String())
		}
	}
	if got = sorted(got); !slices.Equal(got, wantSRV) {
		t.Errorf("%s SRV big: %d records, want all %d", client, len(got), len(wantSRV))
	}
	if glue = sorted(glue); !slices.Equal(glue, wantAddrs) {
		t.Errorf("%s SRV big: %d glue records, want all %d", client, len(glue), len(wantAddrs))
	}
}
