package signpost

import (
	"context"
	"net/netip"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// checker runs the active checks of one registry's instances: it follows
// the registry's snapshots, keeps the scheduler's set of checks equal to the
// checks the instances carry (from the Corefile's check lines or from API
// registrations), and writes the probes' verdicts back as health states.
// Only state transitions reach the registry.
type checker struct {
	reg   *registry.Registry
	sched *healthcheck.Scheduler
	// specs memoizes decoded check specs: most instances of a service share
	// one, and the set is rebuilt at every registry change.
	specs map[string]specResult

	cancel context.CancelFunc
	done   chan struct{}
}

type specResult struct {
	check healthcheck.Check
	err   error
}

func newChecker(reg *registry.Registry) *checker {
	c := &checker{reg: reg, specs: make(map[string]specResult)}
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
	var index uint64
	for {
		snap, err := c.reg.WaitIndex(ctx, index)
		if err != nil {
			return
		}
		index = snap.Index()
		c.sched.Sync(c.wanted(snap))
		// Coalesce bursts of changes (a mass registration, a reload) into
		// one sync rather than one per change.
		select {
		case <-ctx.Done():
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// wanted returns the checks the instances of snap carry, by instance key.
func (c *checker) wanted(snap *registry.Snapshot) map[string]healthcheck.Check {
	want := make(map[string]healthcheck.Check)
	used := make(map[string]bool)
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
			if spec.err == nil {
				want[checkKey(in.Service, in.ID)] = spec.check.ForInstance(netip.AddrPortFrom(in.Address, in.Port))
			}
		}
	}
	for s := range c.specs {
		if !used[s] {
			delete(c.specs, s)
		}
	}
	return want
}

func checkKey(service, id string) string { return service + "/" + id }

// transition writes a check's new state to the registry.
func (c *checker) transition(key string, s healthcheck.Status) {
	service, id, _ := strings.Cut(key, "/")
	transitionsTotal.WithLabelValues(s.String()).Inc()
	h, ok := healthOf(s)
	if !ok {
		log.Warningf("check of %s reported state %d, which the registry does not know: marked critical", key, s)
	}
	if err := c.reg.SetHealth(service, id, h); err != nil {
		log.Debugf("check of %s: %v", key, err) // deregistered meanwhile
	}
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
