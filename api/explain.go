package api

import (
	"context"
	"net/http"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// explainPath is the resource that says why each instance of a service is
// or is not in its DNS answers.
const explainPath = "/v1/explain/{service}"

// ExplainFunc explains the DNS answers of service as a query made now gets
// them, for the instances carrying tag (all of them when tag is empty). It
// returns an error wrapping registry.ErrNotFound for an unknown service.
// The DNS server implements it: the API knows nothing of DNS.
type ExplainFunc func(ctx context.Context, service, tag string) (Explanation, error)

// Explanation is the answer of GET /v1/explain/{service}: for each instance,
// whether a DNS query made now includes it and every reason that decides
// it; what the service as a whole does (failover, max-answers,
// self-preservation); the records each name of the service answers now, as
// dig prints them; and how stale an answer may be.
type Explanation struct {
	Service string    `json:"service"`
	Tag     string    `json:"tag,omitempty"` // the tag filter asked for, if any
	Zones   []string  `json:"zones"`         // the zones the names below are in
	Index   uint64    `json:"index"`         // the registry change index explained
	Time    time.Time `json:"time"`          // when the explanation was made

	// Settings are the answer settings of the server that explains.
	Settings ExplainSettings `json:"settings"`
	// Eligible is how many instances pass every filter (health, tag);
	// Answered how many of them one answer holds (fewer under max-answers,
	// none under failover).
	Eligible int `json:"eligible"`
	Answered int `json:"answered"`
	// SelfPreservation is true while lease expiry is paused.
	SelfPreservation bool             `json:"self_preservation"`
	Failover         FailoverState    `json:"failover"`
	StalenessBudget  StalenessBudget  `json:"staleness_budget"`
	Reasons          []Reason         `json:"reasons"` // what applies to the whole service
	Instances        []InstanceReport `json:"instances"`
	Records          []Record         `json:"records"`
}

// ExplainSettings are the Corefile settings that shape the answers.
type ExplainSettings struct {
	TTL          uint32 `json:"ttl"`          // seconds
	NegativeTTL  uint32 `json:"negative_ttl"` // seconds
	MaxAnswers   int    `json:"max_answers"`  // 0: all that fit
	ServeWarning bool   `json:"serve_warning"`
}

// FailoverState tells whether the service's failover answers instead of its
// instances: it does when fewer than MinHealthy instances are eligible.
type FailoverState struct {
	Configured bool   `json:"configured"`
	Active     bool   `json:"active"`
	Target     string `json:"target,omitempty"` // the VIP addresses or the CNAME target
	MinHealthy int    `json:"min_healthy"`
	Healthy    int    `json:"healthy"` // eligible instances, compared with MinHealthy
}

// StalenessBudget is the longest time a client may still be sent to an
// instance after it failed: Detection, the time Signpost may take to notice
// (the longest lease TTL, or fall x interval + timeout of a probe, over the
// service's instances), plus TTL, the time a resolver may keep the answer.
// A client that asked before the service existed may keep the negative
// answer NegativeTTL seconds. All in seconds.
type StalenessBudget struct {
	Seconds     float64 `json:"seconds"`
	Detection   float64 `json:"detection"`
	TTL         float64 `json:"ttl"`
	NegativeTTL float64 `json:"negative_ttl"`
	// DetectionBy names what sets Detection, e.g. "lease 15s of web-1".
	DetectionBy string `json:"detection_by,omitempty"`
}

// InstanceReport is one instance and why it is or is not answered.
type InstanceReport struct {
	ID      string   `json:"id"`
	Address string   `json:"address"`
	Port    uint16   `json:"port"`
	Tags    []string `json:"tags"`
	Weight  uint16   `json:"weight"`
	Health  string   `json:"health"` // passing, warning or critical
	// Source is where the health comes from.
	Source HealthSource `json:"source"`
	// Served is true when a query made now may answer this instance: under
	// max-answers, each answer holds a random few of the served ones.
	Served  bool     `json:"served"`
	Reasons []Reason `json:"reasons"`
}

// The kinds of HealthSource.
const (
	SourceLease  = "lease"  // heartbeats renew a lease
	SourceReport = "report" // the instance's sidecar reported its health
	SourceProbe  = "probe"  // an active health check
	SourceStatic = "static" // no lease and no check: always passing
)

// HealthSource is where an instance's health comes from, with what that
// source last said.
type HealthSource struct {
	Kind string `json:"kind"` // lease, report, probe or static

	// Leases (kind lease or report).
	LeaseTTL float64 `json:"lease_ttl,omitempty"` // seconds
	// LeaseDeadline is when the lease runs out, or ran out when Expired.
	LeaseDeadline time.Time `json:"lease_deadline,omitzero"`
	Expired       bool      `json:"expired,omitempty"`
	// Held is true when self-preservation holds a lease that fell due:
	// the instance is served though it stopped renewing.
	Held bool `json:"held,omitempty"`

	// Probes (kind probe).
	Check     *CheckSettings `json:"check,omitempty"`
	LastProbe *ProbeResult   `json:"last_probe,omitempty"`
	// Prober, when the probe does not run here, says why: another server
	// of a shared registry runs it, or the check is refused.
	Prober string `json:"prober,omitempty"`
}

// CheckSettings is what an instance's health check does, secrets masked.
type CheckSettings struct {
	Type     string  `json:"type"`
	Target   string  `json:"target"`
	Interval float64 `json:"interval"` // seconds
	Timeout  float64 `json:"timeout"`  // seconds
	Rise     int     `json:"rise"`
	Fall     int     `json:"fall"`
}

// ProbeResult is the last probe of a check.
type ProbeResult struct {
	Status  string    `json:"status"`           // passing, warning or critical
	Output  string    `json:"output,omitempty"` // why it failed, secrets masked
	Latency float64   `json:"latency"`          // seconds
	Time    time.Time `json:"time"`
	// LastPassing is the last probe that passed, if any.
	LastPassing time.Time `json:"last_passing,omitzero"`
	// Streak is how many results in a row disagree with the check's state:
	// the state changes when it reaches rise (better) or fall (worse).
	Streak int `json:"streak"`
}

// Reason codes. Each Reason carries one, and a text for people.
const (
	ReasonPassing          = "passing"           // healthy: answered
	ReasonWarningServed    = "warning-served"    // warning, answered because of serve-warning
	ReasonWarning          = "warning"           // warning, not answered without serve-warning
	ReasonCritical         = "critical"          // critical: not answered
	ReasonLeaseExpired     = "lease-expired"     // the lease ran out
	ReasonLeaseLive        = "lease-live"        // the lease runs out at its deadline unless renewed
	ReasonReported         = "reported"          // the sidecar reported this health
	ReasonProbe            = "probe"             // the health is the probe's verdict
	ReasonSelfPreservation = "self-preservation" // served though the lease fell due: expiry is paused
	ReasonTagFilter        = "tag-filter"        // lacks the tag asked for
	ReasonTagMatch         = "tag-match"         // carries the tag asked for
	ReasonMaxAnswers       = "max-answers"       // only N of the eligible are answered per query, shuffled
	ReasonMinHealthy       = "min-healthy"       // fewer eligible than min-healthy
	ReasonFailover         = "failover"          // the failover is answered instead of the instances
	ReasonNoInstances      = "no-instances"      // nothing is eligible and no failover: NODATA
)

// Reason is one thing that decides whether an instance (or the service) is
// answered.
type Reason struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// Record is one resource record that a name of the service answers now,
// in the text form dig prints: name, TTL, class, type, data. Section is
// "answer" or "additional" (the addresses of SRV targets). Under
// max-answers, one answer holds only some of the answer records. A
// failover to a load balancer's name is its CNAME record alone: the
// records of the name it leads to come from wherever that name is served.
type Record struct {
	// Question is the query that answers it, as dig asks it: a name and
	// a type, e.g. "web.svc.internal. SRV".
	Question string `json:"question"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Section  string `json:"section"`
	RR       string `json:"rr"`
}

// explain serves GET /v1/explain/{service}[?tag=T].
func (h *handler) explain(w http.ResponseWriter, r *http.Request) {
	snap := h.reg.Snapshot()
	setIndex(w, snap)
	name, tag := r.PathValue("service"), r.URL.Query().Get("tag")
	if err := registry.ValidateLabel("service", name); err != nil {
		h.fail(w, r, err)
		return
	}
	if tag != "" {
		if err := registry.ValidateLabel("tag", tag); err != nil {
			h.fail(w, r, err)
			return
		}
	}
	if h.opts.Explain == nil {
		writeError(w, http.StatusNotImplemented, "this server does not explain its answers")
		return
	}
	out, err := h.opts.Explain(r.Context(), name, tag)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	normalizeExplanation(&out)
	writeJSON(w, http.StatusOK, out)
}

// normalizeExplanation makes empty lists encode as [], not null, so that
// readers need not tell the two apart.
func normalizeExplanation(e *Explanation) {
	if e.Zones == nil {
		e.Zones = noTags
	}
	if e.Reasons == nil {
		e.Reasons = []Reason{}
	}
	if e.Instances == nil {
		e.Instances = []InstanceReport{}
	}
	if e.Records == nil {
		e.Records = []Record{}
	}
	for i := range e.Instances {
		in := &e.Instances[i]
		if in.Tags == nil {
			in.Tags = noTags
		}
		if in.Reasons == nil {
			in.Reasons = []Reason{}
		}
	}
}
