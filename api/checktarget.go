package api

import (
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"time"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// Limits of the interval of a check registered through the API, so that a
// registration cannot turn the server into a flood of probes. The
// Corefile's checks keep healthcheck's own limits: the operator wrote them.
const (
	MinCheckInterval = time.Second
	MaxCheckInterval = 24 * time.Hour
)

// CheckPermitted reports why a check that came through the API may not run
// as it is, aimed at the instance at addr; nil when it may. Such a check
// probes only its own instance's address (any port), or an address within
// targets (the Corefile's check-targets), written as an IP: a host name
// could resolve anywhere. It runs at most once a second and at least once a
// day. c is the check as decoded, before ForInstance. The API asks at
// registration; the server asks again before it probes, for checks stored
// before these rules or restored from a backup or etcd.
func CheckPermitted(c healthcheck.Check, addr netip.Addr, targets []netip.Prefix) error {
	if c.Interval < MinCheckInterval || c.Interval > MaxCheckInterval {
		return fmt.Errorf("interval %s: must be between %s and %s for a check registered through the API",
			c.Interval, MinCheckInterval, MaxCheckInterval)
	}
	if c.Target == "" {
		return nil // ForInstance aims it at the instance itself
	}
	host, shown := targetHost(c.Target)
	target, err := netip.ParseAddr(host)
	if err != nil {
		return fmt.Errorf("url %s names the host %q: a check registered through the API must name its instance's "+
			"address as an IP, or give a path instead of a url to probe the instance", shown, host)
	}
	target = target.Unmap()
	if target == addr.Unmap() {
		return nil
	}
	for _, p := range targets {
		if p.Contains(target) {
			return nil
		}
	}
	return fmt.Errorf("url %s aims at %s, not at the instance's address %s: a check registered through the API "+
		"may probe only its own instance (any port), unless the server's Corefile allows more with check-targets",
		shown, target, addr)
}

// targetHost returns the host a check's target names, and the target as it
// may be shown: without user, password or query, which may hold secrets.
func targetHost(target string) (host, shown string) {
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		return u.Hostname(), (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String()
	}
	if h, _, err := net.SplitHostPort(target); err == nil {
		return h, target
	}
	return target, target
}

// Confinement returns the addresses that the probes of a check registered
// through the API may connect to, for healthcheck.Check.Confine: its
// instance's, and those within targets.
func Confinement(addr netip.Addr, targets []netip.Prefix) []netip.Prefix {
	addr = addr.Unmap()
	return append([]netip.Prefix{netip.PrefixFrom(addr, addr.BitLen())}, targets...)
}

// permitCheck refuses the check of a registration that CheckPermitted
// refuses, naming the check field.
func (h *handler) permitCheck(in registry.Instance) error {
	if in.Check == "" {
		return nil
	}
	c, err := healthcheck.DecodeSpec(in.Check)
	if err != nil {
		return &registry.FieldError{Field: "check", Reason: err.Error()} // decodeCheck wrote it: not reached
	}
	if err := CheckPermitted(c, in.Address, h.opts.CheckTargets); err != nil {
		return &registry.FieldError{Field: "check", Reason: err.Error()}
	}
	return nil
}
