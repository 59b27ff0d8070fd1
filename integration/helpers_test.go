// Package integration holds the end-to-end tests of Signpost: they build the
// real server binary once, start it on free loopback ports with a Corefile
// written by each test, and query it with three independent clients
// (github.com/miekg/dns, Go's own net.Resolver and the dig command).
package integration

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Bounds of every wait in this package. Nothing here waits longer.
const (
	buildTimeout = 10 * time.Minute // a cold module cache compiles all of CoreDNS
	readyTimeout = 10 * time.Second // from exec to the first DNS answer
	stopTimeout  = 10 * time.Second // from SIGTERM to exit, then again after SIGKILL
	queryTimeout = 3 * time.Second  // one DNS exchange
	toolTimeout  = 15 * time.Second // one run of dig
	startTries   = 3                // server starts when a port turned out to be taken
)

// signpostBin is the server binary built by TestMain, shared by all tests,
// and ctlBin the signpostctl command beside it.
var signpostBin, ctlBin string

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	dir, err := os.MkdirTemp("", "signpost-integration-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	// SIGNPOST_BIN runs the tests against a binary built elsewhere, such
	// as one built with -race; by default the tests build their own.
	ctlBin = filepath.Join(dir, "signpostctl")
	if err := build(ctlBin, "./cmd/signpostctl"); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	if signpostBin = os.Getenv("SIGNPOST_BIN"); signpostBin != "" {
		return m.Run()
	}
	signpostBin = filepath.Join(dir, "signpost")
	if err := build(signpostBin, "./cmd/signpost"); err != nil {
		fmt.Fprintln(os.Stderr, "integration:", err)
		return 1
	}
	return m.Run()
}

// build builds the main package pkg from the module root, which is the
// parent of this package's directory (go test runs tests in the package
// directory).
func build(out, pkg string) error {
	root, err := filepath.Abs("..")
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		return fmt.Errorf("module root not found at %s: %w", root, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

// requireTool returns the path of an external command. Where it is missing
// the test is skipped on a developer's machine but fails in CI, so that a CI
// image without the tool cannot pass by skipping.
func requireTool(t testing.TB, name, pkg string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required when CI=true (install %s): %v", name, pkg, err)
	}
	t.Skipf("%s is not installed (install %s; with CI=true this test fails instead): %v", name, pkg, err)
	return ""
}

// portSet hands out loopback ports that are free for both UDP and TCP and
// never hands out the same one twice in this process. CoreDNS binds with
// SO_REUSEPORT, so two of our servers on one port would both start and
// share the queries; the set rules that out between parallel tests, and
// startServer retries when another process took a port first.
var portSet = struct {
	sync.Mutex
	used map[int]bool
}{used: make(map[int]bool)}

func freePort(t testing.TB) int {
	t.Helper()
	portSet.Lock()
	defer portSet.Unlock()
	for range 100 {
		pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp4", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		pc.Close()
		if err != nil || portSet.used[port] {
			if ln != nil {
				ln.Close()
			}
			continue
		}
		ln.Close()
		portSet.used[port] = true
		return port
	}
	t.Fatal("free port: no port free for both UDP and TCP after 100 tries")
	return 0
}

// syncBuffer collects the server's stdout and stderr.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// server is one signpost process serving a Corefile on loopback.
type server struct {
	t        testing.TB
	corefile string // path of the Corefile
	text     string // what was last written to it
	port     int    // DNS, UDP and TCP
	apiPort  int
	addr     string // DNS address, 127.0.0.1:port
	apiURL   string // http://127.0.0.1:apiPort

	cmd     *exec.Cmd
	stopped bool // crash or terminate ended it on purpose
	out     *syncBuffer
	exited  chan struct{} // closed when the process has exited
	waitErr error         // set before exited is closed
}

var errPortTaken = errors.New("port already in use")

// startServer writes tmpl as the Corefile, with {{PORT}} replaced by a free
// DNS port and {{API}} by a free address for the registration API, starts
// signpost on it and returns once it answers DNS. The server is stopped when
// the test ends; its output is logged when the test failed.
func startServer(t testing.TB, tmpl string) *server {
	t.Helper()
	dir := t.TempDir()
	var err error
	for try := 1; try <= startTries; try++ {
		s := &server{t: t, corefile: filepath.Join(dir, "Corefile"), out: new(syncBuffer)}
		s.port, s.apiPort = freePort(t), freePort(t)
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		s.apiURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.apiPort))
		s.writeCorefile(tmpl)
		if err = s.start(dir); err == nil {
			t.Cleanup(s.stop)
			return s
		}
		if !errors.Is(err, errPortTaken) {
			break
		}
		t.Logf("start %d of %d: %v; retrying on other ports", try, startTries, err)
	}
	t.Fatalf("starting signpost: %v", err)
	return nil
}

// writeCorefile replaces the Corefile atomically, so that the reload plugin
// never reads half of it.
func (s *server) writeCorefile(tmpl string) {
	s.t.Helper()
	s.text = strings.NewReplacer(
		"{{PORT}}", strconv.Itoa(s.port),
		"{{API}}", net.JoinHostPort("127.0.0.1", strconv.Itoa(s.apiPort)),
	).Replace(tmpl)
	tmp := s.corefile + ".tmp"
	if err := os.WriteFile(tmp, []byte(s.text), 0o644); err != nil {
		s.t.Fatal(err)
	}
	if err := os.Rename(tmp, s.corefile); err != nil {
		s.t.Fatal(err)
	}
}

func (s *server) start(dir string) error {
	s.cmd = exec.Command(signpostBin, "-conf", s.corefile)
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
	s.cmd.WaitDelay = stopTimeout
	if err := s.cmd.Start(); err != nil {
		return err
	}
	s.exited = make(chan struct{})
	go func() {
		s.waitErr = s.cmd.Wait()
		close(s.exited)
	}()
	err := s.waitReady()
	if err != nil {
		s.kill()
	}
	return err
}

// waitReady polls until the server answers a DNS query, whatever the answer.
// The plugin loads its static services on startup, before the listeners
// open, so the first answer already sees them.
func (s *server) waitReady() error {
	c := &dns.Client{Net: "udp", Timeout: 250 * time.Millisecond}
	m := newQuery("svc.internal.", dns.TypeSOA)
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			out := s.out.String()
			if strings.Contains(out, "address already in use") {
				return fmt.Errorf("%w: %s", errPortTaken, lastLine(out))
			}
			return fmt.Errorf("signpost exited before answering (%v); Corefile:\n%s\noutput:\n%s", s.waitErr, abridge(s.text, 40), out)
		default:
		}
		if _, _, err := c.Exchange(m, s.addr); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("no DNS answer on %s within %v; Corefile:\n%s\noutput:\n%s", s.addr, readyTimeout, abridge(s.text, 40), s.out.String())
}

// crash kills the server with SIGKILL, as a power cut would, and waits for
// it to exit. Nothing is flushed or deregistered.
func (s *server) crash() {
	s.t.Helper()
	s.stopped = true
	s.kill()
}

// terminate stops the server with SIGTERM, as an operator would, and waits
// for it to exit, bounded.
func (s *server) terminate() {
	s.t.Helper()
	s.stopped = true
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.t.Errorf("signpost did not exit within %v of SIGTERM; killing it", stopTimeout)
		s.kill()
	}
}

// restart starts the server again on the same ports and Corefile after
// crash or terminate, and returns once it answers DNS.
func (s *server) restart() {
	s.t.Helper()
	s.stopped = false
	if err := s.start(filepath.Dir(s.corefile)); err != nil {
		s.t.Fatalf("restarting signpost: %v", err)
	}
}

// kill ends a server that failed to come up and waits for it, bounded.
func (s *server) kill() {
	_ = s.cmd.Process.Kill()
	select {
	case <-s.exited:
	case <-time.After(stopTimeout):
		s.t.Errorf("signpost (pid %d) did not exit after SIGKILL", s.cmd.Process.Pid)
	}
}

// stop sends SIGTERM, kills after stopTimeout, and waits for the exit. A
// server that exited by itself during the test, or logged a panic, fails it.
func (s *server) stop() {
	select {
	case <-s.exited:
		if !s.stopped {
			s.t.Errorf("signpost exited during the test: %v", s.waitErr)
		}
	default:
		_ = s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(stopTimeout):
			s.t.Errorf("signpost did not exit within %v of SIGTERM; killing it", stopTimeout)
			s.kill()
		}
	}
	out := s.out.String()
	if strings.Contains(strings.ToLower(out), "panic") {
		s.t.Errorf("signpost logged a panic")
	}
	if s.t.Failed() {
		s.t.Logf("Corefile %s:\n%s\nsignpost output:\n%s", s.corefile, abridge(s.text, 40), out)
	}
}

// abridge keeps the first n lines of s.
func abridge(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) <= n+1 {
		return s
	}
	return strings.Join(lines[:n], "") + fmt.Sprintf("... (%d more lines)\n", len(lines)-n)
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// newQuery returns a query for name as given (case kept), without RD: the
// server is authoritative and the answers must not depend on recursion.
func newQuery(name string, qtype uint16) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.RecursionDesired = false
	return m
}

// exchange sends m with miekg/dns over network ("udp" or "tcp"). The receive
// buffer is large so that an oversized UDP reply is seen whole rather than
// cut by the client.
func (s *server) exchange(t testing.TB, m *dns.Msg, network string) *dns.Msg {
	t.Helper()
	r, err := s.tryExchange(m, network)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryExchange is exchange returning the error, for polling loops.
func (s *server) tryExchange(m *dns.Msg, network string) (*dns.Msg, error) {
	c := &dns.Client{Net: network, Timeout: queryTimeout, UDPSize: dns.MaxMsgSize}
	r, _, err := c.Exchange(m, s.addr)
	if err != nil {
		return nil, fmt.Errorf("%s %s %s: %w", network, m.Question[0].Name, dns.TypeToString[m.Question[0].Qtype], err)
	}
	return r, nil
}

// rawExchange sends one packet (UDP) or one length-prefixed frame (TCP) and
// returns the raw reply, so that its size on the wire can be checked. No
// reply within wait (or a closed connection) returns nil.
func (s *server) rawExchange(t testing.TB, network string, pkt []byte, wait time.Duration) []byte {
	t.Helper()
	conn, err := net.DialTimeout(network, s.addr, queryTimeout)
	if err != nil {
		t.Fatalf("dial %s %s: %v", network, s.addr, err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(wait))
	if network == "tcp" {
		pkt = append([]byte{byte(len(pkt) >> 8), byte(len(pkt))}, pkt...)
	}
	if _, err := conn.Write(pkt); err != nil {
		t.Fatalf("write %s: %v", network, err)
	}
	buf := make([]byte, dns.MaxMsgSize+2)
	if network == "udp" {
		n, err := conn.Read(buf)
		return replyOrNone(t, buf[:n], err)
	}
	if _, err := io.ReadFull(conn, buf[:2]); err != nil {
		return replyOrNone(t, nil, err)
	}
	n := int(buf[0])<<8 | int(buf[1])
	_, err = io.ReadFull(conn, buf[:n])
	return replyOrNone(t, buf[:n], err)
}

// replyOrNone maps a read result: a timeout, EOF or reset means no reply.
func replyOrNone(t testing.TB, b []byte, err error) []byte {
	t.Helper()
	var ne net.Error
	switch {
	case err == nil:
		return b
	case errors.As(err, &ne) && ne.Timeout(), errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, io.EOF):
		return nil
	}
	t.Fatalf("read: %v", err)
	return nil
}

// dig runs the dig command against the server and parses its output into a
// message, so that the checks applied to miekg/dns answers apply to it too.
func (s *server) dig(t testing.TB, args ...string) *dns.Msg {
	t.Helper()
	path := requireTool(t, "dig", "bind9-dnsutils")
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	all := append([]string{"@127.0.0.1", "-p", strconv.Itoa(s.port), "+time=2", "+tries=2", "+norecurse", "+nocookie"}, args...)
	out, err := exec.CommandContext(ctx, path, all...).CombinedOutput()
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	m, err := parseDig(string(out))
	if err != nil {
		t.Fatalf("dig %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return m
}

// parseDig reads dig's default output: the header line with the status, the
// flags line, and the question, answer, authority and additional sections.
// Where dig retried over TCP after a truncated reply, the last reply wins.
func parseDig(out string) (*dns.Msg, error) {
	var m *dns.Msg
	var section *[]dns.RR
	for line := range strings.Lines(out) {
		line = strings.TrimSpace(line)
		switch {
		case strings.Contains(line, "->>HEADER<<-"):
			m = new(dns.Msg)
			section = nil
			_, status, ok := strings.Cut(line, "status: ")
			if !ok {
				return nil, fmt.Errorf("no status in %q", line)
			}
			status, _, _ = strings.Cut(status, ",")
			rcode, ok := dns.StringToRcode[status]
			if status == "BADVERS" { // 16, which miekg/dns names BADSIG
				rcode, ok = dns.RcodeBadVers, true
			}
			if !ok {
				return nil, fmt.Errorf("unknown status %q", status)
			}
			m.Rcode = rcode
		case m == nil:
		case strings.HasPrefix(line, ";; flags:"):
			flags, _, _ := strings.Cut(strings.TrimPrefix(line, ";; flags:"), ";")
			for f := range strings.FieldsSeq(flags) {
				switch f {
				case "qr":
					m.Response = true
				case "aa":
					m.Authoritative = true
				case "tc":
					m.Truncated = true
				case "rd":
					m.RecursionDesired = true
				case "ra":
					m.RecursionAvailable = true
				}
			}
		case strings.HasPrefix(line, "; EDNS: version:"):
			// ; EDNS: version: 0, flags: do; udp: 1232
			var version, size int
			_, rest, _ := strings.Cut(line, "version: ")
			fmt.Sscanf(rest, "%d", &version)
			_, rest, _ = strings.Cut(line, "udp: ")
			fmt.Sscanf(rest, "%d", &size)
			opt := &dns.OPT{Hdr: dns.RR_Header{Name: ".", Rrtype: dns.TypeOPT}}
			opt.SetVersion(uint8(version))
			opt.SetUDPSize(uint16(size))
			m.Extra = append(m.Extra, opt)
		case line == "":
			section = nil
		case line == ";; QUESTION SECTION:":
			section = nil
			m.Question = nil
		case strings.HasPrefix(line, ";; ANSWER SECTION:"):
			section = &m.Answer
		case strings.HasPrefix(line, ";; AUTHORITY SECTION:"):
			section = &m.Ns
		case strings.HasPrefix(line, ";; ADDITIONAL SECTION:"):
			section = &m.Extra
		case section == nil && len(m.Question) == 0 && strings.HasPrefix(line, ";") && !strings.HasPrefix(line, ";;") && len(strings.Fields(line)) == 3:
			f := strings.Fields(line[1:])
			qt, ok := dns.StringToType[f[2]]
			if !ok {
				return nil, fmt.Errorf("question type in %q", line)
			}
			m.Question = []dns.Question{{Name: f[0], Qtype: qt, Qclass: dns.StringToClass[f[1]]}}
		case section != nil && !strings.HasPrefix(line, ";"):
			rr, err := dns.NewRR(line)
			if err != nil {
				return nil, fmt.Errorf("record %q: %w", line, err)
			}
			*section = append(*section, rr)
		}
	}
	if m == nil {
		return nil, errors.New("no reply header in dig output")
	}
	return m, nil
}

// resolver returns Go's own stub resolver, sending every query to the server.
func (s *server) resolver() *net.Resolver {
	return &net.Resolver{
		PreferGo:     true,
		StrictErrors: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, s.addr)
		},
	}
}

func lookupCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*queryTimeout)
	t.Cleanup(cancel)
	return ctx
}

// rrStrings returns the records in presentation form with single spaces,
// sorted, OPT records left out.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}

func rcodeName(rc int) string {
	if s, ok := dns.RcodeToString[rc]; ok {
		return s
	}
	return strconv.Itoa(rc)
}
