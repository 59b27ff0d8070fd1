package healthcheck

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"slices"
	"sync"
	"time"
)

// DefaultMaxConcurrent is the number of probes a Scheduler runs at once
// unless Options say otherwise.
const DefaultMaxConcurrent = 64

// Logger is where a Scheduler logs transitions and invalid checks. CoreDNS's
// clog.P satisfies it.
type Logger interface {
	Infof(format string, args ...any)
	Warningf(format string, args ...any)
}

// Options configure a Scheduler. Every field is optional.
type Options struct {
	// MaxConcurrent bounds the probes running at once; DefaultMaxConcurrent
	// when zero. A probe that finds the pool full waits, and shows as late.
	MaxConcurrent int
	// OnTransition is called when a check's state changes, and only then;
	// the first call for a check comes after rise passing (or warning)
	// results or fall critical ones.
	OnTransition func(key string, s Status)
	// OnProbe is called after every probe, for metrics.
	OnProbe func(checkType string, s Status, d time.Duration)
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Logger gets transitions and invalid checks; nothing is logged when nil.
	Logger Logger
}

// Scheduler runs checks, each at its interval, from a single loop over a
// heap of next probe times: there is no goroutine per check, only one per
// running probe, and at most MaxConcurrent of those. Each check's first probe
// comes at a random point within its first interval, so a large set added at
// once is spread out; later probes keep that phase. A probe still running (or
// waiting for the pool) at its next time skips the ticks it missed.
//
// Callbacks run on probe goroutines, never under the scheduler's lock, so
// they may call Set, Remove and Sync, though not Stop. The transitions of one
// check are delivered one at a time, in order. A callback already running
// when its check is removed or replaced may finish after Remove or Set
// returns; none runs after Stop returns.
type Scheduler struct {
	opts    Options
	now     func() time.Time
	log     Logger
	probe   func(context.Context, Check) (Status, error)   // Probe; tests replace it
	onStart func(key string, scheduled, started time.Time) // test hook

	sem    chan struct{} // the probe pool
	wake   chan struct{} // the queue's head changed
	stopc  chan struct{}
	donec  chan struct{} // the loop returned
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup // running probes
	once   sync.Once

	mu      sync.Mutex
	entries map[string]*entry
	queue   queue
	stopped bool
}

// entry is one scheduled check.
type entry struct {
	key     string
	check   Check     // defaults applied; never changed, a new check makes a new entry
	next    time.Time // when the next probe is due
	index   int       // in the queue, -1 while running or removed
	health  health
	result  Result             // the last probe, for Result
	cancel  context.CancelFunc // of the running probe
	removed bool
}

// job is an entry due for a probe, taken off the queue.
type job struct {
	e         *entry
	scheduled time.Time
}

// NewScheduler starts a scheduler with no checks. Stop it when done.
func NewScheduler(opts Options) *Scheduler {
	if opts.MaxConcurrent <= 0 {
		opts.MaxConcurrent = DefaultMaxConcurrent
	}
	s := &Scheduler{
		opts:    opts,
		now:     opts.Now,
		log:     opts.Logger,
		probe:   Probe,
		sem:     make(chan struct{}, opts.MaxConcurrent),
		wake:    make(chan struct{}, 1),
		stopc:   make(chan struct{}),
		donec:   make(chan struct{}),
		entries: map[string]*entry{},
	}
	if s.now == nil {
		s.now = time.Now
	}
	if s.log == nil {
		s.log = nopLogger{}
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.loop()
	return s
}

// Set adds the check under key, or replaces the one there. Replacing a check
// with an identical one keeps its state and timing; a different one starts
// afresh, in the unknown state. An invalid check is logged and still run, so
// that it turns critical rather than passing silently.
func (s *Scheduler) Set(key string, c Check) {
	c = s.prepare(key, c)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set(key, c)
}

// Remove stops probing the check under key and cancels its running probe.
func (s *Scheduler) Remove(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.entries[key]; ok {
		s.remove(e)
	}
}

// Sync makes checks the whole set: it adds the new ones, replaces the
// changed ones, removes those missing and keeps the unchanged ones as they
// are. Sync(nil) removes every check.
func (s *Scheduler) Sync(checks map[string]Check) {
	prepared := make(map[string]Check, len(checks))
	for key, c := range checks {
		prepared[key] = s.prepare(key, c)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for key, e := range s.entries {
		if _, ok := prepared[key]; !ok {
			s.remove(e)
		}
	}
	for key, c := range prepared {
		s.set(key, c)
	}
}

// Stop ends every probe and waits for the loop and the probes to return.
// It is safe to call more than once, but not from a callback.
func (s *Scheduler) Stop() {
	s.once.Do(func() {
		s.mu.Lock()
		s.stopped = true
		s.mu.Unlock()
		s.cancel()
		close(s.stopc)
		<-s.donec
		s.wg.Wait()
	})
}

// prepare applies defaults and logs an invalid check, outside the lock.
func (s *Scheduler) prepare(key string, c Check) Check {
	c = c.withDefaults()
	c.Header = c.Header.Clone()
	c.Confine = slices.Clone(c.Confine)
	if err := c.validate(true); err != nil {
		s.log.Warningf("health check %s is invalid and will fail: %v", key, err)
	}
	return c
}

// set adds or replaces an entry; s.mu is held.
func (s *Scheduler) set(key string, c Check) {
	if s.stopped {
		return
	}
	if old, ok := s.entries[key]; ok {
		if old.check.equal(c) {
			return
		}
		s.remove(old)
	}
	e := &entry{key: key, check: c, index: -1}
	s.entries[key] = e
	s.schedule(e, s.now().Add(rand.N(c.Interval)))
}

// remove drops an entry; s.mu is held. A running probe of it is cancelled
// and its result dropped.
func (s *Scheduler) remove(e *entry) {
	e.removed = true
	if e.index >= 0 {
		heap.Remove(&s.queue, e.index)
	}
	if e.cancel != nil {
		e.cancel()
	}
	delete(s.entries, e.key)
}

// schedule queues an entry for t and wakes the loop when it comes first;
// s.mu is held.
func (s *Scheduler) schedule(e *entry, t time.Time) {
	e.next = t
	heap.Push(&s.queue, e)
	if e.index == 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// loop takes due entries off the queue and starts their probes, waiting for
// a free slot in the pool, then sleeps until the next one is due.
func (s *Scheduler) loop() {
	defer close(s.donec)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	var jobs []job
	for {
		var wait time.Duration
		jobs, wait = s.due(jobs[:0])
		for _, j := range jobs {
			select {
			case s.sem <- struct{}{}:
			case <-s.stopc:
				return
			}
			s.wg.Add(1)
			go s.run(j)
		}
		if len(jobs) > 0 {
			// Waiting for the pool may have taken a while: look again
			// before sleeping, rather than trust the wait computed before.
			clear(jobs) // let removed entries go
			select {
			case <-s.stopc:
				return
			default:
				continue
			}
		}
		timer.Reset(wait)
		select {
		case <-timer.C:
		case <-s.wake:
		case <-s.stopc:
			return
		}
	}
}

// idle is how long the loop sleeps with an empty queue; Set wakes it.
const idle = time.Hour

// due pops the entries due now onto jobs and returns how long until the
// next one.
func (s *Scheduler) due(jobs []job) ([]job, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for len(s.queue) > 0 {
		e := s.queue[0]
		if e.next.After(now) {
			return jobs, e.next.Sub(now)
		}
		heap.Pop(&s.queue)
		jobs = append(jobs, job{e, e.next})
	}
	return jobs, idle
}

// run probes one entry on its own goroutine, holding a slot of the pool.
func (s *Scheduler) run(j job) {
	defer s.wg.Done()
	ctx, ok := s.begin(j.e)
	if !ok {
		<-s.sem
		return
	}
	start := s.now()
	if s.onStart != nil {
		s.onStart(j.e.key, j.scheduled, start)
	}
	st, err := s.probe(ctx, j.e.check)
	d := s.now().Sub(start)
	<-s.sem
	s.finish(j, st, err, start, d)
}

// begin gives a probe its context, which Remove and Stop cancel.
func (s *Scheduler) begin(e *entry) (context.Context, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e.removed || s.stopped {
		return nil, false
	}
	ctx, cancel := context.WithCancel(s.ctx)
	e.cancel = cancel
	return ctx, true
}

// finish counts a result and calls back outside the lock. The next probe is
// queued only after the callbacks return, so the transitions of one check
// are delivered one at a time and in order.
func (s *Scheduler) finish(j job, st Status, err error, start time.Time, d time.Duration) {
	e := j.e
	s.mu.Lock()
	e.cancel()
	e.cancel = nil
	if e.removed || s.stopped {
		s.mu.Unlock()
		return
	}
	to, changed := e.health.observe(st, e.check.Rise, e.check.Fall)
	e.record(st, err, start, d)
	s.mu.Unlock()

	s.report(e, st, err, d, to, changed)

	s.mu.Lock()
	defer s.mu.Unlock()
	if !e.removed && !s.stopped {
		s.schedule(e, nextRun(j.scheduled, e.check.Interval, s.now()))
	}
}

// report calls OnProbe for every result and logs and calls OnTransition for
// a change of state.
func (s *Scheduler) report(e *entry, st Status, err error, d time.Duration, to Status, changed bool) {
	if s.opts.OnProbe != nil {
		s.opts.OnProbe(e.check.Type, st, d)
	}
	if !changed {
		return
	}
	if to == Passing {
		s.log.Infof("health check %s (%s %s) is passing", e.key, e.check.Type, e.check.redacted())
	} else {
		s.log.Warningf("health check %s (%s %s) is %s: %v", e.key, e.check.Type, e.check.redacted(), to, redactError(err))
	}
	if s.opts.OnTransition != nil {
		s.opts.OnTransition(e.key, to)
	}
}

// nextRun is one interval after the last scheduled probe. When that is
// already an interval or more in the past, the missed ticks are skipped, so a
// check that fell behind catches up with at most one probe and keeps its
// phase.
func nextRun(scheduled time.Time, interval time.Duration, now time.Time) time.Time {
	next := scheduled.Add(interval)
	if behind := now.Sub(next); behind >= interval {
		next = next.Add(behind / interval * interval)
	}
	return next
}

type nopLogger struct{}

func (nopLogger) Infof(string, ...any)    {}
func (nopLogger) Warningf(string, ...any) {}
