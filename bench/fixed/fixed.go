// Package fixed is a trivial CoreDNS plugin that answers every question with
// one fixed A record. It does the least work a data plugin can do (build a
// reply, add one record, write it), so a CoreDNS build serving it measures
// the ceiling for any CoreDNS plugin: the cost of CoreDNS's own server loop
// and of packing a reply.
package fixed

import (
	"context"
	"net"

	"github.com/miekg/dns"
)

// ttl is the TTL of the fixed answer, the same as Signpost's default.
const ttl = 5

// Fixed answers every query with an A record for IP, whatever the name and
// type asked. It never calls the next plugin.
type Fixed struct {
	IP net.IP
}

// ServeDNS implements plugin.Handler. The reply is built per query, the way
// a minimal plugin would build it.
func (f *Fixed) ServeDNS(_ context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Answer = []dns.RR{&dns.A{
		Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: ttl},
		A:   f.IP,
	}}
	if err := w.WriteMsg(m); err != nil {
		return dns.RcodeServerFailure, err
	}
	return dns.RcodeSuccess, nil
}

// Name implements plugin.Handler.
func (f *Fixed) Name() string { return "fixed" }
