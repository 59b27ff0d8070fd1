package healthcheck

import (
	"context"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestSchedulerResult checks that Result reports the last probe (status,
// output with the URL's secrets masked, latency, start), the last one that
// did not fail, the state and the streak towards the next one.
func TestSchedulerResult(t *testing.T) {
	rec := newRecorder()
	s := NewScheduler(rec.options())
	defer s.Stop()
	rec.watch(s)
	if _, ok := s.Result("web/a"); ok {
		t.Error("Result of an unknown check")
	}
	script(t, s, "PPC")
	// The scripted failure carries no URL: show that an http error's is masked.
	failure := s.probe
	s.probe = func(ctx context.Context, c Check) (Status, error) {
		st, err := failure(ctx, c)
		if st == Critical && ctx.Err() == nil {
			err = &url.Error{Op: "Get", URL: c.Target, Err: errors.New("connection refused")}
		}
		return st, err
	}
	s.Set("web/a", Check{Type: "http", Target: "http://u:hunter2@127.0.0.1:9/health?key=s3cret", Interval: MinInterval, Rise: 2, Fall: 2})
	rec.wait(t, "three probes reported", func(_ string, starts map[string]int) bool { return starts["web/a"] > 3 })
	r, ok := s.Result("web/a")
	if !ok {
		t.Fatal("no Result for a running check")
	}
	if !r.Probed || r.Last != Critical || r.State != Passing || !r.Known || r.Streak != 1 {
		t.Errorf("after PPC: last %s, state %s (known %v), streak %d; want last critical, state passing, streak 1", r.Last, r.State, r.Known, r.Streak)
	}
	if strings.Contains(r.Output, "hunter2") || strings.Contains(r.Output, "s3cret") || !strings.Contains(r.Output, "connection refused") {
		t.Errorf("output %q: want the error with the URL's secrets masked", r.Output)
	}
	if r.At.IsZero() || r.LastOK.IsZero() || !r.LastOK.Before(r.At) || r.Latency < 0 {
		t.Errorf("at %v, last ok %v, latency %v: want the failing probe after the last passing one", r.At, r.LastOK, r.Latency)
	}
	if r.Check.Timeout != MinInterval/2 || r.Check.Fall != 2 {
		t.Errorf("check %+v: want defaults applied", r.Check)
	}
	if got := r.Check.Redacted(); strings.Contains(got, "hunter2") {
		t.Errorf("Redacted() = %q", got)
	}
}

func TestCheckDetection(t *testing.T) {
	for _, tc := range []struct {
		c    Check
		want time.Duration
	}{
		{Check{}, 3*DefaultInterval + DefaultTimeout},
		{Check{Interval: 2 * time.Second, Timeout: time.Second, Fall: 3}, 7 * time.Second},
		{Check{Interval: time.Second, Fall: 1}, 1500 * time.Millisecond}, // timeout defaults to half the interval
	} {
		if got := tc.c.Detection(); got != tc.want {
			t.Errorf("%+v: Detection() = %v, want %v", tc.c, got, tc.want)
		}
	}
}
