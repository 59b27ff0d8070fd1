package integration

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The security tests run the server with a low open-file limit (as a
// small container or an old init system would give it) and try to make it
// run out of descriptors or memory from one client address, 127.0.0.2,
// while a legitimate client on 127.0.0.1 must still be answered.
const (
	lowNofile   = 256             // the server's open-file limit in these tests
	floodConns  = 400             // connections of the attacker: more than the limit
	serveBound  = 5 * time.Second // a legitimate client is answered within this
	attackerIP  = "127.0.0.2"
	floodDialTO = 2 * time.Second
)

// startLimited is startServer with the server's open-file limits, soft and
// hard, set from its start (by prlimit, which execs it).
func startLimited(t *testing.T, tmpl string, soft, hard int) *server {
	t.Helper()
	prlimit := requireTool(t, "prlimit", "util-linux")
	dir := t.TempDir()
	var err error
	for try := 1; try <= startTries; try++ {
		s := &server{t: t, corefile: filepath.Join(dir, "Corefile"), out: new(syncBuffer)}
		s.port, s.apiPort = freePort(t), freePort(t)
		s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
		s.apiURL = "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(s.apiPort))
		s.writeCorefile(tmpl)
		s.cmd = exec.Command(prlimit, fmt.Sprintf("--nofile=%d:%d", soft, hard), "--", signpostBin, "-conf", s.corefile)
		s.cmd.Dir = dir
		s.cmd.Stdout, s.cmd.Stderr = s.out, s.out
		s.cmd.WaitDelay = stopTimeout
		if err = s.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		s.exited = make(chan struct{})
		go func() {
			s.waitErr = s.cmd.Wait()
			close(s.exited)
		}()
		if err = s.waitReady(); err == nil {
			t.Cleanup(s.stop)
			s.api().waitReady(t)
			return s
		}
		s.kill()
		if !errors.Is(err, errPortTaken) {
			break
		}
	}
	t.Fatalf("starting signpost with open-file limits %d:%d: %v", soft, hard, err)
	return nil
}

// flood opens n connections to addr from the attacker's address at once,
// writes head on each (nothing when empty) and keeps them open until the
// test ends, sending nothing more. It returns once every connection is
// open and written to, or has failed.
func flood(t *testing.T, addr, head string, n int) {
	t.Helper()
	d := net.Dialer{Timeout: floodDialTO, LocalAddr: &net.TCPAddr{IP: net.ParseIP(attackerIP)}}
	var (
		mu    sync.Mutex
		conns []net.Conn
		wg    sync.WaitGroup
	)
	for range n {
		wg.Go(func() {
			c, err := d.Dial("tcp", addr)
			if err != nil {
				return // refused or timed out: the server is full, or shed it
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			if head != "" {
				c.SetWriteDeadline(time.Now().Add(floodDialTO))
				io.WriteString(c, head)
			}
		})
	}
	wg.Wait()
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	t.Logf("%d of %d connections from %s to %s open", len(conns), n, attackerIP, addr)
}

// checkServes checks that a new client on 127.0.0.1 gets answers from the
// API (a read, and a write with token when one is given) and from DNS over
// TCP, each within serveBound, on connections of its own.
func (s *server) checkServes(t *testing.T, token string) {
	t.Helper()
	hc := &http.Client{Timeout: serveBound, Transport: &http.Transport{DisableKeepAlives: true}}
	c := apiConn{base: s.apiURL, hc: hc, token: token}
	start := time.Now()
	if r, err := c.try(http.MethodGet, "/v1/services", ""); err != nil || r.code != http.StatusOK {
		t.Errorf("API read by another client: %v %v after %v", r, err, time.Since(start).Round(time.Millisecond))
	}
	if r, err := c.try(http.MethodPut, instPath("web", "w1"), regBody("10.0.0.5", 8080, "")); err != nil || r.code != http.StatusOK {
		t.Errorf("API write by another client: %v %v after %v", r, err, time.Since(start).Round(time.Millisecond))
	}
	dc := &dns.Client{Net: "tcp", Timeout: serveBound}
	if r, _, err := dc.Exchange(newQuery("web.svc.internal.", dns.TypeA), s.addr); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Errorf("DNS over TCP for another client: %v %v after %v", r, err, time.Since(start).Round(time.Millisecond))
	}
	t.Logf("served another client through the API and DNS over TCP in %v", time.Since(start).Round(time.Millisecond))
}

// TestSecurityHeadOnlyFlood sends, from one address, more connections than
// the server has descriptors, each with the head of a registration that
// declares a body of 1000 bytes and never sends it. With a token set they
// are refused before their body; without one each waits for its body. In
// both cases another client must be served, by the API and by DNS over
// TCP, and the server must not run out of descriptors.
func TestSecurityHeadOnlyFlood(t *testing.T) {
	tests := []struct {
		name, extra, token string
	}{
		{"token set, no token sent", "        token s3cret\n", "s3cret"},
		{"no token set", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := startLimited(t, apiCorefileWith(tc.extra), lowNofile, lowNofile)
			head := "PUT /v1/services/web/instances/w1 HTTP/1.1\r\nHost: signpost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
			flood(t, strings.TrimPrefix(s.apiURL, "http://"), head, floodConns)
			s.checkServes(t, tc.token)
			out := s.out.String()
			if strings.Contains(out, "too many open files") {
				t.Errorf("the server ran out of descriptors:\n%s", out)
			}
			if !strings.Contains(out, "api: closed a connection from "+attackerIP+"/32") {
				t.Errorf("no warning about the connections refused from %s:\n%s", attackerIP, out)
			}
		})
	}
}

// TestSecurityIdleDNSConnections opens more TCP connections to the DNS
// port than the server has descriptors, half of them idle and half slow
// (a query's length sent, the query never): CoreDNS closes a connection
// whose query has not arrived within its read timeout (3s), so a new
// client is answered within a few read timeouts, not never.
func TestSecurityIdleDNSConnections(t *testing.T) {
	s := startLimited(t, apiCorefile, lowNofile, lowNofile)
	s.api().expect(t, http.StatusOK, http.MethodPut, instPath("web", "w1"), regBody("10.0.0.5", 8080, ""))
	flood(t, s.addr, "", floodConns/2)
	flood(t, s.addr, "\x00\x40", floodConns/2)
	dc := &dns.Client{Net: "tcp", Timeout: 4 * serveBound}
	start := time.Now()
	r, _, err := dc.Exchange(newQuery("web.svc.internal.", dns.TypeA), s.addr)
	if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
		t.Fatalf("DNS over TCP beside %d idle and slow connections: %v %v after %v", floodConns, r, err, time.Since(start))
	}
	t.Logf("answered over TCP beside %d idle and slow connections in %v", floodConns, time.Since(start).Round(time.Millisecond))
}

// TestSecuritySnapshotNeedsToken checks that a server without a token, as
// Corefile.example runs, refuses to hand out its backup (which holds the
// credentials of checks) and to replace its registry, while every other
// call works without a token; and that with a token both work.
func TestSecuritySnapshotNeedsToken(t *testing.T) {
	const msg = ` /v1/snapshot needs a token and this server has none: set "token" or "token-file" in the signpost block of the Corefile`
	open := startServer(t, apiCorefile)
	c := open.api()
	c.waitReady(t)
	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w1"), regBody("127.0.0.1", 8080,
		`, "check": {"type": "http", "path": "/healthz", "header": {"X-Api-Key": "xkey-secret"}}`))
	for _, method := range []string{http.MethodGet, http.MethodPut} {
		body := ""
		if method == http.MethodPut {
			body = " " // an empty backup, which would delete everything
		}
		r := c.expect(t, http.StatusForbidden, method, "/v1/snapshot", body)
		if r.errorText() != method+msg || strings.Contains(r.body, "xkey-secret") {
			t.Errorf("%s /v1/snapshot: %v", method, r)
		}
	}
	if _, r, ok := c.service(t, "web"); !ok {
		t.Errorf("web after a refused restore: %v", r)
	}
	if _, stderr, code := persistCtl(t, "snapshot", "save", filepath.Join(t.TempDir(), "b.json"), "--server", open.apiURL, "--token", "x"); code != 1 || !strings.Contains(stderr, "GET"+msg+" (HTTP 403)") {
		t.Errorf("signpostctl snapshot save: exit %d, %s", code, stderr)
	}

	locked := startServer(t, apiCorefileWith("        token s3cret\n"))
	lc := locked.api().withToken("s3cret")
	lc.waitReady(t)
	lc.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w1"), regBody("10.0.0.5", 8080, ""))
	backup := lc.expect(t, http.StatusOK, http.MethodGet, "/v1/snapshot", "")
	lc.expect(t, http.StatusOK, http.MethodPut, "/v1/snapshot", backup.body)
	locked.api().expect(t, http.StatusUnauthorized, http.MethodGet, "/v1/snapshot", "")
}

// TestSecurityMasksCheckSecrets registers a check whose URL carries a
// password and an API key in its query, and whose headers carry keys, and
// reads it back every way there is: none of them may show a secret, and
// neither may the server's log.
func TestSecurityMasksCheckSecrets(t *testing.T) {
	s := startServer(t, apiCorefile)
	c := s.api()
	c.waitReady(t)
	secrets := []string{"pa55word", "querysecret", "xkey-secret", "Bearer tok3n"}
	check := `, "check": {"type": "http", "url": "http://probe:pa55word@127.0.0.1:1/healthz?api_key=querysecret&v=1",` +
		` "interval": "1s", "header": {"X-Api-Key": "xkey-secret", "Authorization": "Bearer tok3n"}}`
	answers := map[string]string{
		"registration": c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w1"), regBody("127.0.0.1", 8080, check)).body,
		"service":      c.expect(t, http.StatusOK, http.MethodGet, "/v1/services/web", "").body,
		"services":     c.expect(t, http.StatusOK, http.MethodGet, "/v1/services", "").body,
	}
	stdout, stderr, code := persistCtl(t, "show", "web", "--server", s.apiURL)
	if code != 0 {
		t.Fatalf("signpostctl show: exit %d: %s", code, stderr)
	}
	answers["signpostctl show"] = stdout
	for what, text := range answers {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s shows %q:\n%s", what, secret, text)
			}
		}
	}
	var svc struct {
		Instances []struct {
			Check struct {
				URL    string            `json:"url"`
				Header map[string]string `json:"header"`
			} `json:"check"`
		} `json:"instances"`
	}
	if err := json.Unmarshal([]byte(answers["service"]), &svc); err != nil || len(svc.Instances) != 1 {
		t.Fatalf("service answer %s: %v", answers["service"], err)
	}
	got := svc.Instances[0].Check
	if want := "http://probe:xxxxx@127.0.0.1:1/healthz?api_key=xxxxx&v=xxxxx"; got.URL != want {
		t.Errorf("check URL %q, want %q", got.URL, want)
	}
	if got.Header["X-Api-Key"] != "***" || got.Header["Authorization"] != "***" {
		t.Errorf("check headers %v, want every value masked", got.Header)
	}
	c.expect(t, http.StatusNoContent, http.MethodDelete, instPath("web", "w1"), "")
	for _, secret := range secrets {
		if strings.Contains(s.out.String(), secret) {
			t.Errorf("the server logged %q:\n%s", secret, s.out.String())
		}
	}
}

// vmHWM returns the peak resident memory of process pid, in bytes.
func vmHWM(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if f := strings.Fields(sc.Text()); len(f) == 3 && f[0] == "VmHWM:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}

// endlessBackup is the start of a backup whose list of instances goes on
// for ever.
type endlessBackup struct{ n int }

func (e *endlessBackup) Read(p []byte) (int, error) {
	const head = `{"version":1,"index":1,"instances":[`
	const rec = `{"v":1,"service":"web","id":"w1","address":"10.0.0.1","port":80,"weight":1},`
	for i := range p {
		if e.n < len(head) {
			p[i] = head[e.n]
		} else {
			p[i] = rec[(e.n-len(head))%len(rec)]
		}
		e.n++
	}
	return len(p), nil
}

// TestSecuritySnapshotRestoreMemory sends four restores of 100 MB at once:
// a server that read each body whole before looking at it would hold them
// all. One restore runs at a time, it stops reading at the limit, and the
// others are refused before their body.
func TestSecuritySnapshotRestoreMemory(t *testing.T) {
	const (
		uploads    = 4
		bodyBytes  = 100 << 20
		growthMost = 320 << 20
	)
	s := startServer(t, apiCorefileWith("        token s3cret\n"))
	c := s.api().withToken("s3cret")
	c.waitReady(t)
	c.expect(t, http.StatusOK, http.MethodPut, instPath("keep", "k1"), regBody("10.0.0.5", 8080, ""))
	before := vmHWM(t, s.cmd.Process.Pid)

	hc := &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{DisableKeepAlives: true}}
	type result struct {
		code int
		msg  string
		err  error
	}
	results := make([]result, uploads)
	var wg sync.WaitGroup
	for i := range uploads {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodPut, s.apiURL+"/v1/snapshot", io.LimitReader(&endlessBackup{}, bodyBytes))
			if err != nil {
				results[i].err = err
				return
			}
			req.Header.Set("Authorization", "Bearer s3cret")
			resp, err := hc.Do(req)
			if err != nil {
				results[i].err = err // refused and closed while the body was still going out
				return
			}
			defer resp.Body.Close()
			r := reply{code: resp.StatusCode}
			b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			r.body = string(b)
			results[i] = result{code: r.code, msg: r.errorText()}
		})
	}
	wg.Wait()
	tooLarge := 0
	for i, r := range results {
		switch {
		case r.err != nil:
			t.Logf("upload %d: %v", i, r.err)
		case r.code == http.StatusRequestEntityTooLarge && r.msg == "body: larger than 67108864 bytes":
			tooLarge++
		case r.code == http.StatusConflict && r.msg == "another restore is in progress: try again once it is done":
		default:
			t.Errorf("upload %d: %d %q", i, r.code, r.msg)
		}
	}
	if tooLarge == 0 {
		t.Errorf("no upload was answered 413 with the limit: %+v", results)
	}
	after := vmHWM(t, s.cmd.Process.Pid)
	t.Logf("peak resident memory %d MiB before, %d MiB after %d restores of %d MiB", before>>20, after>>20, uploads, bodyBytes>>20)
	if after-before > growthMost {
		t.Errorf("peak resident memory grew by %d MiB, want at most %d MiB", (after-before)>>20, growthMost>>20)
	}
	if _, r, ok := c.service(t, "keep"); !ok {
		t.Errorf("keep after the refused restores: %v", r)
	}
}

// TestSecurityOpenFileLimitRaised starts the server with a soft open-file
// limit below the hard one and checks that it raises the soft limit to the
// hard one, says so, and sizes the API's connection caps from it.
func TestSecurityOpenFileLimitRaised(t *testing.T) {
	s := startLimited(t, apiCorefile, 512, 2048)
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", s.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for line := range strings.Lines(string(limits)) {
		if rest, ok := strings.CutPrefix(line, "Max open files"); ok {
			if f := strings.Fields(rest); len(f) < 2 || f[0] != "2048" || f[1] != "2048" {
				t.Errorf("open-file limits %q, want 2048 soft and hard", strings.TrimSpace(rest))
			}
		}
	}
	// The limit is logged once the server has started, which may be just
	// after its first answer.
	deadline := time.Now().Add(readyTimeout)
	for _, want := range []string{"open-file limit is 2048", "(at most 1024 connections, 128 per client address)"} {
		for !strings.Contains(s.out.String(), want) {
			if time.Now().After(deadline) {
				t.Fatalf("server output without %q:\n%s", want, s.out.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
