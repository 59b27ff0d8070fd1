package signpost

import (
	"context"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

// explainer answers GET /v1/explain/{service}: why each instance of a
// service is or is not in the answers a query made now gets, and the
// records each of the service's names answers, made by the engine that
// answers queries (pack, choose, render), not by a second one.
type explainer struct {
	sp      *Signpost
	checker func() *checker  // the checker of sp's registry, nil when none
	now     func() time.Time // the clock the times are told against
}

// newExplainer explains the answers of sp, whose registry is under key.
func newExplainer(sp *Signpost, key string) *explainer {
	return &explainer{sp: sp, checker: func() *checker { return checkerOf(key) }, now: time.Now}
}

// explain implements api.ExplainFunc.
func (x *explainer) explain(_ context.Context, service, tag string) (api.Explanation, error) {
	sp, now := x.sp, x.now()
	snap := sp.reg.Snapshot()
	svc := snap.Service(service)
	if svc == nil {
		return api.Explanation{}, fmt.Errorf("service %s %w", service, registry.ErrNotFound)
	}
	e := api.Explanation{
		Service: service, Tag: tag, Zones: sp.Zones, Index: snap.Index(), Time: now.UTC(),
		Settings: api.ExplainSettings{
			TTL: sp.opts.ttl, NegativeTTL: sp.opts.negativeTTL,
			MaxAnswers: sp.opts.maxAnswers, ServeWarning: sp.opts.serveWarning,
		},
		SelfPreservation: sp.reg.SelfPreserving(),
	}
	eligible := svc.Select(nil, tag, sp.opts.serveWarning)
	e.Eligible = len(eligible)
	e.Failover = x.failover(svc, tag, len(eligible))
	e.Answered = len(eligible)
	if e.Failover.Active {
		e.Answered = 0
	} else if m := sp.opts.maxAnswers; m > 0 && e.Answered > m {
		e.Answered = m
	}
	e.StalenessBudget = explainStaleness(svc, sp.opts)
	e.Reasons = x.serviceReasons(svc, tag, &e)
	check := x.checker()
	changes := lastHealthEvents(sp.reg, service)
	answered := make(map[string]bool, len(eligible))
	for _, in := range eligible {
		answered[in.ID] = !e.Failover.Active
	}
	for _, in := range svc.Instances() {
		served := answered[in.ID]
		report := x.instance(in, tag, served, &e, check, now)
		if ev, ok := changes[in.ID]; ok && ev.Health == in.Health {
			since(report.Reasons, in.Health, ev, now)
		}
		e.Instances = append(e.Instances, report)
	}
	for _, zone := range sp.Zones {
		e.Records = append(e.Records, x.records(zone, service, tag, snap)...)
	}
	return e, nil
}

// failover tells whether the names of svc (with tag) answer its failover,
// by the registry's rule that DNS answers by too.
func (x *explainer) failover(svc *registry.Service, tag string, healthy int) api.FailoverState {
	fo, minHealthy := svc.Failover()
	out := api.FailoverState{Configured: fo.IsSet(), MinHealthy: minHealthy, Healthy: healthy}
	if !fo.IsSet() {
		return out
	}
	out.Target = fo.Name
	if fo.Name == "" {
		addrs := make([]string, len(fo.Addrs))
		for i, a := range fo.Addrs {
			addrs[i] = a.String()
		}
		out.Target = strings.Join(addrs, " ")
	}
	out.Active = svc.FailingOver(tag, x.sp.opts.serveWarning)
	return out
}

// serviceReasons says what applies to every instance of the service.
func (x *explainer) serviceReasons(svc *registry.Service, tag string, e *api.Explanation) []api.Reason {
	var rs []api.Reason
	add := func(code, format string, args ...any) {
		rs = append(rs, api.Reason{Code: code, Text: fmt.Sprintf(format, args...)})
	}
	if tag != "" && !svc.HasTag(tag) {
		add(api.ReasonTagFilter, "no instance of %s carries the tag %s: its tag names do not exist (NXDOMAIN)", svc.Name(), tag)
	}
	if e.SelfPreservation {
		add(api.ReasonSelfPreservation, "self-preservation: too many leases ran out at once, so lease expiry is paused and instances whose lease fell due are still served")
	}
	if f := e.Failover; f.Configured {
		switch {
		case f.Active:
			add(api.ReasonMinHealthy, "%d eligible instance(s), fewer than min-healthy %d", f.Healthy, f.MinHealthy)
			add(api.ReasonFailover, "the failover %s is answered instead of the instances", f.Target)
		default:
			add(api.ReasonMinHealthy, "%d eligible instance(s), at least min-healthy %d: the instances are answered, not the failover %s", f.Healthy, f.MinHealthy, f.Target)
		}
	}
	switch m := e.Settings.MaxAnswers; {
	case e.Eligible == 0 && !e.Failover.Active:
		add(api.ReasonNoInstances, "no instance is eligible and no failover answers: the service's names answer with no records (NODATA)")
	case m > 0 && e.Eligible > m && !e.Failover.Active:
		add(api.ReasonMaxAnswers, "max-answers %d: each answer holds %d of the %d eligible instances, shuffled per query", m, m, e.Eligible)
	}
	return rs
}

// instance explains one instance.
func (x *explainer) instance(in registry.Instance, tag string, served bool, e *api.Explanation, c *checker, now time.Time) api.InstanceReport {
	out := api.InstanceReport{
		ID: in.ID, Address: in.Address.String(), Port: in.Port, Tags: in.Tags, Weight: in.Weight,
		Health: in.Health.String(), Served: served,
	}
	var rs reasons
	out.Source = x.source(in, c, now, &rs)
	rs.add(healthReason(in.Health, x.sp.opts.serveWarning))
	if tag != "" {
		if in.HasTag(tag) {
			rs.addf(api.ReasonTagMatch, "carries the tag %s", tag)
		} else {
			rs.addf(api.ReasonTagFilter, "lacks the tag %s: not in the answers of %s", tag, serviceName(in.Service, tag, "<zone>"))
		}
	}
	eligible := in.Health == registry.Passing || (in.Health == registry.Warning && x.sp.opts.serveWarning)
	eligible = eligible && (tag == "" || in.HasTag(tag))
	switch m := e.Settings.MaxAnswers; {
	case !eligible:
	case e.Failover.Active:
		rs.addf(api.ReasonFailover, "eligible, but the service has fewer than min-healthy %d: the failover %s is answered instead", e.Failover.MinHealthy, e.Failover.Target)
	case m > 0 && e.Eligible > m:
		rs.addf(api.ReasonMaxAnswers, "one of %d eligible instances, of which each answer holds %d (max-answers), picked at random per query", e.Eligible, m)
	}
	out.Reasons = rs
	return out
}

// lastHealthEvents returns, by instance id, the newest event of the event
// log that set the health of an instance of service.
func lastHealthEvents(reg *registry.Registry, service string) map[string]registry.Event {
	out := make(map[string]registry.Event)
	for _, ev := range reg.Events(0).Events {
		if ev.Service == service && ev.Instance != "" && ev.HasHealth() {
			out[ev.Instance] = ev
		}
	}
	return out
}

// since adds to the health reason of rs when the instance turned h, and
// why, from the event that did it.
func since(rs []api.Reason, h registry.Health, ev registry.Event, now time.Time) {
	code := healthReason(h, false).Code
	for i := range rs {
		if rs[i].Code == code || (code == api.ReasonWarning && rs[i].Code == api.ReasonWarningServed) {
			rs[i].Text += fmt.Sprintf("; %s since %s (%s ago)", h, stamp(ev.Time), ago(now, ev.Time))
			if ev.Reason != "" {
				rs[i].Text += ": " + ev.Reason
			}
			return
		}
	}
}

// healthReason is the reason its health gives an instance.
func healthReason(h registry.Health, serveWarning bool) api.Reason {
	switch {
	case h == registry.Passing:
		return api.Reason{Code: api.ReasonPassing, Text: "passing: answered"}
	case h == registry.Warning && serveWarning:
		return api.Reason{Code: api.ReasonWarningServed, Text: "warning: answered, as serve-warning is on"}
	case h == registry.Warning:
		return api.Reason{Code: api.ReasonWarning, Text: "warning: not answered, as serve-warning is off"}
	}
	return api.Reason{Code: api.ReasonCritical, Text: "critical: not answered"}
}

type reasons []api.Reason

func (rs *reasons) add(r api.Reason) { *rs = append(*rs, r) }

func (rs *reasons) addf(code, format string, args ...any) {
	*rs = append(*rs, api.Reason{Code: code, Text: fmt.Sprintf(format, args...)})
}

// source tells where the health of in comes from, and adds what that
// source says to rs.
func (x *explainer) source(in registry.Instance, c *checker, now time.Time, rs *reasons) api.HealthSource {
	switch {
	case in.TTL > 0:
		return x.leaseSource(in, now, rs)
	case in.Check != "":
		return x.probeSource(in, c, now, rs)
	}
	rs.addf(api.ReasonPassing, "no lease and no check: declared, always passing")
	return api.HealthSource{Kind: api.SourceStatic}
}

func (x *explainer) leaseSource(in registry.Instance, now time.Time, rs *reasons) api.HealthSource {
	src := api.HealthSource{Kind: api.SourceLease, LeaseTTL: in.TTL.Seconds()}
	info, ok := x.sp.reg.LeaseInfo(in.Service, in.ID)
	if !ok {
		rs.addf(api.ReasonLeaseLive, "heartbeat lease of %s", in.TTL)
		return src
	}
	src.Expired, src.Held = info.Expired, info.Held
	src.LeaseDeadline = info.Deadline.UTC()
	if info.Shared {
		src.LeaseDeadline = time.Time{}
	}
	switch {
	case info.Expired:
		src.LeaseDeadline = info.ExpiredAt.UTC()
		rs.addf(api.ReasonLeaseExpired, "lease of %s ran out at %s (%s ago): no heartbeat since %s", in.TTL, stamp(info.ExpiredAt), ago(now, info.ExpiredAt), stamp(info.LastRenewal))
	case info.Held:
		rs.addf(api.ReasonSelfPreservation, "lease of %s fell due at %s (%s ago), but self-preservation holds it: still served", in.TTL, stamp(info.Deadline), ago(now, info.Deadline))
	case info.Shared:
		rs.addf(api.ReasonLeaseLive, "lease of %s held in etcd: it runs out when etcd says so", in.TTL)
	case info.Overdue:
		rs.addf(api.ReasonLeaseLive, "lease of %s missed two heartbeats: last at %s, runs out at %s (in %s) unless renewed", in.TTL, stamp(info.LastRenewal), stamp(info.Deadline), until(now, info.Deadline))
	default:
		rs.addf(api.ReasonLeaseLive, "lease of %s renewed at %s, runs out at %s (in %s) unless renewed", in.TTL, stamp(info.LastRenewal), stamp(info.Deadline), until(now, info.Deadline))
	}
	if !info.Expired && in.Health != registry.Passing {
		src.Kind = api.SourceReport
		rs.addf(api.ReasonReported, "its sidecar reported it %s", in.Health)
	}
	return src
}

func (x *explainer) probeSource(in registry.Instance, c *checker, now time.Time, rs *reasons) api.HealthSource {
	src := api.HealthSource{Kind: api.SourceProbe}
	key := checkKey(in.Service, in.ID)
	if c == nil {
		src.Prober = "no checker runs for this registry"
		rs.addf(api.ReasonProbe, "health set by a probe that does not run here")
		return src
	}
	r, ok := c.sched.Result(key)
	if !ok {
		src.Prober = c.whyNotProbed(in)
		rs.addf(api.ReasonProbe, "the check is not run by this server: %s", src.Prober)
		return src
	}
	chk := r.Check
	src.Check = &api.CheckSettings{
		Type: chk.Type, Target: chk.Redacted(), Interval: chk.Interval.Seconds(), Timeout: chk.Timeout.Seconds(),
		Rise: chk.Rise, Fall: chk.Fall,
	}
	if !r.Probed {
		rs.addf(api.ReasonProbe, "%s check of %s every %s: not probed yet", chk.Type, chk.Redacted(), chk.Interval)
		return src
	}
	src.LastProbe = &api.ProbeResult{
		Status: r.Last.String(), Output: r.Output, Latency: r.Latency.Seconds(), Time: r.At.UTC(),
		LastPassing: utcOrZero(r.LastOK), Streak: r.Streak,
	}
	text := fmt.Sprintf("%s check of %s every %s (timeout %s, rise %d, fall %d): last probe %s at %s (%s ago) in %s",
		chk.Type, chk.Redacted(), chk.Interval, chk.Timeout, chk.Rise, chk.Fall, r.Last, stamp(r.At), ago(now, r.At), r.Latency.Round(time.Microsecond))
	if r.Output != "" {
		text += ": " + r.Output
	}
	if r.Streak > 0 {
		text += fmt.Sprintf("; %d result(s) in a row against its state %s", r.Streak, r.State)
	}
	rs.addf(api.ReasonProbe, "%s", text)
	return src
}

// whyNotProbed says why this server has no probe for an instance's check.
func (c *checker) whyNotProbed(in registry.Instance) string {
	c.mu.Lock()
	reason, refused := c.refused[checkKey(in.Service, in.ID)]
	c.mu.Unlock()
	switch {
	case refused:
		return "check refused, the instance stays critical: " + reason
	case in.Source == registry.SourceAPI && !c.reg.Probes(in.Service):
		return "another server of the shared registry runs it"
	}
	return "the check is not scheduled yet, or its spec does not decode"
}

// records returns the records each name of the service answers now, in
// the order the engine packs them (by instance id): under max-answers one
// answer holds only some, in shuffled order.
func (x *explainer) records(zone, service, tag string, snap *registry.Snapshot) []api.Record {
	var out []api.Record
	for _, q := range explainQuestions(zone, service, tag) {
		out = append(out, x.answerRecords(zone, q.name, q.qtype, snap)...)
	}
	return out
}

type question struct {
	name  string
	qtype uint16
}

// explainQuestions are the questions that name the service (with tag):
// <service>.<zone> and _<service>._tcp.<zone>, or with a tag
// <tag>.<service>.<zone> and _<service>._<tag>.<zone>.
func explainQuestions(zone, service, tag string) []question {
	name, srv := service+"."+zone, "_"+service+"._tcp."+zone
	if tag != "" {
		name, srv = serviceName(service, tag, zone), "_"+service+"._"+tag+"."+zone
	}
	return []question{{name, dns.TypeA}, {name, dns.TypeAAAA}, {name, dns.TypeSRV}, {srv, dns.TypeSRV}}
}

func serviceName(service, tag, zone string) string {
	if tag == "" {
		return service + "." + zone
	}
	return tag + "." + service + "." + zone
}

// answerRecords runs the answer engine on one question: pack decides the
// records, choose takes all of them (no max-answers, no size limit),
// render makes them what a reply carries.
func (x *explainer) answerRecords(zone, name string, qtype uint16, snap *registry.Snapshot) []api.Record {
	sp, q := x.sp, name+" "+dns.TypeToString[qtype]
	pa := sp.answer(packedKey{name: name, qtype: qtype}, zone, snap)
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	ls := &lookupState{state: request.Request{Req: m}, zone: zone, snap: snap}
	if pa.cname != "" {
		// The target's own records come from the upstream lookup.
		cname := &dns.CNAME{Hdr: sp.hdr(name, dns.TypeCNAME), Target: pa.cname}
		return []api.Record{recordOf(q, cname, "answer")}
	}
	all := *sp
	all.opts.maxAnswers, all.rand = 0, nil
	c := all.choose(pa, math.MaxInt, nil, nil)
	slices.Sort(c.answers)
	slices.Sort(c.glue)
	answer, extra := sp.render(ls, qtype, pa, c)
	out := make([]api.Record, 0, len(answer)+len(extra))
	for _, rr := range answer {
		out = append(out, recordOf(q, rr, "answer"))
	}
	for _, rr := range extra {
		out = append(out, recordOf(q, rr, "additional"))
	}
	return out
}

// recordOf is rr as dig prints it: name, TTL, class, type, data, separated
// by tabs.
func recordOf(q string, rr dns.RR, section string) api.Record {
	h := rr.Header()
	return api.Record{Question: q, Name: h.Name, Type: dns.TypeToString[h.Rrtype], Section: section, RR: rr.String()}
}

// explainStaleness is the staleness budget of svc for explain.
func explainStaleness(svc *registry.Service, opts options) api.StalenessBudget {
	s := stalenessOf(svc, opts)
	return api.StalenessBudget{
		Seconds: s.budget().Seconds(), Detection: s.detection.Seconds(), TTL: s.ttl.Seconds(),
		NegativeTTL: float64(opts.negativeTTL), DetectionBy: s.by,
	}
}

// checkerOf returns the checker of the registry under key, nil when the
// registry is gone.
func checkerOf(key string) *checker {
	registries.Lock()
	defer registries.Unlock()
	if s, ok := registries.m[key]; ok {
		return s.checker
	}
	return nil
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func ago(now, t time.Time) string { return now.Sub(t).Round(time.Millisecond).String() }

func until(now, t time.Time) string { return t.Sub(now).Round(time.Millisecond).String() }

func utcOrZero(t time.Time) time.Time {
	if t.IsZero() {
		return t
	}
	return t.UTC()
}
