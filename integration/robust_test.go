package integration

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const robustCorefile = `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        negative-ttl 3s
        service mysql {
            instance db1 10.0.0.5:3306
        }
    }
    errors
}
`

// noReplyWait is how long a malformed packet may go unanswered before the
// test takes silence as the answer; the server answers in well under 1ms.
const noReplyWait = time.Second

// header returns a 12-byte DNS header: a query with the given counts.
func header(id, qd, an, ns, ar uint16) []byte {
	b := make([]byte, 12)
	binary.BigEndian.PutUint16(b[0:], id)
	binary.BigEndian.PutUint16(b[4:], qd)
	binary.BigEndian.PutUint16(b[6:], an)
	binary.BigEndian.PutUint16(b[8:], ns)
	binary.BigEndian.PutUint16(b[10:], ar)
	return b
}

// wireName encodes labels as an uncompressed name, without checking limits.
func wireName(labels ...string) []byte {
	var b []byte
	for _, l := range labels {
		b = append(b, byte(len(l)))
		b = append(b, l...)
	}
	return append(b, 0)
}

var qtypeA = []byte{0, 1, 0, 1} // type A, class IN

// malformedPacket is a packet no client should send. The server must
// survive it and answer FORMERR, one of also, or nothing.
type malformedPacket struct {
	name string
	pkt  []byte
	also []int // rcodes accepted besides FORMERR, where CoreDNS's core answers first
}

func malformed() []malformedPacket {
	rnd := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 64)
	for i := range random {
		random[i] = byte(rnd.UintN(256))
	}
	// A query (QR 0) of opcode QUERY, so that "not implemented" is no
	// answer the server may give: the rest is noise.
	random[2] &= 0x07

	long := strings.Repeat("a", 63)
	return []malformedPacket{
		{name: "random bytes", pkt: random},
		{name: "truncated header", pkt: header(0x1234, 1, 0, 0, 0)[:5]},
		// miekg/dns reads a header without a body as a message without a
		// question, and CoreDNS's server answers that with SERVFAIL
		// (core/dnsserver/server.go ServeDNS, before any plugin runs).
		{name: "one question claimed, no body", pkt: header(0x1235, 1, 0, 0, 0), also: []int{dns.RcodeServerFailure}},
		{name: "question cut inside a label", pkt: append(header(0x1236, 1, 0, 0, 0), 63, 'a', 'b')},
		// miekg/dns reads a question without type and class as type 0
		// class 0, and CoreDNS's server refuses classes other than IN.
		{name: "question without type and class", pkt: append(header(0x1237, 1, 0, 0, 0), wireName("mysql", "svc", "internal")...),
			also: []int{dns.RcodeRefused}},
		{name: "compression pointer to itself", pkt: append(append(header(0x1238, 1, 0, 0, 0), 0xC0, 12), qtypeA...)},
		{name: "name over 255 bytes", pkt: append(append(header(0x1239, 1, 0, 0, 0), wireName(long, long, long, long, "svc", "internal")...), qtypeA...)},
		{name: "label type 0x40 (extended, unsupported)", pkt: append(append(header(0x123b, 1, 0, 0, 0), 0x41, 0, 0), qtypeA...)},
	}
}

// checkMalformedReply accepts no reply, or an error reply with the query's
// ID and an accepted rcode.
func checkMalformedReply(t *testing.T, what string, m malformedPacket, reply []byte) {
	t.Helper()
	if reply == nil {
		t.Logf("%s: no reply", what)
		return
	}
	if len(reply) < 12 {
		t.Errorf("%s: reply of %d bytes, shorter than a header", what, len(reply))
		return
	}
	var r dns.Msg
	if err := r.Unpack(reply); err != nil {
		t.Errorf("%s: reply does not parse: %v", what, err)
		return
	}
	if len(m.pkt) >= 2 && r.Id != binary.BigEndian.Uint16(m.pkt) {
		t.Errorf("%s: reply ID %#x, want the query's %#x", what, r.Id, binary.BigEndian.Uint16(m.pkt))
	}
	t.Logf("%s: %s", what, rcodeName(r.Rcode))
	ok := r.Rcode == dns.RcodeFormatError || slices.Contains(m.also, r.Rcode)
	if !ok || !r.Response || len(r.Answer) != 0 {
		t.Errorf("%s: reply rcode %s QR %v answers %d, want FORMERR and no answer (or no reply)",
			what, rcodeName(r.Rcode), r.Response, len(r.Answer))
	}
}

func TestMalformedPackets(t *testing.T) {
	t.Parallel()
	s := startServer(t, robustCorefile)
	for _, network := range []string{"udp", "tcp"} {
		for _, m := range malformed() {
			what := fmt.Sprintf("%s (%s)", m.name, network)
			reply := s.rawExchange(t, network, m.pkt, noReplyWait)
			checkMalformedReply(t, what, m, reply)
			checkAlive(t, s, what)
		}
	}

	// A TCP frame that promises 100 bytes and brings 10, then ends: the
	// server must drop the connection rather than wait forever or crash.
	conn, err := net.DialTimeout("tcp", s.addr, queryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(queryTimeout))
	if _, err := conn.Write(append([]byte{0, 100}, header(0x1240, 1, 0, 0, 0)[:10]...)); err != nil {
		t.Fatal(err)
	}
	_ = conn.(*net.TCPConn).CloseWrite()
	if n, err := conn.Read(make([]byte, 512)); err == nil {
		t.Errorf("short TCP frame: got %d bytes, want the connection closed", n)
	}
	checkAlive(t, s, "short TCP frame")
}

// checkAlive fails the test when the server does not answer a valid query
// correctly over UDP and TCP.
func checkAlive(t *testing.T, s *server, after string) {
	t.Helper()
	select {
	case <-s.exited:
		t.Fatalf("signpost exited after %s: %v", after, s.waitErr)
	default:
	}
	for _, network := range []string{"udp", "tcp"} {
		c := &dns.Client{Net: network, Timeout: queryTimeout}
		r, _, err := c.Exchange(newQuery("mysql.svc.internal.", dns.TypeA), s.addr)
		if err != nil {
			t.Fatalf("after %s: A mysql over %s: %v", after, network, err)
		}
		if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
			t.Fatalf("after %s: A mysql over %s: %s %v, want one address", after, network, rcodeName(r.Rcode), r.Answer)
		}
	}
}

// maxName returns a name of exactly 255 bytes on the wire (the maximum of
// RFC 1035) inside svc.internal., with mixed case.
func maxName() string {
	const suffix = "svc.internal." // 14 bytes on the wire
	labels := []string{strings.Repeat("A", 63), strings.Repeat("b", 63), strings.Repeat("C", 63), strings.Repeat("d", 48)}
	return strings.Join(labels, ".") + "." + suffix
}

func TestMaxLengthName(t *testing.T) {
	t.Parallel()
	s := startServer(t, robustCorefile)
	name := maxName()
	if n, ok := dns.IsDomainName(name); !ok || wireLen(name) != 255 {
		t.Fatalf("test name is not a 255-byte name: %d labels, ok %v, %d bytes", n, ok, wireLen(name))
	}
	check := func(client string, r *dns.Msg) {
		t.Helper()
		t.Logf("%s: 255-byte name: %s", client, rcodeName(r.Rcode))
		switch r.Rcode {
		case dns.RcodeNameError:
			checkSOA(t, client+": 255-byte name", r, true, zone, 3)
		case dns.RcodeFormatError, dns.RcodeRefused:
		default:
			t.Errorf("%s: 255-byte name: rcode %s, want NXDOMAIN or a clean error", client, rcodeName(r.Rcode))
		}
		if len(r.Answer) != 0 {
			t.Errorf("%s: 255-byte name: answer %v, want none", client, r.Answer)
		}
		if len(r.Question) == 1 && r.Question[0].Name != name {
			t.Errorf("%s: 255-byte name: question %s not echoed as sent", client, r.Question[0].Name)
		}
	}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV, dns.TypeAAAA} {
		for _, network := range []string{"udp", "tcp"} {
			m := newQuery(name, qtype)
			pkt, err := m.Pack()
			if err != nil {
				t.Fatal(err)
			}
			raw := s.rawExchange(t, network, pkt, queryTimeout)
			if raw == nil {
				t.Fatalf("%s %s 255-byte name: no reply", network, dns.TypeToString[qtype])
			}
			if network == "udp" && len(raw) > 512 {
				t.Errorf("udp 255-byte name: reply of %d bytes, over 512", len(raw))
			}
			r := new(dns.Msg)
			if err := r.Unpack(raw); err != nil {
				t.Fatalf("%s 255-byte name: reply does not parse: %v", network, err)
			}
			check("miekg/"+network, r)
		}
	}
	check("dig", s.dig(t, "-q", name, "-t", "A"))
	checkAlive(t, s, "the 255-byte name")

	// Go's resolver sends it too (254 characters with the final dot).
	_, err := s.resolver().LookupHost(lookupCtx(t), name)
	var de *net.DNSError
	if !errors.As(err, &de) || !de.IsNotFound {
		t.Errorf("go: LookupHost(255-byte name): %v, want not found", err)
	}
	checkAlive(t, s, "the 255-byte name from Go")
}

func wireLen(name string) int {
	n := 1
	for l := range strings.SplitSeq(strings.TrimSuffix(name, "."), ".") {
		n += len(l) + 1
	}
	return n
}
