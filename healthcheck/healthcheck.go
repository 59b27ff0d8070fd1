// Package healthcheck probes services actively and tracks their health.
//
// A Check describes one probe (tcp, http, https, grpc, redis or mysql) with
// its interval, timeout and rise/fall thresholds. Probe runs it once. A
// Scheduler runs many checks from a single timer-driven loop with a bounded
// pool of concurrent probes, counts rise and fall, and reports only state
// transitions through a callback, which the signpost plugin wires to the
// registry.
//
// The package knows nothing of DNS, HTTP registration or the registry: it
// imports only the standard library and gRPC.
package healthcheck

// Status is the health a probe or a check reports. The values are ordered
// from best to worst. The registry has an enum of its own; the plugin maps
// one to the other state by state, never by number.
type Status uint8

// The states of a probe result and of a check.
const (
	Passing Status = iota
	Warning
	Critical
)

var statusNames = [...]string{Passing: "passing", Warning: "warning", Critical: "critical"}

// String returns "passing", "warning" or "critical".
func (s Status) String() string {
	if int(s) < len(statusNames) {
		return statusNames[s]
	}
	return "unknown"
}
