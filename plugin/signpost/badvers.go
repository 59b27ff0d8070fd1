package signpost

import (
	"encoding/binary"

	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"
)

// CoreDNS's server answers a query of an EDNS version it does not know
// (BADVERS, RFC 6891 section 6.1.3) before any plugin runs, with an OPT
// record whose UDP payload size is 0; the RFC wants the responder's own
// size there. This writer decorator of the UDP listener puts it in. Other
// replies pass through after a look at five header fields.

// advertisedUDPSize is the UDP payload size the server advertises in
// BADVERS replies: the size the DNS Flag Day 2020 settled on, which CoreDNS's
// bufsize plugin also defaults to.
const advertisedUDPSize = 1232

func badversDecorator(*dnsserver.Server) dns.DecorateWriter {
	return func(w dns.Writer) dns.Writer { return badversWriter{w} }
}

type badversWriter struct{ dns.Writer }

func (w badversWriter) Write(b []byte) (int, error) {
	if maybeBadVers(b) {
		if fixed, ok := advertiseSize(b); ok {
			if _, err := w.Writer.Write(fixed); err != nil {
				return 0, err
			}
			return len(b), nil
		}
	}
	return w.Writer.Write(b)
}

// maybeBadVers reports whether b may be a BADVERS reply: a response with no
// answer or authority records, one additional record (the OPT) and a header
// rcode of 0 (BADVERS is 16: its low four bits are 0, the rest sit in the
// OPT record).
func maybeBadVers(b []byte) bool {
	if len(b) < 12 || b[2]&0x80 == 0 || b[3]&0x0F != 0 {
		return false
	}
	return binary.BigEndian.Uint16(b[6:]) == 0 && binary.BigEndian.Uint16(b[8:]) == 0 && binary.BigEndian.Uint16(b[10:]) == 1
}

// advertiseSize returns b with the server's UDP payload size in its OPT
// record when b is a BADVERS reply whose OPT record advertises none.
func advertiseSize(b []byte) ([]byte, bool) {
	m := new(dns.Msg)
	if m.Unpack(b) != nil || m.Rcode != dns.RcodeBadVers {
		return nil, false
	}
	opt := m.IsEdns0()
	if opt == nil || opt.UDPSize() != 0 {
		return nil, false
	}
	opt.SetUDPSize(advertisedUDPSize)
	fixed, err := m.Pack()
	return fixed, err == nil
}
