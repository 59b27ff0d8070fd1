package client

import (
	"encoding/json"
	"fmt"
	"time"
)

// Health is the state of an instance.
type Health string

// The health states. Only passing instances are served in DNS answers (and
// warning ones where the server is configured to).
const (
	Passing  Health = "passing"
	Warning  Health = "warning"
	Critical Health = "critical"
)

// Registration is what Register sends: an instance of a service.
type Registration struct {
	Service string
	ID      string
	Address string // an IPv4 or IPv6 address
	Port    int
	Tags    []string
	Meta    map[string]string
	// Weight is the SRV weight; nil leaves the server's default of 1.
	Weight *int
	// TTL is the heartbeat lease: the instance turns critical unless renewed
	// within TTL. Zero registers it without a lease, until it is
	// deregistered.
	TTL time.Duration
	// Check, instead of a TTL, has the server probe the instance: it starts
	// critical and is served once the probes pass. A registration may have
	// a TTL or a Check, not both.
	Check *CheckSpec
}

// registerBody is the JSON body of a registration.
type registerBody struct {
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Weight  *int              `json:"weight,omitempty"`
	TTL     string            `json:"ttl,omitempty"`
	Check   *CheckSpec        `json:"check,omitempty"`
}

func (r Registration) body() registerBody {
	b := registerBody{Address: r.Address, Port: r.Port, Tags: r.Tags, Meta: r.Meta, Weight: r.Weight, Check: r.Check}
	if r.TTL > 0 {
		b.TTL = r.TTL.String()
	}
	return b
}

// Instance is an instance as the server stores it.
type Instance struct {
	Service string            `json:"service"`
	ID      string            `json:"id"`
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Tags    []string          `json:"tags"`
	Meta    map[string]string `json:"meta"`
	Weight  int               `json:"weight"`
	Health  Health            `json:"health"`
	// Source is "api" for instances registered over HTTP, "corefile" for
	// those the server's configuration declares.
	Source string `json:"source"`
	// TTL is the heartbeat lease, zero when the instance has none.
	TTL time.Duration `json:"ttl,omitzero"`
	// LeaseExpires is when the lease runs out unless renewed.
	LeaseExpires time.Time `json:"lease_expires,omitzero"`
	// Check is the active health check the server runs, with its defaults
	// filled in and its secrets (Password, credential headers) shown as
	// "***"; nil when the server does not probe the instance.
	Check       *CheckSpec `json:"check,omitempty"`
	CreateIndex uint64     `json:"create_index"`
	ModifyIndex uint64     `json:"modify_index"`
}

// instanceJSON is Instance with its TTL as a duration string, as on the wire.
type instanceJSON struct {
	plainInstance
	TTL string `json:"ttl,omitempty"`
}

type plainInstance Instance

// MarshalJSON encodes the instance as the API does, with TTL as a duration
// string such as "15s".
func (in Instance) MarshalJSON() ([]byte, error) {
	v := instanceJSON{plainInstance: plainInstance(in)}
	if in.TTL > 0 {
		v.TTL = in.TTL.String()
	}
	return json.Marshal(v)
}

// UnmarshalJSON decodes an instance as the API encodes it.
func (in *Instance) UnmarshalJSON(b []byte) error {
	var v instanceJSON
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*in = Instance(v.plainInstance)
	in.TTL = 0
	if v.TTL != "" {
		d, err := time.ParseDuration(v.TTL)
		if err != nil {
			return fmt.Errorf("instance %s: ttl: %w", in.ID, err)
		}
		in.TTL = d
	}
	return nil
}

// Failover is where a service's DNS answers go when fewer than MinHealthy
// of its instances are healthy: virtual IP addresses or a host name.
type Failover struct {
	Addresses  []string `json:"addresses,omitempty"`
	Port       int      `json:"port,omitempty"`
	Name       string   `json:"name,omitempty"`
	MinHealthy int      `json:"min_healthy"`
}

// ServiceInfo is a service with its instances, sorted by id.
type ServiceInfo struct {
	Name        string     `json:"service"`
	ModifyIndex uint64     `json:"modify_index"`
	Passing     int        `json:"passing"`
	Warning     int        `json:"warning"`
	Critical    int        `json:"critical"`
	Failover    *Failover  `json:"failover,omitempty"`
	Instances   []Instance `json:"instances"`
	// Index is the registry change index the answer reflects. Pass it to
	// WaitService to wait for the next change.
	Index uint64 `json:"-"`
}

// ServiceSummary is a service in the list of services, with its counts of
// instances by health.
type ServiceSummary struct {
	Name        string `json:"service"`
	Instances   int    `json:"instances"`
	Passing     int    `json:"passing"`
	Warning     int    `json:"warning"`
	Critical    int    `json:"critical"`
	ModifyIndex uint64 `json:"modify_index"`
}
