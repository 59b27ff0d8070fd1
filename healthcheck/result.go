package healthcheck

import "time"

// Result is what a check's probes found, as Scheduler.Result reports it to
// those who explain answers.
type Result struct {
	// Check is the check as it runs, defaults applied. Its secrets are
	// there too: show it through Redacted.
	Check Check
	// State is the check's state, once Known: it is reported only after
	// rise (or fall) results in a row.
	State Status
	Known bool
	// Streak is how many results in a row disagree with State; the state
	// changes when it reaches Rise (for the better) or Fall (for the worse).
	Streak int
	// Probed is false until the first probe returned; the fields below are
	// its last result.
	Probed  bool
	Last    Status
	Output  string // why the last probe did not pass, URL secrets masked
	Latency time.Duration
	At      time.Time // when the last probe started
	// LastOK is when the last probe that did not fail (passing or warning)
	// started; zero when none did.
	LastOK time.Time
}

// Result returns what the probes of the check under key found, and false
// when the scheduler has no such check.
func (s *Scheduler) Result(key string) (Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.entries[key]
	if !ok {
		return Result{}, false
	}
	r := e.result
	r.Check = e.check
	r.State, r.Known, r.Streak = e.health.status, e.health.known, e.health.streak
	return r, true
}

// record keeps the result of one probe of e; s.mu is held.
func (e *entry) record(st Status, err error, start time.Time, d time.Duration) {
	r := &e.result
	r.Probed, r.Last, r.At, r.Latency, r.Output = true, st, start, d, ""
	if err != nil {
		r.Output = redactError(err).Error()
	}
	if st != Critical {
		r.LastOK = start
	}
}

// WithDefaults returns the check with its zero fields set to their
// defaults, as a Scheduler runs it.
func (c Check) WithDefaults() Check { return c.withDefaults() }

// Detection is the longest time the check takes to find that its target
// failed: fall probes in a row must fail, an interval apart, and the last
// one may take the whole timeout.
func (c Check) Detection() time.Duration {
	c = c.withDefaults()
	return time.Duration(c.Fall)*c.Interval + c.Timeout
}

// Redacted is the check's target for display: a URL without its password
// or query values.
func (c Check) Redacted() string { return c.redacted() }
