package signpost

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// Staleness is how long a client may still be sent to an instance after it
// failed. Two figures bound it: detection, how long Signpost may take to
// notice (the lease TTL of a heartbeat instance; fall probes an interval
// apart plus the last one's timeout for a probed one; the longest over the
// service's instances), and the answer TTL, how long a resolver may keep
// the answer that still holds the instance. The budget is their sum, per
// service, exported as a gauge and shown by explain; detection_seconds
// measures the real thing.

// staleness is the staleness budget of one service.
type staleness struct {
	detection time.Duration
	by        string // what sets detection, for people
	ttl       time.Duration
}

func (s staleness) budget() time.Duration { return s.detection + s.ttl }

// detectionOf returns the longest time Signpost may take to notice that an
// instance of svc failed, and what sets it. Instances without a lease or a
// check never turn critical and add nothing. specs memoizes decoded checks.
func detectionOf(svc *registry.Service, specs map[string]time.Duration) (time.Duration, string) {
	var d time.Duration
	var by string
	for _, in := range svc.Instances() {
		if in.TTL > d {
			d, by = in.TTL, fmt.Sprintf("lease TTL %s of %s", in.TTL, in.ID)
		}
		if in.Check == "" {
			continue
		}
		cd, ok := specs[in.Check]
		if !ok {
			c, err := healthcheck.DecodeSpec(in.Check)
			if err == nil {
				cd = c.Detection()
			}
			specs[in.Check] = cd // an undecodable check never runs: its instance stays critical
		}
		if cd > d {
			d, by = cd, probeDetectionText(in, cd)
		}
	}
	return d, by
}

func probeDetectionText(in registry.Instance, d time.Duration) string {
	c, err := healthcheck.DecodeSpec(in.Check)
	if err != nil {
		return fmt.Sprintf("probe of %s", in.ID)
	}
	c = c.WithDefaults()
	return fmt.Sprintf("probe of %s: fall %d x interval %s + timeout %s = %s", in.ID, c.Fall, c.Interval, c.Timeout, d)
}

// stalenessOf returns the staleness budget of svc under the answer options.
func stalenessOf(svc *registry.Service, opts options) staleness {
	d, by := detectionOf(svc, make(map[string]time.Duration))
	return staleness{detection: d, by: by, ttl: time.Duration(opts.ttl) * time.Second}
}

// answerTTLs holds the answer TTL of each registry by its key, for the
// staleness gauge, which is read from the registries at scrape time.
var answerTTLs = struct {
	sync.Mutex
	m map[string]uint32
}{m: make(map[string]uint32)}

// setAnswerTTL records the answer TTL that the Corefile gives the names of
// the registry under key.
func setAnswerTTL(key string, ttl uint32) {
	answerTTLs.Lock()
	defer answerTTLs.Unlock()
	answerTTLs.m[key] = ttl
}

func answerTTL(key string) time.Duration {
	answerTTLs.Lock()
	defer answerTTLs.Unlock()
	ttl, ok := answerTTLs.m[key]
	if !ok {
		ttl = uint32(defaultTTL.Seconds())
	}
	return time.Duration(ttl) * time.Second
}

var stalenessDesc = prometheus.NewDesc(
	prometheus.BuildFQName(plugin.Namespace, "signpost", "staleness_budget_seconds"),
	"Longest time a client may still be sent to an instance of a service after it failed: "+
		"detection (lease TTL, or probe fall x interval + timeout, the longest over the service's instances) plus the answer TTL.",
	[]string{"service"}, nil)

// stalenessCollector reports the staleness budget of every service of the
// live registries at scrape time: a service that goes away takes its series
// with it, so the label's values are the services that exist. Budgets are
// kept per service and computed again only when the service changed.
type stalenessCollector struct {
	regs func() map[string]*registry.Registry // the live registries by key

	mu    sync.Mutex
	cache map[stalenessKey]stalenessEntry
}

type stalenessKey struct{ registry, service string }

type stalenessEntry struct {
	index     uint64 // the service's ModifyIndex when computed
	detection time.Duration
}

func newStalenessCollector(regs func() map[string]*registry.Registry) *stalenessCollector {
	return &stalenessCollector{regs: regs, cache: make(map[stalenessKey]stalenessEntry)}
}

func (sc *stalenessCollector) Describe(ch chan<- *prometheus.Desc) { ch <- stalenessDesc }

func (sc *stalenessCollector) Collect(ch chan<- prometheus.Metric) {
	for service, budget := range sc.budgets(sc.regs()) {
		ch <- prometheus.MustNewConstMetric(stalenessDesc, prometheus.GaugeValue, budget.Seconds(), service)
	}
}

// budgets returns the staleness budget of each service of regs. A service
// that several registries (server blocks) hold gets the largest.
func (sc *stalenessCollector) budgets(regs map[string]*registry.Registry) map[string]time.Duration {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	next := make(map[stalenessKey]stalenessEntry, len(sc.cache))
	specs := make(map[string]time.Duration)
	out := make(map[string]time.Duration)
	for key, reg := range regs {
		ttl := answerTTL(key)
		for _, svc := range reg.Snapshot().Services() {
			k := stalenessKey{key, svc.Name()}
			e, ok := sc.cache[k]
			if !ok || e.index != svc.ModifyIndex() {
				e.index = svc.ModifyIndex()
				e.detection, _ = detectionOf(svc, specs)
			}
			next[k] = e
			out[svc.Name()] = max(out[svc.Name()], e.detection+ttl)
		}
	}
	sc.cache = next // forgets the services that went away
	return out
}

func init() { prometheus.MustRegister(newStalenessCollector(liveRegistries)) }

// Detection sources, the values of the "source" label of detection_seconds.
const (
	detectionLease  = "lease"  // the lease ran out
	detectionReport = "report" // the sidecar reported the instance critical
	detectionProbe  = "probe"  // the probe found it failing
)

// observeLapse records how long the registry took to stop serving a lease
// instance that turned critical: from its last good heartbeat to the lapse.
func observeLapse(l registry.Lapse) {
	if l.To != registry.Critical {
		return // a warning instance may still be served (serve-warning)
	}
	source := detectionLease
	if l.Reported {
		source = detectionReport
	}
	detectionSeconds.WithLabelValues(source).Observe(l.At.Sub(l.LastRenewal).Seconds())
}

// observeProbeLapse records how long a probe took to stop the serving of an
// instance that turned critical: from the start of its last probe that did
// not fail to the end of the probe that turned it. Instances that never
// passed a probe were never served and are not counted.
func observeProbeLapse(r healthcheck.Result, from registry.Health) {
	if from == registry.Critical || r.LastOK.IsZero() || !r.Probed {
		return
	}
	removed := r.At.Add(r.Latency)
	detectionSeconds.WithLabelValues(detectionProbe).Observe(removed.Sub(r.LastOK).Seconds())
}

// noteCritical measures the detection of an instance whose probe just
// turned it critical; call it before the registry learns the new state.
func (c *checker) noteCritical(key string) {
	service, id, _ := strings.Cut(key, "/")
	svc := c.reg.Snapshot().Service(service)
	if svc == nil {
		return
	}
	in, ok := svc.Instance(id)
	r, probed := c.sched.Result(key)
	if ok && probed {
		observeProbeLapse(r, in.Health)
	}
}
