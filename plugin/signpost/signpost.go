// Package signpost is a CoreDNS plugin that serves a service registry over
// DNS: A, AAAA and SRV records for the healthy instances of each service,
// failover to a VIP or a load balancer name when too few are healthy, and an
// HTTP API through which services register themselves.
package signpost

import (
	"context"
	"math/rand/v2"
	"net/netip"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/pkg/fall"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// Signpost is the plugin. It reads the current registry snapshot once per
// query and never waits on a writer.
type Signpost struct {
	Next  plugin.Handler
	Zones []string
	Fall  fall.F

	reg      *registry.Registry
	upstream *upstream.Upstream
	opts     options
	cache    *answerCache // packed positive answers; nil disables
	rand     *rand.Rand   // shuffles answers; nil for the global source (tests set one)
}

// options are the answer settings from the Corefile.
type options struct {
	ttl          uint32
	negativeTTL  uint32
	maxAnswers   int
	serveWarning bool
	// consul answers Consul's names in its domain; nil for none.
	consul *consulNames
}

// maxCNAMEDepth bounds how often a failover CNAME may lead back into the
// plugin through the upstream lookup, so that two services failing over to
// each other cannot loop.
const maxCNAMEDepth = 8

type depthKey struct{}

func cnameDepth(ctx context.Context) int {
	d, _ := ctx.Value(depthKey{}).(int)
	return d
}

// soa returns the zone's SOA record. Its minimum and TTL are the negative
// TTL, so a cache keeps a negative answer no longer than that (RFC 2308).
func (sp *Signpost) soa(zone string, serial uint64) dns.RR {
	hdr := dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: sp.opts.negativeTTL}
	return &dns.SOA{
		Hdr:     hdr,
		Ns:      "ns.dns." + zone,
		Mbox:    "hostmaster." + zone,
		Serial:  uint32(serial),
		Refresh: 7200,
		Retry:   1800,
		Expire:  86400,
		Minttl:  sp.opts.negativeTTL,
	}
}

func (sp *Signpost) hdr(name string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: name, Rrtype: t, Class: dns.ClassINET, Ttl: sp.opts.ttl}
}

// addrRR returns an A or AAAA record for a, or nil when a is not of the
// family qtype asks for.
func (sp *Signpost) addrRR(name string, qtype uint16, a netip.Addr) dns.RR {
	switch {
	case qtype == dns.TypeA && a.Is4():
		b := a.As4()
		return &dns.A{Hdr: sp.hdr(name, dns.TypeA), A: b[:]}
	case qtype == dns.TypeAAAA && a.Is6():
		b := a.As16()
		return &dns.AAAA{Hdr: sp.hdr(name, dns.TypeAAAA), AAAA: b[:]}
	}
	return nil
}

// glue returns the A or AAAA record of address a under its addr name.
func (sp *Signpost) glue(target string, a netip.Addr) dns.RR {
	if a.Is4() {
		return sp.addrRR(target, dns.TypeA, a)
	}
	return sp.addrRR(target, dns.TypeAAAA, a)
}

func targetName(a netip.Addr, zone string) string {
	return addrToLabel(a) + "." + addrLabel + "." + zone
}

// Name implements plugin.Handler.
func (sp *Signpost) Name() string { return "signpost" }

// lookupState bundles what one query needs while its answer is built.
type lookupState struct {
	state request.Request
	zone  string
	snap  *registry.Snapshot
	// truncated is set when the answer left records out for want of room.
	truncated bool
}
