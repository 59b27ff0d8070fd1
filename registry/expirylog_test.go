package registry_test

import (
	"slices"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// The log lines of lease expiry and of the removal that follows name the
// service and the instance, so that an operator can tell which sidecar went
// quiet.
func TestExpiryLogNamesInstance(t *testing.T) {
	log := &recLogger{}
	r, clock := newRegistry(t, registry.Config{DeregisterAfter: 30 * time.Second, Logger: log})
	mustRegister(t, r, withTTL(inst("web", "n1", "10.0.0.1", 80), 10*time.Second))
	mustRegister(t, r, inst("web", "keep", "10.0.0.2", 80))

	clock.Advance(11 * time.Second)
	r.Sweep()
	clock.Advance(31 * time.Second)
	r.Sweep()
	log.mu.Lock()
	lines := slices.Clone(log.lines)
	log.mu.Unlock()
	for _, want := range []string{
		"I lease of instance n1 of service web ran out, instance now critical",
		"I instance n1 of service web deregistered after being critical for 30s",
	} {
		if !slices.Contains(lines, want) {
			t.Errorf("no log line %q in %q", want, lines)
		}
	}
}
