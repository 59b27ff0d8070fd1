package signpost

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coredns/caddy"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// checker runs the active checks of one registry's instances: it follows
// the registry's snapshots, keeps the scheduler's set of checks equal to the
// checks the instances carry (from the Corefile's check lines or from API
// registrations), and writes the probes' verdicts back as health states.
// Only state transitions reach the registry.
//
// Checks registered through the API are held to the API's rules
// (api.CheckPermitted) here too, whatever wrote them: a check stored before
// the rules, restored from a backup or written to etcd by another server
// does not run when it breaks them, and its instance is critical. The ones
// that run are confined to their instance's address and the check-targets.
type checker struct {
	reg   *registry.Registry
	sched *healthcheck.Scheduler
	kick  chan struct{} // a sync is due though the registry did not change

	mu sync.Mutex // guards the fields below
	// specs memoizes decoded check specs: most instances of a service share
	// one, and the set is rebuilt at every registry change.
	specs map[string]specResult
	// targets are the check-targets of the Corefile's blocks that use the
	// registry: where API checks may probe besides their instance.
	targets []netip.Prefix
	// refused holds why each refused API check does not run, by instance
	// key, so that each reason is logged once.
	refused map[string]string

	cancel context.CancelFunc
	done   chan struct{}
}

type specResult struct {
	check healthcheck.Check
	err   error
}

func newChecker(reg *registry.Registry) *checker {
	c := &checker{reg: reg, specs: make(map[string]specResult), kick: make(chan struct{}, 1)}
	c.sched = healthcheck.NewScheduler(healthcheck.Options{
		OnTransition: c.transition,
		OnProbe:      observeProbe,
		Logger:       log,
	})
	return c
}

// start follows the registry until stop.
func (c *checker) start() {
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel, c.done = cancel, make(chan struct{})
	go c.run(ctx)
}

// stop ends the checks and waits for every probe to return.
func (c *checker) stop() {
	if c.cancel == nil {
		return
	}
	c.cancel()
	<-c.done
	c.sched.Stop()
	c.cancel = nil
}

func (c *checker) run(ctx context.Context) {
	defer close(c.done)
	for {
		snap := c.reg.Snapshot()
		c.sync(snap)
		// Coalesce bursts of changes (a mass registration, a reload) into
		// one sync rather than one per change.
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
		select {
		case <-ctx.Done():
			return
		case <-snap.Changed():
		case <-c.kick:
		}
	}
}

// setTargets sets the check-targets, and syncs the checks again when they
// changed.
func (c *checker) setTargets(targets []netip.Prefix) {
	c.mu.Lock()
	changed := !slices.Equal(c.targets, targets)
	c.targets = targets
	c.mu.Unlock()
	if changed {
		select {
		case c.kick <- struct{}{}:
		default: // a sync is due already
		}
	}
}

// sync makes the scheduler run the checks the instances of snap carry.
func (c *checker) sync(snap *registry.Snapshot) {
	c.mu.Lock()
	want := c.wanted(snap)
	c.mu.Unlock()
	c.sched.Sync(want)
}

// wanted returns the checks the instances of snap carry, by instance key;
// c.mu is held.
func (c *checker) wanted(snap *registry.Snapshot) map[string]healthcheck.Check {
	want := make(map[string]healthcheck.Check)
	used := make(map[string]bool)
	refused := make(map[string]string)
	for _, svc := range snap.CheckedServices() {
		for _, in := range svc.Instances() {
			if in.Check == "" || (in.Source == registry.SourceAPI && !c.reg.Probes(in.Service)) {
				continue // another server of a shared registry probes it
			}
			used[in.Check] = true
			spec, ok := c.specs[in.Check]
			if !ok {
				spec.check, spec.err = healthcheck.DecodeSpec(in.Check)
				c.specs[in.Check] = spec
				if spec.err != nil {
					log.Warningf("instance %s of service %s: %v", in.ID, in.Service, spec.err)
				}
			}
			if spec.err != nil {
				continue
			}
			check := spec.check
			if in.Source == registry.SourceAPI {
				if err := api.CheckPermitted(check, in.Address, c.targets); err != nil {
					c.refuse(in, err, refused)
					continue
				}
				check.Confine = api.Confinement(in.Address, c.targets)
			}
			want[checkKey(in.Service, in.ID)] = check.ForInstance(netip.AddrPortFrom(in.Address, in.Port))
		}
	}
	for s := range c.specs {
		if !used[s] {
			delete(c.specs, s)
		}
	}
	c.refused = refused
	return want
}

// refuse keeps an API check that breaks the API's rules from running: its
// instance is critical, and the reason is logged once. refused collects the
// reasons of this sync.
func (c *checker) refuse(in registry.Instance, err error, refused map[string]string) {
	key, reason := checkKey(in.Service, in.ID), err.Error()
	refused[key] = reason
	if c.refused[key] != reason {
		log.Warningf("instance %s of service %s: check not run, the instance stays critical: %s", in.ID, in.Service, reason)
	}
	if in.Health != registry.Critical {
		if err := c.reg.SetHealth(in.Service, in.ID, registry.Critical); err != nil {
			log.Debugf("check of %s: %v", key, err) // deregistered meanwhile
		}
	}
}

// setCheckTargets gives the checker of the registry under key the
// check-targets of the Corefile's blocks that use it.
func setCheckTargets(key string, targets []netip.Prefix) {
	registries.Lock()
	defer registries.Unlock()
	if s, ok := registries.m[key]; ok {
		s.checker.setTargets(targets)
	}
}

// checkTargetsKey keys, in the caddy instance's storage, which lives as long
// as one load of the Corefile, the check-targets of each registry.
type checkTargetsKey struct{}

// checkTargetSet gathers the check-targets of the blocks of one Corefile
// load that share a registry. Their checks run once, for the registry, and
// a check that any of their APIs accepted must run.
type checkTargetSet struct{ prefixes []netip.Prefix }

// claimCheckTargets adds the check-targets of a block to those of the other
// blocks of the Corefile that use the registry under key, and returns the
// set, complete once every block is set up.
func claimCheckTargets(c *caddy.Controller, key string, prefixes []netip.Prefix) *checkTargetSet {
	sets, _ := c.Get(checkTargetsKey{}).(map[string]*checkTargetSet)
	if sets == nil {
		sets = make(map[string]*checkTargetSet)
		c.Set(checkTargetsKey{}, sets)
	}
	set := sets[key]
	if set == nil {
		set = &checkTargetSet{}
		sets[key] = set
	}
	set.prefixes = append(set.prefixes, prefixes...)
	return set
}

func checkKey(service, id string) string { return service + "/" + id }

// transition writes a check's new state to the registry.
func (c *checker) transition(key string, s healthcheck.Status) {
	service, id, _ := strings.Cut(key, "/")
	transitionsTotal.WithLabelValues(s.String()).Inc()
	if s == healthcheck.Critical {
		c.noteCritical(key)
	}
	h, ok := healthOf(s)
	if !ok {
		log.Warningf("check of %s reported state %d, which the registry does not know: marked critical", key, s)
	}
	if err := c.reg.SetHealthOutput(service, id, h, c.probeOutput(key, s)); err != nil {
		log.Debugf("check of %s: %v", key, err) // deregistered meanwhile
	}
}

// probeOutput is why the check under key turned s, for the event log: its
// last probe's output (URL secrets masked), or what passed.
func (c *checker) probeOutput(key string, s healthcheck.Status) string {
	res, ok := c.sched.Result(key)
	switch {
	case !ok:
		return ""
	case res.Output != "":
		return res.Output
	}
	return fmt.Sprintf("%s check %s", res.Check.Type, s)
}

// healthOf maps a check's state to the registry's. The two packages keep
// enums of their own (healthcheck knows nothing of the registry), so they
// meet here by name, not by number. A state without a case, such as one
// added to healthcheck and not yet here, is critical and not ok: an instance
// whose health cannot be told is not served.
func healthOf(s healthcheck.Status) (registry.Health, bool) {
	switch s {
	case healthcheck.Passing:
		return registry.Passing, true
	case healthcheck.Warning:
		return registry.Warning, true
	case healthcheck.Critical:
		return registry.Critical, true
	}
	return registry.Critical, false
}
