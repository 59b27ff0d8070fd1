package signpost

import (
	"fmt"
	"math"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

func checkSpec(interval, timeout time.Duration, fall int) string {
	return healthcheck.SpecOf(healthcheck.Check{Type: "tcp", Interval: interval, Timeout: timeout, Fall: fall}).Encode()
}

func TestDetectionOf(t *testing.T) {
	reg := registry.New(registry.Config{})
	must(t, reg.ApplyStatic([]registry.StaticService{
		{Config: registry.ServiceConfig{Name: "db"}, Instances: []registry.Instance{
			{ID: "db1", Address: netip.MustParseAddr("10.0.0.5"), Port: 3306, Weight: 1, Check: checkSpec(2*time.Second, time.Second, 3)},
			{ID: "db2", Address: netip.MustParseAddr("10.0.0.6"), Port: 3306, Weight: 1, Check: checkSpec(5*time.Second, 0, 2)},
		}},
		{Config: registry.ServiceConfig{Name: "static"}, Instances: []registry.Instance{
			{ID: "s1", Address: netip.MustParseAddr("10.0.0.7"), Port: 80, Weight: 1},
		}},
	}))
	for _, in := range []registry.Instance{
		{Service: "web", ID: "w1", Address: netip.MustParseAddr("10.0.1.1"), Port: 80, Weight: 1, TTL: 15 * time.Second},
		{Service: "web", ID: "w2", Address: netip.MustParseAddr("10.0.1.2"), Port: 80, Weight: 1, TTL: 30 * time.Second},
		{Service: "web", ID: "w3", Address: netip.MustParseAddr("10.0.1.3"), Port: 80, Weight: 1, Check: checkSpec(2*time.Second, time.Second, 3)},
	} {
		_, err := reg.Register(in)
		must(t, err)
	}
	snap := reg.Snapshot()
	for _, tc := range []struct {
		service string
		want    time.Duration
		by      string
	}{
		// db2: fall 2 x 5s + the default timeout of 2s beats db1's 3 x 2s + 1s.
		{"db", 12 * time.Second, "probe of db2: fall 2 x interval 5s + timeout 2s = 12s"},
		{"web", 30 * time.Second, "lease TTL 30s of w2"},
		{"static", 0, ""},
	} {
		got, by := detectionOf(snap.Service(tc.service), map[string]time.Duration{})
		if got != tc.want || by != tc.by {
			t.Errorf("%s: detection %v by %q, want %v by %q", tc.service, got, by, tc.want, tc.by)
		}
	}
}

func TestStalenessGauge(t *testing.T) {
	clock := &fakeNow{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	reg := registry.New(registry.Config{Now: clock.Now})
	const key = "staleness-test."
	setAnswerTTL(key, 5)
	sc := newStalenessCollector(func() map[string]*registry.Registry { return map[string]*registry.Registry{key: reg} })
	for _, in := range []registry.Instance{
		{Service: "web", ID: "w1", Address: netip.MustParseAddr("10.0.1.1"), Port: 80, Weight: 1, TTL: 15 * time.Second},
		{Service: "db", ID: "d1", Address: netip.MustParseAddr("10.0.2.1"), Port: 80, Weight: 1, Check: checkSpec(2*time.Second, time.Second, 3)},
	} {
		_, err := reg.Register(in)
		must(t, err)
	}
	const name = "coredns_signpost_staleness_budget_seconds"
	header := "# HELP " + name + " " + strings.SplitN(stalenessDesc.String(), `help: "`, 2)[1]
	header = header[:strings.Index(header, `"`)] + "\n# TYPE " + name + " gauge\n"
	want := header + name + `{service="db"} 12` + "\n" + name + `{service="web"} 20` + "\n"
	if err := testutil.CollectAndCompare(sc, strings.NewReader(want), name); err != nil {
		t.Error(err)
	}
	// A longer lease raises the budget; a service that goes takes its series.
	_, err := reg.Register(registry.Instance{Service: "web", ID: "w2", Address: netip.MustParseAddr("10.0.1.2"), Port: 80, Weight: 1, TTL: time.Minute})
	must(t, err)
	must(t, reg.Deregister("db", "d1"))
	want = header + name + `{service="web"} 65` + "\n"
	if err := testutil.CollectAndCompare(sc, strings.NewReader(want), name); err != nil {
		t.Error(err)
	}
	if len(sc.cache) != 1 {
		t.Errorf("the collector keeps %d services, want only web", len(sc.cache))
	}
}

// histogram returns the sample count and sum of detection_seconds for source.
func histogram(t *testing.T, source string) (uint64, float64) {
	t.Helper()
	g := prometheus.NewPedanticRegistry()
	g.MustRegister(detectionSeconds)
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "source" && l.GetValue() == source {
					return m.GetHistogram().GetSampleCount(), m.GetHistogram().GetSampleSum()
				}
			}
		}
	}
	return 0, 0
}

// wantObserved checks that source got exactly one more sample, of value
// want seconds, since count and sum were read.
func wantObserved(t *testing.T, source string, count uint64, sum, want float64) {
	t.Helper()
	n, s := histogram(t, source)
	// The histogram is the process's: samples of earlier tests make its
	// sum a float that the new one changes by want give or take rounding.
	if n != count+1 || math.Abs(s-sum-want) > 1e-9*max(1, math.Abs(s)) {
		t.Errorf("%s: %d new sample(s) adding %gs, want one of %gs", source, n-count, s-sum, want)
	}
}

func TestDetectionOfLeases(t *testing.T) {
	clock := &fakeNow{t: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	reg := registry.New(registry.Config{Now: clock.Now, SelfPreservation: -1, OnLapse: observeLapse})
	for _, id := range []string{"quiet", "sick"} {
		_, err := reg.Register(registry.Instance{Service: "web", ID: id, Address: netip.MustParseAddr("10.0.1.1"), Port: 80, Weight: 1, TTL: 10 * time.Second})
		must(t, err)
	}
	clock.t = clock.t.Add(4 * time.Second)
	_, err := reg.Heartbeat("web", "sick")
	must(t, err)

	clock.t = clock.t.Add(3 * time.Second) // 3s after sick's last heartbeat
	n, sum := histogram(t, detectionReport)
	_, _, err = reg.Report("web", "sick", registry.Critical, "health URL failed")
	must(t, err)
	wantObserved(t, detectionReport, n, sum, 3)

	clock.t = clock.t.Add(4 * time.Second) // 11s after quiet's registration
	n, sum = histogram(t, detectionLease)
	reg.Sweep()
	wantObserved(t, detectionLease, n, sum, 11)

	// A warning report is not a removal: serve-warning may serve it.
	n, _ = histogram(t, detectionReport)
	_, err = reg.Heartbeat("web", "quiet")
	must(t, err)
	_, _, err = reg.Report("web", "quiet", registry.Warning, "slow")
	must(t, err)
	if got, _ := histogram(t, detectionReport); got != n {
		t.Errorf("a warning report was counted as a removal")
	}
}

func TestDetectionOfProbes(t *testing.T) {
	t0 := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	r := healthcheck.Result{Probed: true, Last: healthcheck.Critical, LastOK: t0, At: t0.Add(6 * time.Second), Latency: 500 * time.Millisecond}
	n, sum := histogram(t, detectionProbe)
	observeProbeLapse(r, registry.Passing)
	wantObserved(t, detectionProbe, n, sum, 6.5)

	// Not counted: an instance critical already, or one never seen passing.
	observeProbeLapse(r, registry.Critical)
	r.LastOK = time.Time{}
	observeProbeLapse(r, registry.Passing)
	if got, _ := histogram(t, detectionProbe); got != n+1 {
		t.Errorf("%d samples, want only the first", got-n)
	}
}

// stalenessRegistry holds services services of perService instances each, half
// with leases and half probed.
func stalenessRegistry(b *testing.B, services, perService int) map[string]*registry.Registry {
	b.Helper()
	reg := registry.New(registry.Config{})
	spec := checkSpec(2*time.Second, time.Second, 3)
	for s := range services {
		for i := range perService {
			in := registry.Instance{Service: fmt.Sprintf("svc-%d", s), ID: fmt.Sprintf("i-%d", i),
				Address: netip.AddrFrom4([4]byte{10, byte(s >> 8), byte(s), byte(i)}), Port: 80, Weight: 1}
			if i%2 == 0 {
				in.TTL = 15 * time.Second
			} else {
				in.Check = spec
			}
			if _, err := reg.Register(in); err != nil {
				b.Fatal(err)
			}
		}
	}
	return map[string]*registry.Registry{"bench.": reg}
}

// BenchmarkStalenessScrape measures one scrape of the staleness gauge over
// 1000 services of 20 instances: with the budgets of unchanged services
// kept from the last scrape (the steady state), and computed afresh.
func BenchmarkStalenessScrape(b *testing.B) {
	regs := stalenessRegistry(b, 1000, 20)
	b.Run("unchanged", func(b *testing.B) {
		sc := newStalenessCollector(nil)
		sc.budgets(regs)
		b.ReportAllocs()
		for b.Loop() {
			sc.budgets(regs)
		}
	})
	b.Run("afresh", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			newStalenessCollector(nil).budgets(regs)
		}
	})
}
