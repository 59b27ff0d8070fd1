package integration

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Timing of the sidecar tests. The sidecar renews its lease at a third of
// its TTL and checks its health URL every check interval.
const (
	sidecarTTL    = 3 * time.Second
	heartbeat     = sidecarTTL / 3
	checkInterval = 500 * time.Millisecond
	slack         = 2 * time.Second
	sidecarUp     = 5 * time.Second // from exec to the first registration
	sidecarIP     = "10.0.0.5"
	sidecarPort   = "8080"
	sidecarEntry  = sidecarIP + ":" + sidecarPort
)

// The targets the sidecar is held to, measured from the event to the first
// DNS answer that shows the change (see waitDNS).
const (
	// A service whose health URL fails leaves DNS within a check
	// interval and a second, and comes back as fast.
	healthBound = checkInterval + time.Second
	// A sidecar killed without warning leaves its instance until the
	// lease runs out: within the TTL and a second (the server sweeps
	// leases every second).
	killBound = sidecarTTL + time.Second
	// A sidecar stopped with SIGTERM deregisters at once.
	termBound = 100 * time.Millisecond
)

// ctlEnv is the environment of signpostctl: this process's without any
// SIGNPOST_ variable, which would change what the command does, plus extra.
func ctlEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "SIGNPOST_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// runCtl runs signpostctl to its end, bounded by toolTimeout.
func runCtl(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBin, args...)
	cmd.Env = env
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case ctx.Err() != nil:
		t.Fatalf("signpostctl %s: no exit within %v", strings.Join(args, " "), toolTimeout)
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("signpostctl %s: %v", strings.Join(args, " "), err)
	}
	return out.String(), errOut.String(), code
}

// ctlOK runs signpostctl and checks that it succeeds; it returns stdout.
func ctlOK(t *testing.T, env []string, args ...string) string {
	t.Helper()
	out, errOut, code := runCtl(t, env, args...)
	if code != 0 {
		t.Errorf("signpostctl %s: exit %d, want 0\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// ctlFails runs signpostctl and checks that it exits with code and one line
// on stderr, prefixed "signpostctl: " and holding want.
func ctlFails(t *testing.T, env []string, code int, want string, args ...string) {
	t.Helper()
	out, errOut, got := runCtl(t, env, args...)
	line := strings.TrimSuffix(errOut, "\n")
	if got != code || strings.Contains(line, "\n") || !strings.HasPrefix(line, "signpostctl: ") || !strings.Contains(line, want) {
		t.Errorf("signpostctl %s: exit %d, stderr %q, want exit %d and one line \"signpostctl: ...%s...\"",
			strings.Join(args, " "), got, errOut, code, want)
	}
	if out != "" {
		t.Errorf("signpostctl %s: stdout %q, want none on failure", strings.Join(args, " "), out)
	}
}

// ctlProc is a signpostctl that runs in the background: a sidecar or a
// watch.
type ctlProc struct {
	args    string
	cmd     *exec.Cmd
	out     *syncBuffer // stdout
	errOut  *syncBuffer // stderr
	exited  chan struct{}
	waitErr error // set before exited is closed
}

// startCtl starts signpostctl; it is killed, if still running, when the
// test ends, and its output logged when the test failed.
func startCtl(t *testing.T, env []string, args ...string) *ctlProc {
	t.Helper()
	p := &ctlProc{args: strings.Join(args, " "), out: new(syncBuffer), errOut: new(syncBuffer), exited: make(chan struct{})}
	p.cmd = exec.Command(ctlBin, args...)
	p.cmd.Env = env
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errOut
	p.cmd.WaitDelay = stopTimeout
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting signpostctl %s: %v", p.args, err)
	}
	go func() {
		p.waitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			select {
			case <-p.exited:
			case <-time.After(stopTimeout):
				t.Errorf("signpostctl %s (pid %d) did not exit after SIGKILL", p.args, p.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("signpostctl %s\nstdout:\n%s\nstderr:\n%s", p.args, p.out.String(), p.errOut.String())
		}
	})
	return p
}

// running reports whether the process has not exited yet.
func (p *ctlProc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig and waits for the exit, bounded; it returns the exit
// code, or -1 when the process did not exit or was killed by a signal.
func (p *ctlProc) signal(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Errorf("signpostctl %s: no exit within %v of %v", p.args, stopTimeout, sig)
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// stopAndCheck sends SIGTERM and checks that the command exits 0.
func (p *ctlProc) stopAndCheck(t *testing.T) {
	t.Helper()
	if code := p.signal(t, syscall.SIGTERM); code != 0 {
		t.Errorf("signpostctl %s: exit %d after SIGTERM (%v), want 0", p.args, code, p.waitErr)
	}
}

// waitOutput polls stdout for want, within bound.
func (p *ctlProc) waitOutput(t *testing.T, want string, bound time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !strings.Contains(p.out.String(), want) {
		if time.Now().After(deadline) || !p.running() {
			t.Errorf("signpostctl %s: %q not in its output within %v (running %v):\n%s", p.args, want, bound, p.running(), p.out.String())
			return false
		}
		time.Sleep(20 * time.Millisecond)
	}
	return true
}

// startSidecar runs the sidecar for web-1 at sidecarEntry against s, with
// more flags, and waits until DNS answers it.
func startSidecar(t *testing.T, s *server, more ...string) *ctlProc {
	t.Helper()
	args := append([]string{"sidecar", "--server", s.apiURL, "--service", "web", "--id", "web-1",
		"--address", sidecarIP, "--port", sidecarPort, "--ttl", sidecarTTL.String()}, more...)
	p := startCtl(t, ctlEnv(), args...)
	if !s.waitAddrs(t, svcName("web"), []string{sidecarIP}, 0, sidecarUp) {
		t.FailNow()
	}
	return p
}

// instanceHealth returns the health of web-1 as the API shows it, "" when
// it is not registered.
func instanceHealth(t *testing.T, c apiConn) string {
	t.Helper()
	in, _ := instanceLease(t, c)
	return in.Health
}

// leaseJSON is web-1's health and lease as the API shows them.
type leaseJSON struct {
	ID           string    `json:"id"`
	Health       string    `json:"health"`
	TTL          string    `json:"ttl"`
	LeaseExpires time.Time `json:"lease_expires"`
}

// instanceLease returns web-1 as the API shows it; ok is false when it is
// not registered.
func instanceLease(t *testing.T, c apiConn) (leaseJSON, bool) {
	t.Helper()
	_, r, ok := c.service(t, "web")
	if !ok {
		return leaseJSON{}, false
	}
	var svc struct {
		Instances []leaseJSON `json:"instances"`
	}
	if err := json.Unmarshal([]byte(r.body), &svc); err != nil {
		t.Fatalf("GET /v1/services/web: %v in %s", err, r.body)
	}
	for _, in := range svc.Instances {
		if in.ID == "web-1" {
			return in, true
		}
	}
	return leaseJSON{}, false
}

// waitRenewal polls the API until the sidecar renews web-1's lease past
// after, within bound, and returns the lease it then shows.
func waitRenewal(t *testing.T, c apiConn, after time.Time, bound time.Duration) (leaseJSON, bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		in, ok := instanceLease(t, c)
		if ok && in.LeaseExpires.After(after) {
			return in, true
		}
		if time.Now().After(deadline) {
			t.Errorf("web-1 lease %s (registered %v) after %v, want it renewed past %s", in.LeaseExpires, ok, bound, after)
			return in, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pollPause is the pause between two queries of waitDNS: a change is seen
// within it and one exchange (a fraction of a millisecond on loopback).
const pollPause = 2 * time.Millisecond

// waitDNS asks for the A records of web, over and over, until done accepts
// the answer, within bound of since, and returns the time from since to
// that answer. It then asks dig, which must agree. The timing comes from
// the queries of this process: one run of dig takes 50ms or more of
// process start-up, more than the change it would time.
func (s *server) waitDNS(t *testing.T, since time.Time, bound time.Duration, want string, done func(*dns.Msg) bool) (time.Duration, bool) {
	t.Helper()
	name := svcName("web")
	for {
		m, err := s.tryExchange(newQuery(name, dns.TypeA), "udp")
		took := time.Since(since)
		if err == nil && done(m) {
			if m := s.dig(t, name, "A"); !done(m) {
				t.Errorf("dig A %s: %s %q, want %s as the query before", name, rcodeName(m.Rcode), rrStrings(m.Answer), want)
			}
			return took, true
		}
		if took > bound {
			if err != nil {
				t.Errorf("A %s: %v %v after the event, want %s", name, err, took, want)
			} else {
				t.Errorf("A %s: %s %q %v after the event, want %s", name, rcodeName(m.Rcode), rrStrings(m.Answer), took, want)
			}
			return took, false
		}
		time.Sleep(pollPause)
	}
}

// answersSidecar accepts an answer with web-1's address only.
func answersSidecar(m *dns.Msg) bool {
	if m.Rcode != dns.RcodeSuccess || len(m.Answer) != 1 {
		return false
	}
	a, ok := m.Answer[0].(*dns.A)
	return ok && a.A.String() == sidecarIP
}

// gone accepts an answer with rcode and no record.
func gone(rcode int) func(*dns.Msg) bool {
	return func(m *dns.Msg) bool { return m.Rcode == rcode && len(m.Answer) == 0 }
}

// terminate sends SIGTERM and returns at once; exited tells when the
// sidecar is gone.
func (p *ctlProc) terminate(t *testing.T) time.Time {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	return time.Now()
}

// waitExit waits for the exit, bounded, and checks that the status is 0.
func (p *ctlProc) waitExit(t *testing.T) {
	t.Helper()
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		t.Fatalf("signpostctl %s: no exit within %v", p.args, stopTimeout)
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("signpostctl %s: exit %d (%v), want 0", p.args, code, p.waitErr)
	}
}

// TestSidecarSIGTERM runs the sidecar: DNS shows the instance, with its
// lease in the API, and keeps showing it as the sidecar renews the lease;
// SIGTERM deregisters it, and dig finds the name gone (NXDOMAIN) within
// termBound of the signal; the sidecar exits 0.
func TestSidecarSIGTERM(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	c := s.api()
	p := startSidecar(t, s)
	s.checkServed(t, "web", sidecarEntry)
	in, _ := instanceLease(t, c)
	if in.Health != "passing" || in.TTL != sidecarTTL.String() {
		t.Errorf("API: %+v, want web-1 passing with ttl %s", in, sidecarTTL)
	}
	// Two renewals go by; the instance stays.
	in, _ = waitRenewal(t, c, in.LeaseExpires, heartbeat+slack)
	waitRenewal(t, c, in.LeaseExpires, heartbeat+slack)
	s.checkServed(t, "web", sidecarEntry)

	took, ok := s.waitDNS(t, p.terminate(t), termBound, "NXDOMAIN", gone(dns.RcodeNameError))
	t.Logf("SIGTERM: gone from DNS %v after the signal", took.Round(100*time.Microsecond))
	if ok && took > termBound {
		t.Errorf("gone %v after SIGTERM, want within %v", took, termBound)
	}
	p.waitExit(t)
	s.checkGone(t, svcName("web"), dns.RcodeNameError)
	if _, r, ok := c.service(t, "web"); ok {
		t.Errorf("GET /v1/services/web after the sidecar exited: %v, want 404", r)
	}
	if !strings.Contains(p.errOut.String(), "deregistered") {
		t.Errorf("sidecar log %q, want it to say it deregistered", p.errOut.String())
	}
}

// TestSidecarKill9 kills the sidecar without warning: the instance stays
// until its lease runs out, then turns critical in the API and leaves DNS
// (NODATA: the service is still there, with only a critical instance)
// within killBound of the kill.
func TestSidecarKill9(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	c := s.api()
	p := startSidecar(t, s)
	in, _ := instanceLease(t, c)
	in, ok := waitRenewal(t, c, in.LeaseExpires, heartbeat+slack)
	if !ok {
		t.FailNow()
	}
	// Kill halfway between two renewals, as a crash at a random moment
	// does on average. (Right after a renewal the lease has its whole TTL
	// left, and the registry's sweep may take a second more: the bound
	// holds then only to within the time dig takes to show it.)
	time.Sleep(time.Until(in.LeaseExpires.Add(-sidecarTTL + heartbeat/2)))
	killed := time.Now()
	if code := p.signal(t, syscall.SIGKILL); code != -1 {
		t.Errorf("sidecar exit %d after SIGKILL, want killed by the signal", code)
	}
	// Nothing deregistered it: the lease still holds.
	s.checkServed(t, "web", sidecarEntry)

	took, ok := s.waitDNS(t, killed, killBound, "NODATA", gone(dns.RcodeSuccess))
	last, _ := instanceLease(t, c)
	t.Logf("kill -9: gone from DNS %v after the kill; the lease, last renewed %v before the kill, ran out %v after it",
		took.Round(time.Millisecond), killed.Sub(last.LeaseExpires.Add(-sidecarTTL)).Round(time.Millisecond), last.LeaseExpires.Sub(killed).Round(time.Millisecond))
	if ok && took > killBound {
		t.Errorf("gone %v after the kill, want within %v", took, killBound)
	}
	if ok && took < sidecarTTL-heartbeat {
		t.Errorf("gone %v after the kill, before the lease (ttl %s, renewed every %s) could have run out", took, sidecarTTL, heartbeat)
	}
	svc, _, _ := c.service(t, "web")
	if svc.Passing != 0 || svc.Critical != 1 {
		t.Errorf("web: %d passing, %d critical, want 0 and 1", svc.Passing, svc.Critical)
	}
}

// TestSidecarHealthURL runs the sidecar with a health URL the test flips:
// when it fails the sidecar reports the instance critical and dig finds it
// gone within healthBound; the instance keeps its lease and registration
// meanwhile; when the URL passes again dig finds it back within
// healthBound.
func TestSidecarHealthURL(t *testing.T) {
	t.Parallel()
	var healthy atomic.Bool
	healthy.Store(true)
	var checks atomic.Int64
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		checks.Add(1)
		if !healthy.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ok\n"))
	}))
	t.Cleanup(hs.Close)
	s := startServer(t, apiCorefile)
	c := s.api()
	p := startSidecar(t, s, "--health-url", hs.URL+"/healthz", "--check-interval", checkInterval.String())
	if checks.Load() == 0 {
		t.Errorf("the sidecar registered without checking the health URL")
	}

	healthy.Store(false)
	took, ok := s.waitDNS(t, time.Now(), healthBound, "NODATA", gone(dns.RcodeSuccess))
	t.Logf("health URL failing: gone from DNS %v after it began failing", took.Round(time.Millisecond))
	if ok && took > healthBound {
		t.Errorf("gone %v after the health URL began failing, want within %v", took, healthBound)
	}
	in, registered := instanceLease(t, c)
	if !registered || in.Health != "critical" {
		t.Errorf("web-1 %+v (registered %v) while its health URL fails, want registered and critical", in, registered)
	}
	// The reports renew the lease: the instance stays registered, critical.
	if in, ok := waitRenewal(t, c, in.LeaseExpires, heartbeat+slack); ok && in.Health != "critical" {
		t.Errorf("web-1 %s after a renewal while its health URL fails, want critical", in.Health)
	}
	if !p.running() {
		t.Fatalf("the sidecar exited while its health URL failed: %v", p.waitErr)
	}

	healthy.Store(true)
	took, ok = s.waitDNS(t, time.Now(), healthBound, sidecarIP, answersSidecar)
	t.Logf("health URL passing again: back in DNS %v after it passed", took.Round(time.Millisecond))
	if ok && took > healthBound {
		t.Errorf("back %v after the health URL passed again, want within %v", took, healthBound)
	}
	s.checkServed(t, "web", sidecarEntry)
	if h := instanceHealth(t, c); h != "passing" {
		t.Errorf("web-1 health %q after its health URL passes again, want passing", h)
	}
	for _, want := range []string{
		"local health check failing, reporting the instance critical: GET " + hs.URL + "/healthz: 503 Service Unavailable",
		"local health check passing again, reporting the instance passing",
	} {
		if !strings.Contains(p.errOut.String(), want) {
			t.Errorf("sidecar log lacks %q:\n%s", want, p.errOut.String())
		}
	}
	p.stopAndCheck(t)
	s.checkGone(t, svcName("web"), dns.RcodeNameError)
}

// TestSidecarServerRestart restarts a memory-only server under a running
// sidecar: the registry comes back empty, the sidecar's next heartbeat gets
// 404 and it registers again by itself, within about one heartbeat.
func TestSidecarServerRestart(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	p := startSidecar(t, s)

	s.terminate()
	s.restart()
	restarted := time.Now()
	if s.waitAddrs(t, svcName("web"), []string{sidecarIP}, 0, heartbeat+slack) {
		t.Logf("registered again %v after the restart", time.Since(restarted).Round(time.Millisecond))
		s.checkServed(t, "web", sidecarEntry)
	}
	if !p.running() {
		t.Fatalf("the sidecar exited while the server was down: %v", p.waitErr)
	}
	if n := strings.Count(p.errOut.String(), "registered instance web-1"); n < 2 {
		t.Errorf("the sidecar logged %d registrations, want a second one after the restart", n)
	}
	if h := instanceHealth(t, s.api()); h != "passing" {
		t.Errorf("web-1 health %q after re-registration, want passing", h)
	}
	p.stopAndCheck(t)
	s.checkGone(t, svcName("web"), dns.RcodeNameError)
}
