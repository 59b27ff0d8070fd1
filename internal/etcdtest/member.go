package etcdtest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

var (
	errNotRunning = errors.New("not running")
	errPortTaken  = errors.New("port taken by another process")
)

// Member is one etcd process of a Cluster. It keeps its name, data directory
// and ports across restarts.
type Member struct {
	c              *Cluster
	name           string
	dataDir        string
	clientURL      string
	peerURL        string
	token          string
	initialCluster string
	log            tailBuffer

	mu   sync.Mutex
	proc *proc // the latest process, nil before the first start
}

// proc is one run of an etcd process.
type proc struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // Wait's answer, set before done is closed
}

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func newMember(c *Cluster, i int, dir, token string) *Member {
	t := c.t
	t.Helper()
	ports := make([]int, 2)
	for j := range ports {
		p, err := pickPort()
		if err != nil {
			t.Fatalf("etcdtest: %v", err)
		}
		ports[j] = p
	}
	name := "etcd" + strconv.Itoa(i)
	return &Member{
		c:         c,
		name:      name,
		dataDir:   filepath.Join(dir, name),
		clientURL: "http://127.0.0.1:" + strconv.Itoa(ports[0]),
		peerURL:   "http://127.0.0.1:" + strconv.Itoa(ports[1]),
		token:     token,
	}
}

// Name returns the member's etcd name, "etcd0" for member 0.
func (m *Member) Name() string { return m.name }

// Endpoint returns the member's client URL.
func (m *Member) Endpoint() string { return m.clientURL }

// Running tells whether the member's process is alive.
func (m *Member) Running() bool { return m.running() != nil }

func (m *Member) running() *proc {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.proc == nil || m.proc.exited() {
		return nil
	}
	return m.proc
}

// Kill kills the member with SIGKILL, as a crash would, and waits until it
// is gone.
func (m *Member) Kill() {
	m.c.t.Helper()
	if err := m.kill(); err != nil {
		m.c.t.Fatalf("etcdtest: %v", err)
	}
}

// Stop stops the member with SIGTERM and waits until it has exited.
func (m *Member) Stop() {
	m.c.t.Helper()
	if err := m.stop(); err != nil {
		m.c.t.Fatalf("etcdtest: %v", err)
	}
}

// Start starts a stopped or killed member again, on the same data directory
// and ports, and waits until it listens. It does not wait for it to serve:
// that takes a quorum, which a lone member of a stopped cluster lacks; see
// WaitReady and Cluster.Restart.
func (m *Member) Start() {
	m.c.t.Helper()
	if err := m.start(); err != nil {
		m.c.t.Fatalf("etcdtest: %v", err)
	}
}

// WaitReady waits until the member serves linearizable reads.
func (m *Member) WaitReady() {
	m.c.t.Helper()
	if err := m.waitReady(); err != nil {
		m.c.t.Fatalf("etcdtest: %v", err)
	}
}

// Client returns a client of this member alone, closed when t ends.
func (m *Member) Client(t testing.TB) *clientv3.Client {
	t.Helper()
	return newClient(t, []string{m.clientURL}, m.c.timeout)
}

func (m *Member) args() []string {
	args := []string{
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL,
		"--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", m.initialCluster,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", m.token,
		"--heartbeat-interval", strconv.Itoa(heartbeatMillis),
		"--election-timeout", strconv.Itoa(electionMillis),
		// etcd 3.4 logs through capnslog unless told otherwise.
		"--logger", "zap",
		"--log-outputs", "stderr",
	}
	if m.c.bin.atLeast(3, 5) {
		args = append(args, "--log-format", "console")
	}
	return args
}

func (m *Member) start() error {
	m.mu.Lock()
	if m.proc != nil && !m.proc.exited() {
		m.mu.Unlock()
		return fmt.Errorf("%s is already running", m.name)
	}
	cmd := exec.Command(m.c.bin.Path, m.args()...)
	cmd.Env = environ()
	cmd.Stdout = &m.log
	cmd.Stderr = &m.log
	cmd.SysProcAttr = sysProcAttr()
	fmt.Fprintf(&m.log, "=== etcdtest: starting %s %s\n", m.c.bin.Path, strings.Join(m.args(), " "))
	if err := cmd.Start(); err != nil {
		m.mu.Unlock()
		return fmt.Errorf("starting %s: %v", m.name, err)
	}
	p := &proc{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		fmt.Fprintf(&m.log, "=== etcdtest: %s exited: %v\n", m.name, p.err)
		close(p.done)
	}()
	m.proc = p
	m.mu.Unlock()
	return m.waitListening(p)
}

// environ is the test's environment without ETCD_ variables, which etcd
// would read as flags.
func environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "ETCD_") {
			env = append(env, kv)
		}
	}
	return env
}

func (m *Member) waitListening(p *proc) error {
	addr := strings.TrimPrefix(m.clientURL, "http://")
	return m.c.poll(func() error {
		if err := m.exitError(p); err != nil {
			return stopPoll{err}
		}
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return fmt.Errorf("%s does not listen on %s: %v", m.name, addr, err)
		}
		conn.Close()
		return nil
	})
}

func (m *Member) waitReady() error {
	p := m.running()
	if p == nil {
		return fmt.Errorf("%s: %w", m.name, errNotRunning)
	}
	return m.c.poll(func() error {
		if err := m.exitError(p); err != nil {
			return stopPoll{err}
		}
		return m.health()
	})
}

// exitError describes the end of p, or returns nil while it runs.
func (m *Member) exitError(p *proc) error {
	if !p.exited() {
		return nil
	}
	if m.log.contains("address already in use") {
		return fmt.Errorf("%s exited (%v): %w", m.name, p.err, errPortTaken)
	}
	return fmt.Errorf("%s exited: %v", m.name, p.err)
}

var healthClient = &http.Client{Timeout: time.Second}

// health asks the member's /health, which answers true when the member has a
// leader and a linearizable read succeeds, in etcd 3.4 as in 3.7.
func (m *Member) health() error {
	resp, err := healthClient.Get(m.clientURL + "/health")
	if err != nil {
		return fmt.Errorf("%s: %v", m.name, err)
	}
	defer resp.Body.Close()
	var h struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		return fmt.Errorf("%s /health: %s: %v", m.name, resp.Status, err)
	}
	if h.Health != "true" {
		return fmt.Errorf("%s /health: %s %q", m.name, h.Health, h.Reason)
	}
	return nil
}

// status asks the member for its raft status.
func (m *Member) status() (*clientv3.StatusResponse, error) {
	cli, err := m.c.admin()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	st, err := cli.Status(ctx, m.clientURL)
	if err != nil {
		return nil, fmt.Errorf("%s status: %v", m.name, err)
	}
	return st, nil
}

func (m *Member) kill() error {
	p := m.running()
	if p == nil {
		return fmt.Errorf("kill %s: %w", m.name, errNotRunning)
	}
	fmt.Fprintf(&m.log, "=== etcdtest: SIGKILL to %s\n", m.name)
	p.cmd.Process.Signal(syscall.SIGKILL)
	return m.waitExit(p, "SIGKILL")
}

func (m *Member) stop() error {
	p := m.running()
	if p == nil {
		return fmt.Errorf("stop %s: %w", m.name, errNotRunning)
	}
	fmt.Fprintf(&m.log, "=== etcdtest: SIGTERM to %s\n", m.name)
	p.cmd.Process.Signal(syscall.SIGTERM)
	if err := m.waitExit(p, "SIGTERM"); err != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		return errors.Join(err, m.waitExit(p, "SIGKILL"))
	}
	return nil
}

func (m *Member) waitExit(p *proc, sig string) error {
	select {
	case <-p.done:
		return nil
	case <-time.After(m.c.timeout):
		return fmt.Errorf("%s still runs %v after %s", m.name, m.c.timeout, sig)
	}
}
