package client

import (
	"context"
	"net/http"
	"net/url"
	"time"
)

// Explanation says why each instance of a service is or is not in the DNS
// answers a query made now gets, what applies to the whole service, the
// records each of its names answers now (as dig prints them) and how stale
// an answer may be. See Client.Explain.
type Explanation struct {
	Service string    `json:"service"`
	Tag     string    `json:"tag,omitempty"`
	Zones   []string  `json:"zones"`
	Index   uint64    `json:"index"`
	Time    time.Time `json:"time"`

	Settings ExplainSettings `json:"settings"`
	// Eligible instances pass every filter (health, tag); Answered is how
	// many of them one answer holds.
	Eligible         int              `json:"eligible"`
	Answered         int              `json:"answered"`
	SelfPreservation bool             `json:"self_preservation"`
	Failover         FailoverState    `json:"failover"`
	StalenessBudget  StalenessBudget  `json:"staleness_budget"`
	Reasons          []Reason         `json:"reasons"`
	Instances        []InstanceReport `json:"instances"`
	Records          []Record         `json:"records"`
}

// ExplainSettings are the server's answer settings: TTLs in seconds.
type ExplainSettings struct {
	TTL          uint32 `json:"ttl"`
	NegativeTTL  uint32 `json:"negative_ttl"`
	MaxAnswers   int    `json:"max_answers"`
	ServeWarning bool   `json:"serve_warning"`
}

// FailoverState tells whether the failover answers instead of the
// instances: it does with fewer than MinHealthy eligible instances.
type FailoverState struct {
	Configured bool   `json:"configured"`
	Active     bool   `json:"active"`
	Target     string `json:"target,omitempty"`
	MinHealthy int    `json:"min_healthy"`
	Healthy    int    `json:"healthy"`
}

// StalenessBudget is the longest time a client may still be sent to an
// instance after it failed: Detection plus TTL, in seconds.
type StalenessBudget struct {
	Seconds     float64 `json:"seconds"`
	Detection   float64 `json:"detection"`
	TTL         float64 `json:"ttl"`
	NegativeTTL float64 `json:"negative_ttl"`
	DetectionBy string  `json:"detection_by,omitempty"`
}

// InstanceReport is one instance and why it is or is not answered.
type InstanceReport struct {
	ID      string       `json:"id"`
	Address string       `json:"address"`
	Port    uint16       `json:"port"`
	Tags    []string     `json:"tags"`
	Weight  uint16       `json:"weight"`
	Health  Health       `json:"health"`
	Source  HealthSource `json:"source"`
	Served  bool         `json:"served"`
	Reasons []Reason     `json:"reasons"`
}

// HealthSource is where an instance's health comes from: Kind is "lease",
// "report", "probe" or "static".
type HealthSource struct {
	Kind          string         `json:"kind"`
	LeaseTTL      float64        `json:"lease_ttl,omitempty"`
	LeaseDeadline time.Time      `json:"lease_deadline,omitzero"`
	Expired       bool           `json:"expired,omitempty"`
	Held          bool           `json:"held,omitempty"`
	Check         *CheckSettings `json:"check,omitempty"`
	LastProbe     *ProbeResult   `json:"last_probe,omitempty"`
	Prober        string         `json:"prober,omitempty"`
}

// CheckSettings is what a health check does; times in seconds.
type CheckSettings struct {
	Type     string  `json:"type"`
	Target   string  `json:"target"`
	Interval float64 `json:"interval"`
	Timeout  float64 `json:"timeout"`
	Rise     int     `json:"rise"`
	Fall     int     `json:"fall"`
}

// ProbeResult is the last probe of a check; Latency in seconds.
type ProbeResult struct {
	Status      Health    `json:"status"`
	Output      string    `json:"output,omitempty"`
	Latency     float64   `json:"latency"`
	Time        time.Time `json:"time"`
	LastPassing time.Time `json:"last_passing,omitzero"`
	Streak      int       `json:"streak"`
}

// Reason is one thing that decides whether an instance or the service is
// answered: a stable Code (such as "critical", "tag-filter",
// "max-answers", "failover", "self-preservation") and a Text for people.
type Reason struct {
	Code string `json:"code"`
	Text string `json:"text"`
}

// Record is a resource record that Question answers now, in the text form
// dig prints; Section is "answer" or "additional".
type Record struct {
	Question string `json:"question"`
	Name     string `json:"name"`
	Type     string `json:"type"`
	Section  string `json:"section"`
	RR       string `json:"rr"`
}

// Explain asks the server why each instance of service is or is not in its
// DNS answers, restricted to the instances carrying tag unless tag is
// empty. An unknown service gets an error satisfying IsNotFound.
func (c *Client) Explain(ctx context.Context, service, tag string) (Explanation, error) {
	var q url.Values
	if tag != "" {
		q = url.Values{"tag": {tag}}
	}
	var e Explanation
	_, err := c.do(ctx, request{method: http.MethodGet, path: "/v1/explain/" + url.PathEscape(service), query: q}, &e)
	return e, err
}
