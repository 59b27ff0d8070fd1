package integration

import (
	"context"
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
// its TTL; the registry checks leases every second.
const (
	sidecarTTL   = 3 * time.Second
	heartbeat    = sidecarTTL / 3
	leaseSweep   = time.Second
	slack        = 2 * time.Second
	sidecarUp    = 5 * time.Second // from exec to the first registration
	sidecarIP    = "10.0.0.5"
	sidecarPort  = "8080"
	sidecarEntry = sidecarIP + ":" + sidecarPort
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
	svc, _, ok := c.service(t, "web")
	if !ok {
		return ""
	}
	for _, in := range svc.Instances {
		if in.ID == "web-1" {
			return in.Health
		}
	}
	return ""
}

// waitHealth polls the API until web-1 has health want, within bound, and
// returns how long that took.
func waitHealth(t *testing.T, c apiConn, want string, bound time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for {
		got := instanceHealth(t, c)
		if got == want {
			return time.Since(start), true
		}
		if time.Since(start) > bound {
			t.Errorf("web-1 health %q after %v, want %q", got, bound, want)
			return time.Since(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestSidecarSIGTERM runs the sidecar: DNS shows the instance, with its
// lease in the API; SIGTERM deregisters it, so the query made right after
// the sidecar exited finds nothing, and the exit status is 0.
func TestSidecarSIGTERM(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	p := startSidecar(t, s)
	s.checkServed(t, "web", sidecarEntry)
	svc, _, _ := s.api().service(t, "web")
	if len(svc.Instances) != 1 || svc.Instances[0].Health != "passing" || svc.Instances[0].TTL != sidecarTTL.String() {
		t.Errorf("API: %+v, want web-1 passing with ttl %s", svc.Instances, sidecarTTL)
	}
	// A few renewals go by; the instance stays.
	time.Sleep(2 * heartbeat)
	s.checkServed(t, "web", sidecarEntry)

	p.stopAndCheck(t)
	s.checkGone(t, svcName("web"), dns.RcodeNameError)
	if _, r, ok := s.api().service(t, "web"); ok {
		t.Errorf("GET /v1/services/web after the sidecar exited: %v, want 404", r)
	}
	if !strings.Contains(p.errOut.String(), "deregistered") {
		t.Errorf("sidecar log %q, want it to say it deregistered", p.errOut.String())
	}
}

// TestSidecarKill9 kills the sidecar without warning: the instance stays
// until its lease runs out, then turns critical in the API and leaves DNS
// (NODATA: the service is still there, with only a critical instance).
func TestSidecarKill9(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	c := s.api()
	p := startSidecar(t, s)
	time.Sleep(heartbeat) // at least one renewal

	killed := time.Now()
	if code := p.signal(t, syscall.SIGKILL); code != -1 {
		t.Errorf("sidecar exit %d after SIGKILL, want killed by the signal", code)
	}
	// Nothing deregistered it: the lease, renewed at most a heartbeat ago,
	// still holds.
	s.checkServed(t, "web", sidecarEntry)

	bound := sidecarTTL + leaseSweep + slack
	_, ok := waitHealth(t, c, "critical", bound)
	took := time.Since(killed)
	t.Logf("critical %v after the kill", took.Round(time.Millisecond))
	if ok && took < sidecarTTL-heartbeat-500*time.Millisecond {
		t.Errorf("critical %v after the kill, before the lease (ttl %s, renewed every %s) could have run out", took, sidecarTTL, heartbeat)
	}
	// DNS reads the same snapshot as the API: by now the instance is gone.
	if _, ok := s.waitGone(t, svcName("web"), dns.RcodeSuccess, bound-time.Since(killed)+500*time.Millisecond); ok {
		s.checkGone(t, svcName("web"), dns.RcodeSuccess)
	}
	svc, _, _ := c.service(t, "web")
	if svc.Passing != 0 || svc.Critical != 1 {
		t.Errorf("web: %d passing, %d critical, want 0 and 1", svc.Passing, svc.Critical)
	}
}

// TestSidecarHealthURL gates renewal on a health URL the test controls:
// while it fails the lease runs out and DNS drops the instance; once it
// passes again the sidecar renews and DNS answers it again.
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
	p := startSidecar(t, s, "--health-url", hs.URL+"/healthz")
	if checks.Load() == 0 {
		t.Errorf("the sidecar registered without checking the health URL")
	}

	healthy.Store(false)
	// One check to notice, then the lease runs out, then the sweep.
	bound := heartbeat + sidecarTTL + leaseSweep + slack
	took, _ := s.waitGone(t, svcName("web"), dns.RcodeSuccess, bound)
	t.Logf("dropped from DNS %v after the health URL began failing", took.Round(time.Millisecond))
	if took < sidecarTTL-heartbeat-500*time.Millisecond {
		t.Errorf("dropped %v after the health URL began failing, before the lease could have run out", took)
	}
	if h := instanceHealth(t, c); h != "critical" {
		t.Errorf("web-1 health %q while its health URL fails, want critical", h)
	}
	if !p.running() {
		t.Fatalf("the sidecar exited while its health URL failed: %v", p.waitErr)
	}

	healthy.Store(true)
	back := time.Now()
	if s.waitAddrs(t, svcName("web"), []string{sidecarIP}, 0, heartbeat+slack) {
		t.Logf("back in DNS %v after the health URL passed again", time.Since(back).Round(time.Millisecond))
		s.checkServed(t, "web", sidecarEntry)
	}
	if h := instanceHealth(t, c); h != "passing" {
		t.Errorf("web-1 health %q after its health URL passes again, want passing", h)
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
