package signpost

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// ServeDNS implements plugin.Handler.
func (sp *Signpost) ServeDNS(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	state := request.Request{W: w, Req: r}
	qname := state.Name()
	zone := matchZone(sp.Zones, qname)
	if zone == "" {
		return sp.next(ctx, w, r)
	}
	snap := sp.reg.Snapshot()
	if sp.cache != nil && rawWriter(w) && simpleQuery(r) {
		if res := sp.serveCached(w, r, &state, zone, snap); res != "" {
			countQuery(state.QType(), res)
			return dns.RcodeSuccess, nil
		}
	}
	ls := lookupState{state: state, zone: zone, snap: snap}
	answer, extra, res, err := sp.lookup(ctx, ls)

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	switch {
	case errors.Is(err, errNameNotFound):
		if sp.Fall.Through(qname) {
			return plugin.NextOrFailure(sp.Name(), sp.Next, ctx, w, r)
		}
		m.Rcode = dns.RcodeNameError
		m.Ns = []dns.RR{sp.soa(zone, ls.snap.Index())}
		res = resultNXDomain
	case errors.Is(err, errNoData):
		m.Ns = []dns.RR{sp.soa(zone, ls.snap.Index())}
		res = resultNoData
	case err != nil:
		countQuery(state.QType(), resultServfail)
		return dns.RcodeServerFailure, plugin.Error(sp.Name(), err)
	default:
		m.Answer, m.Extra = answer, extra
	}
	countQuery(state.QType(), res)
	w.WriteMsg(m)
	return dns.RcodeSuccess, nil
}

// matchZone returns the longest of zones that qname is in, or "". Both are
// lowercased and fully qualified. It is plugin.Zones.Matches without the
// allocations of splitting names into labels.
func matchZone(zones []string, qname string) string {
	best := ""
	for _, z := range zones {
		if len(z) <= len(best) || !strings.HasSuffix(qname, z) {
			continue
		}
		if z == "." || len(qname) == len(z) || qname[len(qname)-len(z)-1] == '.' {
			best = z
		}
	}
	return best
}

// next hands a query outside our zones to the next plugin, or refuses it:
// Signpost is not an open resolver unless the Corefile adds one after it.
func (sp *Signpost) next(ctx context.Context, w dns.ResponseWriter, r *dns.Msg) (int, error) {
	if sp.Next == nil {
		state := request.Request{W: w, Req: r}
		countQuery(state.QType(), resultRefused)
		return dns.RcodeRefused, nil
	}
	return plugin.NextOrFailure(sp.Name(), sp.Next, ctx, w, r)
}

// lookup answers a query inside one of our zones. It returns errNameNotFound
// or errNoData for negative answers.
func (sp *Signpost) lookup(ctx context.Context, ls lookupState) (answer, extra []dns.RR, res string, err error) {
	q, err := parseName(ls.state.Name(), ls.zone)
	if err != nil {
		return nil, nil, "", err
	}
	switch q.kind {
	case kindApex:
		answer, err = sp.apex(ls)
	case kindENT:
		err = sp.emptyNonTerminal(ls, q)
	case kindAddr:
		answer, err = sp.address(ls, q)
	case kindService:
		return sp.service(ctx, ls, q)
	}
	return answer, nil, resultSuccess, err
}

func (sp *Signpost) apex(ls lookupState) ([]dns.RR, error) {
	switch ls.state.QType() {
	case dns.TypeSOA:
		soa := sp.soa(ls.state.QName(), ls.snap.Index())
		soa.Header().Ttl = sp.opts.ttl
		return []dns.RR{soa}, nil
	case dns.TypeANY:
		return []dns.RR{sp.hinfo(ls.state.QName())}, nil
	}
	return nil, errNoData
}

// emptyNonTerminal answers for names that exist only because there are names
// below them: NODATA, never NXDOMAIN (RFC 8020), and NXDOMAIN when nothing
// is below. addr.<zone> always exists; _LABEL.<zone> exists when LABEL is a
// service (_LABEL._tcp.<zone> is below it), when it is tcp or udp and any
// service exists (_SERVICE._LABEL.<zone>), or when an instance of any
// service carries the tag LABEL (_SERVICE._LABEL.<zone>).
func (sp *Signpost) emptyNonTerminal(ls lookupState, q query) error {
	switch l := q.service; {
	case l == "":
		return errNoData
	case ls.snap.Service(l) != nil:
		return errNoData
	case (l == "tcp" || l == "udp") && ls.snap.Len() > 0:
		return errNoData
	case ls.snap.HasTag(l):
		return errNoData
	}
	return errNameNotFound
}

func (sp *Signpost) address(ls lookupState, q query) ([]dns.RR, error) {
	if !ls.snap.HasAddr(q.addr) {
		return nil, errNameNotFound
	}
	qtype := ls.state.QType()
	if qtype == dns.TypeANY {
		return []dns.RR{sp.hinfo(ls.state.QName())}, nil
	}
	if rr := sp.addrRR(ls.state.QName(), qtype, q.addr); rr != nil {
		return []dns.RR{rr}, nil
	}
	return nil, errNoData
}

// hinfo is the minimal answer to ANY queries (RFC 8482, section 4.2).
func (sp *Signpost) hinfo(name string) dns.RR {
	return &dns.HINFO{Hdr: sp.hdr(name, dns.TypeHINFO), Cpu: "RFC8482"}
}

func (sp *Signpost) service(ctx context.Context, ls lookupState, q query) (answer, extra []dns.RR, res string, err error) {
	svc := ls.snap.Service(q.service)
	if svc == nil || (q.tag != "" && !svc.HasTag(q.tag)) {
		return nil, nil, "", errNameNotFound
	}
	qtype := ls.state.QType()
	if qtype == dns.TypeANY {
		return []dns.RR{sp.hinfo(ls.state.QName())}, nil, resultSuccess, nil
	}
	healthy := svc.Select(nil, q.tag, sp.opts.serveWarning)
	if fo, min := svc.Failover(); fo.IsSet() && len(healthy) < min {
		answer, extra, err = sp.failover(ctx, ls, svc, fo)
		return answer, extra, resultFailover, err
	}
	rand.Shuffle(len(healthy), func(i, j int) { healthy[i], healthy[j] = healthy[j], healthy[i] })
	if n := sp.opts.maxAnswers; n > 0 && len(healthy) > n {
		healthy = healthy[:n]
	}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		answer = sp.addresses(ls.state.QName(), qtype, healthy)
	case dns.TypeSRV:
		answer, extra = sp.srv(ls, healthy)
	}
	if len(answer) == 0 {
		return nil, nil, "", errNoData
	}
	return answer, extra, resultSuccess, nil
}

// addresses returns one A or AAAA record per distinct address of instances.
func (sp *Signpost) addresses(name string, qtype uint16, instances []*registry.Instance) []dns.RR {
	var rrs []dns.RR
	seen := newAddrSet(len(instances))
	for _, in := range instances {
		if rr := sp.addrRR(name, qtype, in.Address); rr != nil && seen.add(in.Address) {
			rrs = append(rrs, rr)
		}
	}
	return rrs
}

// srv returns one SRV record per instance, with the A or AAAA record of each
// distinct target as glue.
func (sp *Signpost) srv(ls lookupState, instances []*registry.Instance) (answer, extra []dns.RR) {
	name := ls.state.QName()
	answer = make([]dns.RR, 0, len(instances))
	seen := newAddrSet(len(instances))
	for _, in := range instances {
		target := targetName(in.Address, ls.zone)
		answer = append(answer, &dns.SRV{Hdr: sp.hdr(name, dns.TypeSRV), Weight: in.Weight, Port: in.Port, Target: target})
		if seen.add(in.Address) {
			extra = append(extra, sp.glue(target, in.Address))
		}
	}
	return answer, extra
}

// failover answers for a service with too few healthy instances: the VIP
// addresses, or a CNAME to the load balancer followed through the server's
// own plugin chain so that a stub resolver gets addresses in one answer.
func (sp *Signpost) failover(ctx context.Context, ls lookupState, svc *registry.Service, fo registry.Failover) (answer, extra []dns.RR, err error) {
	name, qtype := ls.state.QName(), ls.state.QType()
	if fo.Name != "" {
		return sp.failoverCNAME(ctx, ls, fo.Name)
	}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA:
		for _, a := range fo.Addrs {
			if rr := sp.addrRR(name, qtype, a); rr != nil {
				answer = append(answer, rr)
			}
		}
	case dns.TypeSRV:
		port := fo.Port
		if port == 0 {
			port = svc.CommonPort()
		}
		if port == 0 {
			break
		}
		for _, a := range fo.Addrs {
			target := targetName(a, ls.zone)
			answer = append(answer, &dns.SRV{Hdr: sp.hdr(name, dns.TypeSRV), Weight: 1, Port: port, Target: target})
			extra = append(extra, sp.glue(target, a))
		}
	}
	if len(answer) == 0 {
		return nil, nil, errNoData
	}
	return answer, extra, nil
}

func (sp *Signpost) failoverCNAME(ctx context.Context, ls lookupState, target string) (answer, extra []dns.RR, err error) {
	name, qtype := ls.state.QName(), ls.state.QType()
	answer = []dns.RR{&dns.CNAME{Hdr: sp.hdr(name, dns.TypeCNAME), Target: target}}
	if qtype == dns.TypeCNAME || cnameDepth(ctx) >= maxCNAMEDepth {
		return answer, nil, nil
	}
	ctx = context.WithValue(ctx, depthKey{}, cnameDepth(ctx)+1)
	m, err := sp.upstream.Lookup(ctx, ls.state, target, qtype)
	if err != nil || m == nil {
		// The client follows the CNAME itself.
		log.Debugf("failover to %s: %v", target, err)
		return answer, nil, nil
	}
	return append(answer, m.Answer...), nil, nil
}

// addrSet tracks the addresses already answered, without allocating for the
// small answers that are the common case.
type addrSet struct {
	small []netip.Addr
	large map[netip.Addr]struct{}
}

func newAddrSet(n int) addrSet {
	if n > 16 {
		return addrSet{large: make(map[netip.Addr]struct{}, n)}
	}
	return addrSet{small: make([]netip.Addr, 0, n)}
}

// add adds a and reports whether it was new.
func (s *addrSet) add(a netip.Addr) bool {
	if s.large != nil {
		if _, ok := s.large[a]; ok {
			return false
		}
		s.large[a] = struct{}{}
		return true
	}
	for _, b := range s.small {
		if a == b {
			return false
		}
	}
	s.small = append(s.small, a)
	return true
}
