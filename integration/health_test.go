package integration

// Active health checks end to end: real redis-server and MariaDB processes
// declared in the Corefile and probed by the server, and checks registered
// through the API against listeners the test controls. Every wait is
// bounded; the bounds follow from the checks' interval, rise, fall and
// timeout plus healthSlack.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	// healthSlack is what a bound adds to the time the checks need by
	// their settings: the server's coalescing of registry changes (50ms),
	// the probe itself, the poll, and a loaded CI machine.
	healthSlack = 2 * time.Second
	// healthStartTimeout bounds the wait for probes to pass on startup,
	// when both the probed servers and signpost have just started.
	healthStartTimeout = 15 * time.Second
	// backendReadyTimeout bounds the start of a probed server until it
	// accepts connections; backendStopTimeout its exit after SIGTERM
	// (then SIGKILL). MariaDB needs the most.
	backendReadyTimeout = 60 * time.Second
	backendStopTimeout  = 30 * time.Second
	// installTimeout bounds mariadb-install-db.
	installTimeout = 90 * time.Second
	// healthPoll is the pause between two looks at DNS.
	healthPoll = 25 * time.Millisecond
)

// The Corefile services' check: interval 300ms, timeout 200ms, rise 2, fall 2.
const (
	backendInterval = 300 * time.Millisecond
	backendTimeout  = 200 * time.Millisecond
	backendRise     = 2
	backendFall     = 2
)

// healthCorefile declares redis and mysql with two instances each, probed
// by the server, and a VIP for each when both are down. The ports are
// those of the real servers the test starts.
const healthCorefile = `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        ttl 7s
        negative-ttl 3s
        service redis {
            instance r1 127.0.0.1:{{R1}}
            instance r2 127.0.0.1:{{R2}}
            check redis interval 300ms timeout 200ms rise 2 fall 2
            failover 10.0.0.200
        }
        service mysql {
            instance m1 127.0.0.1:{{M1}}
            instance m2 127.0.0.1:{{M2}}
            check mysql interval 300ms timeout 200ms rise 2 fall 2
            failover 10.0.0.100
        }
    }
    errors
}
`

// fallWindow bounds how long after a server stops its instance may still
// be answered: fall failures one interval apart, the last one up to a
// timeout long, and the slack.
func fallWindow(interval, timeout time.Duration, fall int) time.Duration {
	return time.Duration(fall)*interval + timeout + healthSlack
}

// riseWindow bounds how long after a server is back its instance takes to
// be answered again: the next probe within an interval, rise-1 more one
// interval apart, and the slack.
func riseWindow(interval, timeout time.Duration, rise int) time.Duration {
	return time.Duration(rise)*interval + timeout + healthSlack
}

// backendPort returns a free loopback TCP port for a probed server, below
// the kernel's ephemeral range: a port from there could be taken by any
// process's outgoing connection while the server is stopped, or before it
// first starts, and it must come back on the same port. Like freePort it
// never hands out a port twice in this process.
func backendPort(t *testing.T) int {
	t.Helper()
	low := 32768
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		if f := strings.Fields(string(b)); len(f) == 2 {
			if n, err := strconv.Atoi(f[0]); err == nil {
				low = n
			}
		}
	}
	const first = 10000
	if low <= first+1000 {
		return freePort(t) // an unusual range: take what the kernel gives
	}
	portSet.Lock()
	defer portSet.Unlock()
	for range 200 {
		port := first + rand.IntN(low-first)
		if portSet.used[port] {
			continue
		}
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue
		}
		ln.Close()
		portSet.used[port] = true
		return port
	}
	t.Fatalf("no free port between %d and %d after 200 tries", first, low)
	return 0
}

// healthView is what DNS answers for a service: the A addresses and the
// ports of the SRV records, both sorted. All instances of these tests are
// on 127.0.0.1, so the ports tell them apart.
type healthView struct {
	addrs []string
	ports []int
}

func (v healthView) String() string {
	return fmt.Sprintf("A %v SRV ports %v", v.addrs, v.ports)
}

func (v healthView) equal(o healthView) bool {
	return slices.Equal(v.addrs, o.addrs) && slices.Equal(v.ports, o.ports)
}

// servedOn is the view of a service whose instances on 127.0.0.1 at ports
// are answered; none means an empty answer (NODATA).
func servedOn(ports ...int) healthView {
	v := healthView{ports: slices.Sorted(slices.Values(ports))}
	if len(ports) > 0 {
		v.addrs = []string{"127.0.0.1"}
	}
	return v
}

// failedOver is the view of a service answered with its VIP: the VIP has no
// port and the instances have different ones, so SRV has nothing to offer.
func failedOver(vip string) healthView { return healthView{addrs: []string{vip}} }

// healthView asks A and SRV of a service once each.
func (s *server) healthView(service string) (healthView, error) {
	var v healthView
	name := svcName(service)
	ra, err := s.tryExchange(newQuery(name, dns.TypeA), "udp")
	if err != nil {
		return v, err
	}
	rs, err := s.tryExchange(newQuery(name, dns.TypeSRV), "udp")
	if err != nil {
		return v, err
	}
	for _, r := range []*dns.Msg{ra, rs} {
		if r.Rcode != dns.RcodeSuccess {
			return v, fmt.Errorf("%s: rcode %s", name, rcodeName(r.Rcode))
		}
	}
	for _, rr := range ra.Answer {
		if a, ok := rr.(*dns.A); ok {
			v.addrs = append(v.addrs, a.A.String())
		}
	}
	for _, rr := range rs.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			v.ports = append(v.ports, int(srv.Port))
		}
	}
	slices.Sort(v.addrs)
	slices.Sort(v.ports)
	return v, nil
}

// waitView polls a service until DNS answers want, within bound, and
// returns how long that took.
func (s *server) waitView(t *testing.T, what, service string, want healthView, bound time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		got, err := s.healthView(service)
		elapsed := time.Since(start)
		if err == nil && got.equal(want) {
			t.Logf("%s: %s answers %v after %v (bound %v)", what, service, want, elapsed.Round(time.Millisecond), bound)
			return elapsed
		}
		if elapsed > bound {
			if err != nil {
				t.Fatalf("%s: %s: %v after %v, want %v", what, service, err, bound, want)
			}
			t.Fatalf("%s: %s answers %v after %v, want %v", what, service, got, bound, want)
		}
		time.Sleep(healthPoll)
	}
}

// checkView asks once and fails unless DNS answers want.
func (s *server) checkView(t *testing.T, what, service string, want healthView) {
	t.Helper()
	got, err := s.healthView(service)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if !got.equal(want) {
		t.Errorf("%s: %s answers %v, want %v", what, service, got, want)
	}
}

// requireServer returns the path of a server binary, which Debian installs
// in /usr/sbin, out of a non-root user's PATH. Missing, it skips the test on
// a developer's machine and fails it in CI, as requireTool does.
func requireServer(t *testing.T, name, pkg string) string {
	t.Helper()
	if path, err := exec.LookPath(name); err == nil {
		return path
	}
	for _, dir := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/libexec"} {
		if path := filepath.Join(dir, name); isExecutable(path) {
			return path
		}
	}
	return requireTool(t, name, pkg)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// backend is a server the test probes (redis-server, mariadbd), run in its
// own process group on a fixed loopback port so that it can be stopped and
// started again at the same address.
type backend struct {
	t    *testing.T
	name string
	port int
	argv []string

	cmd    *exec.Cmd
	out    *syncBuffer
	exited chan struct{}
}

func newBackend(t *testing.T, name string, port int, argv ...string) *backend {
	b := &backend{t: t, name: name, port: port, argv: argv, out: new(syncBuffer)}
	t.Cleanup(b.cleanup)
	return b
}

func (b *backend) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(b.port)) }

func (b *backend) running() bool {
	if b.cmd == nil {
		return false
	}
	select {
	case <-b.exited:
		return false
	default:
		return true
	}
}

// tryStart runs the server and returns once its port accepts connections,
// or the error; it may run on a goroutine other than the test's.
func (b *backend) tryStart() error {
	if b.running() {
		return fmt.Errorf("%s is already running", b.name)
	}
	b.cmd = exec.Command(b.argv[0], b.argv[1:]...)
	b.cmd.Stdout, b.cmd.Stderr = b.out, b.out
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", b.name, err)
	}
	exited := make(chan struct{})
	b.exited = exited
	cmd := b.cmd
	go func() {
		_ = cmd.Wait()
		close(exited)
	}()
	deadline := time.Now().Add(backendReadyTimeout)
	for {
		select {
		case <-exited:
			return fmt.Errorf("%s exited before listening on %s (%v); output:\n%s", b.name, b.addr(), cmd.ProcessState, b.out.String())
		default:
		}
		if c, err := net.DialTimeout("tcp", b.addr(), 200*time.Millisecond); err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s within %v; output:\n%s", b.name, b.addr(), backendReadyTimeout, b.out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startAll starts servers side by side: MariaDB takes a while.
func startAll(t *testing.T, backends ...*backend) {
	t.Helper()
	errs := make([]error, len(backends))
	var wg sync.WaitGroup
	for i, b := range backends {
		wg.Go(func() { errs[i] = b.tryStart() })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// stop sends SIGTERM to the server's process group, as an operator or an
// init system would, and waits for the exit, bounded; then it kills.
func (b *backend) stop() {
	b.t.Helper()
	if !b.running() {
		b.t.Fatalf("%s is not running", b.name)
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-b.exited:
	case <-time.After(backendStopTimeout):
		b.t.Errorf("%s did not exit within %v of SIGTERM; killing it", b.name, backendStopTimeout)
		b.kill()
	}
}

func (b *backend) kill() {
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-b.exited:
	case <-time.After(stopTimeout):
		b.t.Errorf("%s (pid %d) did not exit after SIGKILL", b.name, b.cmd.Process.Pid)
	}
}

// cleanup kills what is still running and shows the output of a failed test.
func (b *backend) cleanup() {
	if b.running() {
		b.kill()
	}
	if b.t.Failed() {
		b.t.Logf("%s output:\n%s", b.name, abridge(b.out.String(), 60))
	}
}

// newRedis prepares a redis-server on port that keeps nothing on disk;
// start runs it.
func newRedis(t *testing.T, bin, name string, port int) *backend {
	return newBackend(t, name, port, bin, "--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--dir", t.TempDir())
}

// mariadbDataDir creates an empty MariaDB data directory with
// mariadb-install-db, as a package installation does, but small.
func mariadbDataDir(t *testing.T, installBin, dir string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), installTimeout)
	defer cancel()
	args := append([]string{"--no-defaults", "--datadir=" + dir, "--auth-root-authentication-method=normal",
		"--skip-test-db"}, mariadbSmall()...)
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	cmd := exec.CommandContext(ctx, installBin, args...)
	cmd.WaitDelay = stopTimeout
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mariadb-install-db: %v\n%s", err, out)
	}
}

// mariadbSmall are the options that keep a test server's disk and memory
// small: a 4 MiB redo log rather than 96, a 16 MiB buffer pool.
func mariadbSmall() []string {
	return []string{"--innodb-log-file-size=4M", "--innodb-buffer-pool-size=16M"}
}

// newMariaDB prepares a MariaDB server on port with its own data directory,
// a copy of template; start runs it.
func newMariaDB(t *testing.T, bin, template, name string, port int) *backend {
	t.Helper()
	// A short directory: the socket path must fit in 108 bytes.
	dir, err := os.MkdirTemp("", "sp-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	data := filepath.Join(dir, "data")
	if err := os.CopyFS(data, os.DirFS(template)); err != nil {
		t.Fatalf("copying the data directory: %v", err)
	}
	argv := append([]string{bin, "--no-defaults", "--datadir=" + data, "--socket=" + filepath.Join(dir, "sock"),
		"--pid-file=" + filepath.Join(dir, "pid"), "--port=" + strconv.Itoa(port), "--bind-address=127.0.0.1"},
		mariadbSmall()...)
	if os.Geteuid() == 0 {
		argv = append(argv, "--user=root") // mariadbd refuses to run as root otherwise
	}
	return newBackend(t, name, port, argv...)
}

// TestHealthChecksRealServers runs two real redis-server and two real
// MariaDB servers declared in the Corefile with checks, and follows their
// instances in DNS as the servers stop and start: both answered once the
// probes pass, one stopped leaves the answers within its fall window, both
// stopped hand over to the VIP, both started again come back after rise.
func TestHealthChecksRealServers(t *testing.T) {
	t.Parallel()
	ports := map[string]int{"R1": backendPort(t), "R2": backendPort(t), "M1": backendPort(t), "M2": backendPort(t)}
	tmpl := healthCorefile
	for k, p := range ports {
		tmpl = strings.ReplaceAll(tmpl, "{{"+k+"}}", strconv.Itoa(p))
	}
	// Nothing listens yet: the instances start critical, the VIPs answer.
	s := startServer(t, tmpl)
	s.checkView(t, "before any server runs", "redis", failedOver("10.0.0.200"))
	s.checkView(t, "before any server runs", "mysql", failedOver("10.0.0.100"))

	t.Run("redis", func(t *testing.T) {
		t.Parallel()
		bin := requireServer(t, "redis-server", "redis-server")
		r1 := newRedis(t, bin, "redis-r1", ports["R1"])
		r2 := newRedis(t, bin, "redis-r2", ports["R2"])
		startAll(t, r1, r2)
		followStopsAndStarts(t, s, "redis", "10.0.0.200", r1, r2)
	})
	t.Run("mysql", func(t *testing.T) {
		t.Parallel()
		bin := requireServer(t, "mariadbd", "mariadb-server")
		install := requireServer(t, "mariadb-install-db", "mariadb-server")
		template := filepath.Join(t.TempDir(), "data")
		mariadbDataDir(t, install, template)
		m1 := newMariaDB(t, bin, template, "mariadb-m1", ports["M1"])
		m2 := newMariaDB(t, bin, template, "mariadb-m2", ports["M2"])
		startAll(t, m1, m2)
		followStopsAndStarts(t, s, "mysql", "10.0.0.100", m1, m2)
	})
}

// followStopsAndStarts is the scenario of TestHealthChecksRealServers for
// one service and its two servers, which are running.
func followStopsAndStarts(t *testing.T, s *server, service, vip string, first, second *backend) {
	both := servedOn(first.port, second.port)
	fall := fallWindow(backendInterval, backendTimeout, backendFall)
	rise := riseWindow(backendInterval, backendTimeout, backendRise)

	s.waitView(t, "both running", service, both, healthStartTimeout)

	// Each wait fails the test past its bound: the fall window from the
	// server's exit, the rise window from the servers listening again.
	first.stop()
	s.waitView(t, first.name+" stopped", service, servedOn(second.port), fall)
	second.stop()
	s.waitView(t, "both stopped", service, failedOver(vip), fall)

	// Back on the same ports, with the same data.
	startAll(t, first, second)
	s.waitView(t, "both started again", service, both, rise)
}

// probedListener is a TCP listener a check probes: it accepts, counts and
// closes connections, and can go away and come back on the same port.
type probedListener struct {
	t       *testing.T
	port    int
	accepts atomic.Int64

	mu sync.Mutex
	ln net.Listener
	wg sync.WaitGroup
}

// newProbedListener listens on a port outside the ephemeral range, which
// no outgoing connection takes while the listener is closed.
func newProbedListener(t *testing.T) *probedListener {
	p := &probedListener{t: t, port: backendPort(t)}
	p.reopen()
	t.Cleanup(p.close)
	return p
}

func (p *probedListener) open(addr string) {
	p.t.Helper()
	ln, err := net.Listen("tcp4", addr)
	if err != nil {
		p.t.Fatalf("listen %s: %v", addr, err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if errors.Is(err, net.ErrClosed) {
				return
			}
			if err == nil {
				p.accepts.Add(1)
				c.Close()
			}
		}
	})
}

// reopen listens (again) on the listener's port.
func (p *probedListener) reopen() {
	p.open(net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)))
}

func (p *probedListener) close() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
	p.wg.Wait()
}

// probedCheck is the check of the API-registered instances: tcp every
// 1s (the least the API takes), timeout 500ms (half the interval), rise 2, fall 3 (the defaults).
const (
	probedInterval = time.Second
	probedTimeout  = 500 * time.Millisecond
	probedRise     = 2
	probedFall     = 3
)

// healthInstance is an API instance with its check.
type healthInstance struct {
	Health string `json:"health"`
	Check  *struct {
		Type     string `json:"type"`
		Interval string `json:"interval"`
		Timeout  string `json:"timeout"`
		Rise     int    `json:"rise"`
		Fall     int    `json:"fall"`
		Expect   string `json:"expect"`
	} `json:"check"`
}

// TestHealthCheckRegistered registers an instance with a tcp check through
// the API against a listener the test controls: it is not answered until
// rise probes passed, leaves the answers when the listener closes, comes
// back when it listens again, and deregistering it stops its probes.
func TestHealthCheckRegistered(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	c := s.api()
	c.waitReady(t)
	ln := newProbedListener(t)
	path := instPath("probed", "p1")

	r := c.expect(t, http.StatusOK, http.MethodPut, path, regBody("127.0.0.1", ln.port, `, "check": {"type": "tcp", "interval": "1s"}`))
	var in healthInstance
	if err := json.Unmarshal([]byte(r.body), &in); err != nil {
		t.Fatalf("PUT %s: %v in %s", path, err, r.body)
	}
	if in.Health != "critical" || in.Check == nil || in.Check.Type != "tcp" || in.Check.Interval != "1s" ||
		in.Check.Timeout != "500ms" || in.Check.Rise != probedRise || in.Check.Fall != probedFall {
		t.Errorf("PUT %s: %s, want critical with the check and its defaults", path, r.body)
	}
	// Registered but not yet probed rise times: the name exists, with
	// nothing to serve. A stalled machine may let the probes pass before
	// the query, which then proves nothing either way.
	v, err := s.healthView("probed")
	switch n := ln.accepts.Load(); {
	case err != nil:
		t.Fatal(err)
	case n >= probedRise:
		t.Logf("%d probes already before DNS answered %v; the critical start was not seen", n, v)
	case !v.equal(servedOn()):
		t.Errorf("just registered, after %d probes: DNS answers %v, want nothing until %d probes passed", n, v, probedRise)
	}

	s.waitView(t, "probes passing", "probed", servedOn(ln.port), riseWindow(probedInterval, probedTimeout, probedRise)+probedInterval)
	if n := ln.accepts.Load(); n < probedRise {
		t.Errorf("answered after %d probes, want at least rise = %d", n, probedRise)
	}
	if svc, _, _ := c.service(t, "probed"); svc.Passing != 1 {
		t.Errorf("the API shows %d passing, want 1", svc.Passing)
	}

	ln.close()
	s.waitView(t, "listener closed", "probed", servedOn(), fallWindow(probedInterval, probedTimeout, probedFall))
	ln.reopen()
	s.waitView(t, "listening again", "probed", servedOn(ln.port), riseWindow(probedInterval, probedTimeout, probedRise))

	c.expect(t, http.StatusNoContent, http.MethodDelete, path, "")
	s.checkGone(t, svcName("probed"), dns.RcodeNameError)
	// A probe already running may still land; after that, none.
	time.Sleep(probedInterval + 100*time.Millisecond)
	before := ln.accepts.Load()
	time.Sleep(3 * probedInterval)
	if after := ln.accepts.Load(); after != before {
		t.Errorf("%d probes in the %v after deregistration, want none", after-before, 3*probedInterval)
	}
}

// TestHealthCheckHTTPExpect registers an instance with an http check that
// wants a substring of the body: a 200 without it fails the check as
// surely as an error. The server counts the answers of each kind, so the
// test sees that rise good ones or fall bad ones came before each change.
func TestHealthCheckHTTPExpect(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	c := s.api()
	c.waitReady(t)

	var degraded atomic.Bool
	var good, bad atomic.Int64 // answers of each kind since the last switch
	var wrongRequest atomic.Value
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || r.URL.Path != "/healthz" || r.Header.Get("X-Probe") != "signpost" {
			wrongRequest.Store(r.Method + " " + r.URL.String() + " X-Probe: " + r.Header.Get("X-Probe"))
		}
		if degraded.Load() {
			bad.Add(1)
			io.WriteString(w, `{"status": "degraded"}`)
			return
		}
		good.Add(1)
		io.WriteString(w, `{"status": "ok"}`)
	}))
	t.Cleanup(hs.Close)
	port := hs.Listener.Addr().(*net.TCPAddr).Port
	path := instPath("web", "w1")
	check := `, "check": {"type": "http", "path": "/healthz", "interval": "1s", "timeout": "500ms", "expect": "\"ok\"", "header": {"X-Probe": "signpost"}}`
	const interval, timeout = time.Second, 500 * time.Millisecond

	r := c.expect(t, http.StatusOK, http.MethodPut, path, regBody("127.0.0.1", port, check))
	var in healthInstance
	if err := json.Unmarshal([]byte(r.body), &in); err != nil || in.Check == nil || in.Check.Expect != `"ok"` || in.Health != "critical" {
		t.Errorf("PUT %s: %s, want critical with the check and its expect", path, r.body)
	}
	s.waitView(t, "body holds the text", "web", servedOn(port), riseWindow(interval, timeout, probedRise)+interval)
	if n := good.Load(); n < probedRise {
		t.Errorf("answered after %d good probes, want at least rise = %d", n, probedRise)
	}

	bad.Store(0)
	degraded.Store(true)
	s.waitView(t, "body without the text", "web", servedOn(), fallWindow(interval, timeout, probedFall))
	if n := bad.Load(); n < probedFall {
		t.Errorf("dropped after %d bad probes, want at least fall = %d", n, probedFall)
	}
	if svc, _, _ := c.service(t, "web"); svc.Critical != 1 {
		t.Errorf("the API shows %d critical, want 1", svc.Critical)
	}

	good.Store(0)
	degraded.Store(false)
	s.waitView(t, "body holds the text again", "web", servedOn(port), riseWindow(interval, timeout, probedRise))
	if n := good.Load(); n < probedRise {
		t.Errorf("answered again after %d good probes, want at least rise = %d", n, probedRise)
	}
	if v := wrongRequest.Load(); v != nil {
		t.Errorf("the probe sent %s, want GET /healthz with X-Probe: signpost", v)
	}
}
