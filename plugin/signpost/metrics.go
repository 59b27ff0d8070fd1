package signpost

import (
	"time"

	"github.com/coredns/coredns/plugin"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// Query results, the values of the "result" label.
const (
	resultSuccess  = "success"
	resultFailover = "failover"
	resultNXDomain = "nxdomain"
	resultNoData   = "nodata"
	resultRefused  = "refused"
	resultServfail = "servfail"
)

var queriesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: "signpost",
	Name:      "queries_total",
	Help:      "Counter of queries answered by the signpost plugin, by query type and result.",
}, []string{"type", "result"})

// answersTotal counts replies by the path that wrote them, so that an
// operator can see whether the plugins before signpost in the Corefile keep
// the fast path (see rawWriter).
var answersTotal = promauto.NewCounterVec(prometheus.CounterOpts{
	Namespace: plugin.Namespace,
	Subsystem: "signpost",
	Name:      "answers_total",
	Help:      "Counter of replies written by the signpost plugin, by path: packed (written as bytes from the answer cache) or general (built as a message).",
}, []string{"path"})

// The counters of answersTotal, resolved once.
var (
	packedAnswers  = answersTotal.WithLabelValues("packed")
	generalAnswers = answersTotal.WithLabelValues("general")
)

var (
	probesTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "signpost",
		Name:      "probes_total",
		Help:      "Counter of active health probes run, by check type and result.",
	}, []string{"type", "result"})
	probeDuration = promauto.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: plugin.Namespace,
		Subsystem: "signpost",
		Name:      "probe_duration_seconds",
		Help:      "Histogram of the time active health probes took, by check type.",
		Buckets:   []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"type"})
	transitionsTotal = promauto.NewCounterVec(prometheus.CounterOpts{
		Namespace: plugin.Namespace,
		Subsystem: "signpost",
		Name:      "health_transitions_total",
		Help:      "Counter of instance health state changes found by active checks, by new state.",
	}, []string{"state"})
)

// detectionSeconds measures how long Signpost took to stop serving an
// instance that failed, by what found it: its lease running out, its
// sidecar's report, or its probe.
var detectionSeconds = promauto.NewHistogramVec(prometheus.HistogramOpts{
	Namespace: plugin.Namespace,
	Subsystem: "signpost",
	Name:      "detection_seconds",
	Help:      "Histogram of the time from an instance's last good heartbeat or probe to its removal from answers (turned critical), by source: lease, report or probe.",
	Buckets:   []float64{.1, .25, .5, 1, 2.5, 5, 10, 15, 30, 60, 120, 300, 900},
}, []string{"source"})

// observeProbe records one probe in the metrics.
func observeProbe(checkType string, s healthcheck.Status, d time.Duration) {
	probesTotal.WithLabelValues(checkType, s.String()).Inc()
	probeDuration.WithLabelValues(checkType).Observe(d.Seconds())
}

// The values of the "type" label: a fixed set, so that a client cannot
// grow the metric by asking for odd types.
var (
	typeLabels   = []string{"A", "AAAA", "SRV", "ANY", "SOA", "CNAME", "other"}
	resultLabels = []string{resultSuccess, resultFailover, resultNXDomain, resultNoData, resultRefused, resultServfail}
	// queryCounters holds every counter of queriesTotal, resolved once:
	// looking a counter up by its labels on each query costs more than
	// answering it from the packed cache.
	queryCounters = func() map[string][]prometheus.Counter {
		m := make(map[string][]prometheus.Counter, len(resultLabels))
		for _, res := range resultLabels {
			for _, t := range typeLabels {
				m[res] = append(m[res], queriesTotal.WithLabelValues(t, res))
			}
		}
		return m
	}()
)

func typeIndex(qtype uint16) int {
	switch qtype {
	case dns.TypeA:
		return 0
	case dns.TypeAAAA:
		return 1
	case dns.TypeSRV:
		return 2
	case dns.TypeANY:
		return 3
	case dns.TypeSOA:
		return 4
	case dns.TypeCNAME:
		return 5
	}
	return 6
}

// countQuery counts one query of type qtype with result res.
func countQuery(qtype uint16, res string) { queryCounters[res][typeIndex(qtype)].Inc() }

var (
	instancesDesc = prometheus.NewDesc(
		prometheus.BuildFQName(plugin.Namespace, "signpost", "instances"),
		"Number of registered instances, by health state.",
		[]string{"registry", "state"}, nil)
	servicesDesc = prometheus.NewDesc(
		prometheus.BuildFQName(plugin.Namespace, "signpost", "services"),
		"Number of services in the registry.",
		[]string{"registry"}, nil)
	indexDesc = prometheus.NewDesc(
		prometheus.BuildFQName(plugin.Namespace, "signpost", "registry_index"),
		"Change index of the registry.",
		[]string{"registry"}, nil)
	etcdConnectedDesc = prometheus.NewDesc(
		prometheus.BuildFQName(plugin.Namespace, "signpost", "etcd_connected"),
		"1 while a registry shared through etcd is connected to it, else 0.",
		[]string{"registry"}, nil)
	preservingDesc = prometheus.NewDesc(
		prometheus.BuildFQName(plugin.Namespace, "signpost", "self_preservation_active"),
		"1 while lease expiry is paused by self-preservation, else 0.",
		[]string{"registry"}, nil)
)

// registryCollector reads the gauges of every live registry at scrape time,
// so that no write path updates a metric.
type registryCollector struct{}

func (registryCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- instancesDesc
	ch <- servicesDesc
	ch <- indexDesc
	ch <- preservingDesc
	ch <- etcdConnectedDesc
}

func (registryCollector) Collect(ch chan<- prometheus.Metric) {
	for name, reg := range liveRegistries() {
		snap := reg.Snapshot()
		for _, h := range []registry.Health{registry.Passing, registry.Warning, registry.Critical} {
			ch <- prometheus.MustNewConstMetric(instancesDesc, prometheus.GaugeValue, float64(snap.Count(h)), name, h.String())
		}
		ch <- prometheus.MustNewConstMetric(servicesDesc, prometheus.GaugeValue, float64(snap.Len()), name)
		ch <- prometheus.MustNewConstMetric(indexDesc, prometheus.GaugeValue, float64(snap.Index()), name)
		preserving := 0.0
		if reg.SelfPreserving() {
			preserving = 1
		}
		ch <- prometheus.MustNewConstMetric(preservingDesc, prometheus.GaugeValue, preserving, name)
		if shared, connected := reg.Shared(); shared {
			ch <- prometheus.MustNewConstMetric(etcdConnectedDesc, prometheus.GaugeValue, boolGauge(connected), name)
		}
	}
}

func init() { prometheus.MustRegister(registryCollector{}) }

func boolGauge(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
