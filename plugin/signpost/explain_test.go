package signpost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// testExplainer explains sp's answers, with no checker, at a fixed time.
func testExplainer(sp *Signpost, now time.Time) *explainer {
	return &explainer{sp: sp, checker: func() *checker { return nil }, now: func() time.Time { return now }}
}

func explainOf(t *testing.T, x *explainer, service, tag string) api.Explanation {
	t.Helper()
	e, err := x.explain(context.Background(), service, tag)
	if err != nil {
		t.Fatalf("explain %s tag %q: %v", service, tag, err)
	}
	return e
}

func instanceOf(t *testing.T, e api.Explanation, id string) api.InstanceReport {
	t.Helper()
	for _, in := range e.Instances {
		if in.ID == id {
			return in
		}
	}
	t.Fatalf("explanation of %s lacks instance %s", e.Service, id)
	return api.InstanceReport{}
}

func codes(rs []api.Reason) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Code
	}
	return out
}

func hasCode(rs []api.Reason, code string) bool { return slices.Contains(codes(rs), code) }

// servedIDs returns the ids of the instances explained as served.
func servedIDs(e api.Explanation) []string {
	var ids []string
	for _, in := range e.Instances {
		if in.Served {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

// checkRecordsMatchDNS asks sp every question that e lists records for,
// and the questions of the service's names, and checks that the reply holds
// exactly the records e lists for it, in both sections.
func checkRecordsMatchDNS(t *testing.T, sp *Signpost, e api.Explanation) {
	t.Helper()
	for _, q := range explainQuestions(testZone, e.Service, e.Tag) {
		question := q.name + " " + dns.TypeToString[q.qtype]
		var want []string
		for _, r := range e.Records {
			if r.Question == question {
				want = append(want, r.RR)
			}
		}
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		rec := dnstest.NewRecorder(&test.ResponseWriter{})
		if _, err := sp.ServeDNS(context.Background(), rec, m); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, rr := range append(rec.Msg.Answer, rec.Msg.Extra...) {
			got = append(got, rr.String())
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s: DNS answers\n  %s\nexplain lists\n  %s", question, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

func TestExplainHealthAndRecords(t *testing.T) {
	sp := newTestSignpost(t)
	e := explainOf(t, testExplainer(sp, time.Now()), "web", "")
	if got := servedIDs(e); !slices.Equal(got, []string{"w1", "w2"}) {
		t.Errorf("served %v, want w1 w2 (w3 critical, w4 warning)", got)
	}
	for id, code := range map[string]string{"w1": api.ReasonPassing, "w3": api.ReasonCritical, "w4": api.ReasonWarning} {
		if in := instanceOf(t, e, id); !hasCode(in.Reasons, code) {
			t.Errorf("%s: reasons %v, want %s", id, codes(in.Reasons), code)
		}
	}
	if in := instanceOf(t, e, "w1"); in.Source.Kind != api.SourceStatic || in.Address != "10.0.1.1" || in.Port != 8080 {
		t.Errorf("w1: %+v", in)
	}
	if e.Eligible != 2 || e.Answered != 2 || e.Settings.TTL != 5 || e.Settings.NegativeTTL != 7 {
		t.Errorf("eligible %d, answered %d, settings %+v", e.Eligible, e.Answered, e.Settings)
	}
	want := []string{
		"web.svc.internal.\t5\tIN\tA\t10.0.1.1",
		"web.svc.internal.\t5\tIN\tAAAA\t2001:db8::2",
	}
	for _, w := range want {
		if !slices.ContainsFunc(e.Records, func(r api.Record) bool { return r.RR == w }) {
			t.Errorf("records lack %q: %+v", w, e.Records)
		}
	}
	checkRecordsMatchDNS(t, sp, e)
}

func TestExplainServeWarning(t *testing.T) {
	sp := newTestSignpost(t)
	sp.opts.serveWarning = true
	e := explainOf(t, testExplainer(sp, time.Now()), "web", "")
	w4 := instanceOf(t, e, "w4")
	if !w4.Served || !hasCode(w4.Reasons, api.ReasonWarningServed) {
		t.Errorf("w4 with serve-warning: served %v, reasons %v", w4.Served, codes(w4.Reasons))
	}
	checkRecordsMatchDNS(t, sp, e)
}

func TestExplainTagFilter(t *testing.T) {
	sp := newTestSignpost(t)
	x := testExplainer(sp, time.Now())
	e := explainOf(t, x, "web", "blue")
	if got := servedIDs(e); !slices.Equal(got, []string{"w1"}) {
		t.Errorf("served %v, want w1", got)
	}
	if w2 := instanceOf(t, e, "w2"); !hasCode(w2.Reasons, api.ReasonTagFilter) {
		t.Errorf("w2 lacks the tag blue: reasons %v", codes(w2.Reasons))
	}
	if w1 := instanceOf(t, e, "w1"); !hasCode(w1.Reasons, api.ReasonTagMatch) {
		t.Errorf("w1: reasons %v", codes(w1.Reasons))
	}
	checkRecordsMatchDNS(t, sp, e)

	e = explainOf(t, x, "web", "nosuchtag")
	if len(e.Records) != 0 || !hasCode(e.Reasons, api.ReasonTagFilter) || len(servedIDs(e)) != 0 {
		t.Errorf("a tag no instance carries: records %v, reasons %v, served %v", e.Records, codes(e.Reasons), servedIDs(e))
	}
	checkRecordsMatchDNS(t, sp, e)
}

func TestExplainMaxAnswers(t *testing.T) {
	sp := newTestSignpost(t)
	sp.opts.maxAnswers = 1
	e := explainOf(t, testExplainer(sp, time.Now()), "mysql", "")
	if e.Eligible != 2 || e.Answered != 1 || !hasCode(e.Reasons, api.ReasonMaxAnswers) {
		t.Errorf("eligible %d, answered %d, reasons %v; want 2, 1 and max-answers", e.Eligible, e.Answered, codes(e.Reasons))
	}
	for _, id := range []string{"db1", "db2"} {
		if in := instanceOf(t, e, id); !in.Served || !hasCode(in.Reasons, api.ReasonMaxAnswers) {
			t.Errorf("%s: served %v, reasons %v", id, in.Served, codes(in.Reasons))
		}
	}
	// Every record an answer may hold is listed; each answer holds one.
	n := 0
	for _, r := range e.Records {
		if r.Question == "mysql.svc.internal. A" {
			n++
		}
	}
	if n != 2 {
		t.Errorf("%d A records listed, want both addresses", n)
	}
	m := new(dns.Msg)
	m.SetQuestion("mysql.svc.internal.", dns.TypeA)
	rec := dnstest.NewRecorder(&test.ResponseWriter{})
	sp.ServeDNS(context.Background(), rec, m)
	if len(rec.Msg.Answer) != 1 || !slices.ContainsFunc(e.Records, func(r api.Record) bool { return r.RR == rec.Msg.Answer[0].String() }) {
		t.Errorf("DNS answered %v, not one of the records explained", rec.Msg.Answer)
	}
}

func TestExplainFailover(t *testing.T) {
	sp := newTestSignpost(t)
	x := testExplainer(sp, time.Now())
	e := explainOf(t, x, "vip", "")
	if !e.Failover.Active || e.Failover.Target != "10.0.0.200" || e.Failover.MinHealthy != 1 || e.Failover.Healthy != 0 {
		t.Errorf("failover %+v", e.Failover)
	}
	if !hasCode(e.Reasons, api.ReasonMinHealthy) || !hasCode(e.Reasons, api.ReasonFailover) || e.Answered != 0 {
		t.Errorf("reasons %v, answered %d", codes(e.Reasons), e.Answered)
	}
	checkRecordsMatchDNS(t, sp, e)

	e = explainOf(t, x, "lb", "")
	if !e.Failover.Active || e.Failover.Target != "lb.example.org." {
		t.Errorf("lb failover %+v", e.Failover)
	}
	if len(e.Records) == 0 || e.Records[0].RR != "lb.svc.internal.\t5\tIN\tCNAME\tlb.example.org." {
		t.Errorf("lb records %+v, want the CNAME", e.Records)
	}

	// An eligible instance is not served while the failover answers.
	must(t, sp.reg.ApplyStatic([]registry.StaticService{{
		Config: registry.ServiceConfig{Name: "pair", MinHealthy: 2, Failover: registry.Failover{Addrs: []netip.Addr{netip.MustParseAddr("10.0.9.9")}}},
		Instances: []registry.Instance{
			{ID: "p1", Address: netip.MustParseAddr("10.0.9.1"), Port: 80, Weight: 1},
			{ID: "p2", Address: netip.MustParseAddr("10.0.9.2"), Port: 80, Weight: 1},
		},
	}}))
	must(t, sp.reg.SetHealth("pair", "p2", registry.Critical))
	e = explainOf(t, x, "pair", "")
	if p1 := instanceOf(t, e, "p1"); p1.Served || !hasCode(p1.Reasons, api.ReasonFailover) {
		t.Errorf("p1 during failover: served %v, reasons %v", p1.Served, codes(p1.Reasons))
	}
	checkRecordsMatchDNS(t, sp, e)

}

func TestExplainNoInstances(t *testing.T) {
	sp := newTestSignpost(t)
	e := explainOf(t, testExplainer(sp, time.Now()), "down", "")
	if !hasCode(e.Reasons, api.ReasonNoInstances) || len(e.Records) != 0 {
		t.Errorf("reasons %v, records %v", codes(e.Reasons), e.Records)
	}
}

func TestExplainUnknownService(t *testing.T) {
	sp := newTestSignpost(t)
	_, err := testExplainer(sp, time.Now()).explain(context.Background(), "nosuch", "")
	if !errors.Is(err, registry.ErrNotFound) {
		t.Errorf("err %v, want ErrNotFound", err)
	}
}

// fakeNow is a settable clock.
type fakeNow struct{ t time.Time }

func (c *fakeNow) Now() time.Time { return c.t }

func TestExplainLease(t *testing.T) {
	clock := &fakeNow{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	reg := registry.New(registry.Config{Now: clock.Now, SelfPreservation: -1})
	sp := &Signpost{Zones: []string{testZone}, reg: reg, opts: options{ttl: 5, negativeTTL: 5}}
	x := &explainer{sp: sp, checker: func() *checker { return nil }, now: clock.Now}
	for _, id := range []string{"a", "b"} {
		_, err := reg.Register(registry.Instance{Service: "api", ID: id, Address: netip.MustParseAddr("10.0.0.1"), Port: 80, Weight: 1, TTL: 10 * time.Second})
		must(t, err)
	}
	clock.t = clock.t.Add(4 * time.Second)
	_, err := reg.Heartbeat("api", "a")
	must(t, err)
	clock.t = clock.t.Add(7 * time.Second) // b's lease ran out a second ago
	reg.Sweep()

	e := explainOf(t, x, "api", "")
	a, b := instanceOf(t, e, "a"), instanceOf(t, e, "b")
	if !a.Served || a.Source.Kind != api.SourceLease || a.Source.LeaseTTL != 10 || !a.Source.LeaseDeadline.Equal(clock.t.Add(3*time.Second)) || !hasCode(a.Reasons, api.ReasonLeaseLive) {
		t.Errorf("a: %+v", a)
	}
	if b.Served || !b.Source.Expired || !hasCode(b.Reasons, api.ReasonLeaseExpired) || !hasCode(b.Reasons, api.ReasonCritical) {
		t.Errorf("b: %+v", b)
	}
	if e.StalenessBudget.Detection != 10 || e.StalenessBudget.TTL != 5 || e.StalenessBudget.Seconds != 15 || e.StalenessBudget.NegativeTTL != 5 {
		t.Errorf("staleness budget %+v, want 10s lease + 5s TTL", e.StalenessBudget)
	}

	// A sidecar's report of critical.
	_, _, err = reg.Report("api", "a", registry.Critical, "db down")
	must(t, err)
	a = instanceOf(t, explainOf(t, x, "api", ""), "a")
	if a.Served || a.Source.Kind != api.SourceReport || !hasCode(a.Reasons, api.ReasonReported) {
		t.Errorf("a reported critical: %+v", a)
	}
	// The critical reason says since when and why, from the event log.
	for _, r := range a.Reasons {
		if r.Code == api.ReasonCritical && !strings.Contains(r.Text, "critical since 2030-01-02T03:04:16Z (0s ago): db down") {
			t.Errorf("critical reason %q: want since when and the sidecar's output", r.Text)
		}
	}
}

func TestExplainSelfPreservation(t *testing.T) {
	clock := &fakeNow{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	reg := registry.New(registry.Config{Now: clock.Now})
	sp := &Signpost{Zones: []string{testZone}, reg: reg, opts: options{ttl: 5, negativeTTL: 5}}
	x := &explainer{sp: sp, checker: func() *checker { return nil }, now: clock.Now}
	for _, id := range []string{"a", "b", "c", "d"} {
		_, err := reg.Register(registry.Instance{Service: "api", ID: id, Address: netip.MustParseAddr("10.0.0.1"), Port: 80, Weight: 1, TTL: 10 * time.Second})
		must(t, err)
	}
	clock.t = clock.t.Add(11 * time.Second)
	reg.Sweep()
	e := explainOf(t, x, "api", "")
	if !e.SelfPreservation || !hasCode(e.Reasons, api.ReasonSelfPreservation) {
		t.Fatalf("self-preservation %v, reasons %v", e.SelfPreservation, codes(e.Reasons))
	}
	a := instanceOf(t, e, "a")
	if !a.Served || !a.Source.Held || !hasCode(a.Reasons, api.ReasonSelfPreservation) {
		t.Errorf("a held: %+v", a)
	}
	checkRecordsMatchDNS(t, sp, e)
}

func TestExplainProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			conn.Close()
		}
	}()
	reg := registry.New(registry.Config{})
	spec := healthcheck.SpecOf(healthcheck.Check{Type: "tcp", Interval: 20 * time.Millisecond, Timeout: 10 * time.Millisecond, Rise: 1, Fall: 1}).Encode()
	must(t, reg.ApplyStatic([]registry.StaticService{{
		Config:    registry.ServiceConfig{Name: "db"},
		Instances: []registry.Instance{{ID: "db1", Address: netip.MustParseAddr("127.0.0.1"), Port: uint16(port), Weight: 1, Check: spec}},
	}}))
	c := newChecker(reg)
	c.start()
	defer c.stop()
	waitHealth(t, reg, "db", "db1", registry.Passing)
	l.Close() // nothing listens any more: the next probe fails at once
	waitHealth(t, reg, "db", "db1", registry.Critical)
	sp := &Signpost{Zones: []string{testZone}, reg: reg, opts: options{ttl: 5, negativeTTL: 5}}
	x := &explainer{sp: sp, checker: func() *checker { return c }, now: time.Now}
	db1 := instanceOf(t, explainOf(t, x, "db", ""), "db1")
	src := db1.Source
	if src.Kind != api.SourceProbe || src.Check == nil || src.Check.Type != "tcp" || src.Check.Fall != 1 || src.LastProbe == nil {
		t.Fatalf("source %+v", src)
	}
	if src.LastProbe.Status != "critical" || !strings.Contains(src.LastProbe.Output, "refused") || src.LastProbe.Time.IsZero() {
		t.Errorf("last probe %+v, want critical, connection refused", src.LastProbe)
	}
	if db1.Served || !hasCode(db1.Reasons, api.ReasonProbe) || !hasCode(db1.Reasons, api.ReasonCritical) {
		t.Errorf("db1: served %v, reasons %v", db1.Served, codes(db1.Reasons))
	}
}

// BenchmarkExplain measures one explanation of a service of 100 lease
// instances, with a full event log (1000 events) to search.
func BenchmarkExplain(b *testing.B) {
	reg := registry.New(registry.Config{})
	for i := range 100 {
		in := registry.Instance{Service: "web", ID: fmt.Sprintf("w%d", i), Address: netip.AddrFrom4([4]byte{10, 0, 1, byte(i)}),
			Port: 8080, Weight: 1, TTL: 15 * time.Second}
		if _, err := reg.Register(in); err != nil {
			b.Fatal(err)
		}
	}
	for i := range 900 {
		h := registry.Critical
		if i%2 == 1 {
			h = registry.Passing
		}
		if _, _, err := reg.Report("web", fmt.Sprintf("w%d", i%100), h, "flapping"); err != nil {
			b.Fatal(err)
		}
	}
	sp := &Signpost{Zones: []string{testZone}, reg: reg, opts: options{ttl: 5, negativeTTL: 5}, cache: newAnswerCache(100)}
	x := &explainer{sp: sp, checker: func() *checker { return nil }, now: time.Now}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := x.explain(context.Background(), "web", ""); err != nil {
			b.Fatal(err)
		}
	}
}
