package signpost

import (
	"context"
	"errors"
	"strings"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
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
	answer, extra, res, err := sp.lookup(ctx, &ls)

	m := new(dns.Msg)
	m.SetReply(r)
	m.Authoritative = true
	m.Truncated = ls.truncated
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
	generalAnswers.Inc()
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
func (sp *Signpost) lookup(ctx context.Context, ls *lookupState) (answer, extra []dns.RR, res string, err error) {
	q, err := sp.parse(ls.state.Name(), ls.zone)
	if err != nil {
		return nil, nil, "", err
	}
	switch q.kind {
	case kindApex:
		answer, err = sp.apex(*ls)
	case kindENT:
		err = sp.emptyNonTerminal(*ls, q)
	case kindAddr:
		answer, err = sp.address(*ls, q)
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

// service answers for a service name. Which records the answer may hold is
// decided once, by pack, for the fast path and this one alike; choose picks
// those of this reply; this path only turns them into records.
func (sp *Signpost) service(ctx context.Context, ls *lookupState, q query) (answer, extra []dns.RR, res string, err error) {
	svc := ls.snap.Service(q.service)
	if svc == nil || (q.tag != "" && !svc.HasTag(q.tag)) {
		return nil, nil, "", errNameNotFound
	}
	qtype := ls.state.QType()
	if qtype == dns.TypeANY {
		return []dns.RR{sp.hinfo(ls.state.QName())}, nil, resultSuccess, nil
	}
	pa := sp.answer(packedKey{name: ls.state.Name(), qtype: qtype}, ls.zone, ls.snap)
	if pa.cname != "" {
		answer, extra, err = sp.failoverCNAME(ctx, *ls, pa.cname)
		return answer, extra, resultFailover, err
	}
	if len(pa.answers) == 0 {
		return nil, nil, "", errNoData
	}
	var abuf, gbuf [64]int
	c := sp.choose(pa, replyRoom(&ls.state, ls.state.Req.IsEdns0(), questionEnd(ls.state.Req)), abuf[:0], gbuf[:0])
	ls.truncated = c.truncated
	answer, extra = sp.render(ls, qtype, pa, c)
	return answer, extra, pa.result, nil
}

// questionEnd is the length of the header and question of a reply to r.
func questionEnd(r *dns.Msg) int {
	var buf [256]byte
	n, err := dns.PackDomainName(r.Question[0].Name, buf[:], 0, nil, false)
	if err != nil {
		n = len(r.Question[0].Name) + 1
	}
	return 12 + n + 4
}

// render turns the records c picked from pa into records of the reply.
func (sp *Signpost) render(ls *lookupState, qtype uint16, pa *packedAnswer, c choice) (answer, extra []dns.RR) {
	name, zone := ls.state.QName(), ls.zone
	answer = make([]dns.RR, 0, len(c.answers))
	for _, i := range c.answers {
		r := pa.records[i]
		if qtype != dns.TypeSRV {
			answer = append(answer, sp.addrRR(name, qtype, r.addr))
			continue
		}
		answer = append(answer, &dns.SRV{Hdr: sp.hdr(name, dns.TypeSRV), Weight: r.weight, Port: r.port, Target: sp.target(r.addr, zone)})
	}
	for _, g := range c.glue {
		a := pa.extraOf[g]
		extra = append(extra, sp.glue(sp.target(a, zone), a))
	}
	return answer, extra
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
