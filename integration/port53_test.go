package integration

import (
	"net"
	"net/http"
	"os"
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

// port53Corefile is contrib/Corefile.port53, the Corefile for a server on
// port 53, with what a test cannot use rewritten: port 53 and the fixed
// ports to free loopback ones, the token and data paths to the test's
// directory, and the placeholder upstreams to upstream. Every rewritten
// line must be found exactly once, so a change to the file that the test
// no longer covers fails here.
func port53Corefile(t *testing.T, dir, upstream string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "contrib", "Corefile.port53"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	token := writeFile(t, dir, "token", "port53-token\n")
	for _, r := range [][2]string{
		{"svc.internal:53 {", "svc.internal:{{PORT}} {"},
		{".:53 {", ".:{{PORT}} {"},
		{"api 127.0.0.1:8053", "api {{API}}"},
		{"token-file /etc/signpost/token", "token-file " + token},
		{"data /var/lib/signpost", "data " + filepath.Join(dir, "data")},
		{"prometheus 127.0.0.1:9153", "prometheus 127.0.0.1:" + strconv.Itoa(freePort(t))},
		{"forward . 192.0.2.53 192.0.2.54", "forward . " + upstream},
	} {
		if n := strings.Count(text, r[0]); n != 1 {
			t.Fatalf("contrib/Corefile.port53 holds %q %d times, want once", r[0], n)
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	// Tests listen on loopback only, and so does the file as shipped.
	if n := strings.Count(text, "bind 127.0.0.1 "); n != 2 {
		t.Fatalf("contrib/Corefile.port53: want both server blocks bound to 127.0.0.1, found %d", n)
	}
	if strings.Contains(text, "forward . /etc/resolv.conf") {
		t.Fatal("contrib/Corefile.port53 forwards to /etc/resolv.conf")
	}
	return text
}

// fakeUpstream is a resolver on loopback that answers every A question with
// 192.0.2.1 and every other one with NXDOMAIN, and records the questions.
type fakeUpstream struct {
	addr string
	mu   sync.Mutex
	seen []dns.Question
}

func startUpstream(t *testing.T) *fakeUpstream {
	t.Helper()
	u := &fakeUpstream{}
	pc, err := net.ListenPacket("udp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	u.addr = pc.LocalAddr().String()
	srv := &dns.Server{PacketConn: pc, Handler: dns.HandlerFunc(u.serve)}
	started := make(chan struct{})
	srv.NotifyStartedFunc = func() { close(started) }
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.ActivateAndServe()
	}()
	select {
	case <-started:
	case <-time.After(readyTimeout):
		t.Fatal("fake upstream did not start")
	}
	t.Cleanup(func() {
		_ = srv.Shutdown()
		<-done
	})
	return u
}

func (u *fakeUpstream) serve(w dns.ResponseWriter, r *dns.Msg) {
	m := new(dns.Msg)
	m.SetReply(r)
	q := r.Question[0]
	u.mu.Lock()
	u.seen = append(u.seen, q)
	u.mu.Unlock()
	if q.Qtype == dns.TypeA {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 1)})
	} else {
		m.Rcode = dns.RcodeNameError
	}
	_ = w.WriteMsg(m)
}

// saw reports whether the upstream was asked a question of type qtype whose
// name satisfies match.
func (u *fakeUpstream) saw(qtype uint16, match func(string) bool) bool {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, q := range u.seen {
		if q.Qtype == qtype && match(q.Name) {
			return true
		}
	}
	return false
}

// The Corefile for port 53 runs as shipped: the service zone answers,
// registrations need its token and are kept in its data directory, other
// names go to the named upstreams, the loop plugin probes them at start-up,
// and SIGUSR1 (the unit's ExecReload) reloads it keeping registrations.
func TestPort53Corefile(t *testing.T) {
	dir := t.TempDir()
	up := startUpstream(t)
	s := startServer(t, port53Corefile(t, dir, up.addr))
	api := s.api()
	api.waitReady(t)

	api.expect(t, http.StatusUnauthorized, http.MethodPut, instPath("web", "web-1"), regBody("10.0.0.7", 8080, ""))
	api.withToken("port53-token").expect(t, http.StatusOK, http.MethodPut, instPath("web", "web-1"), regBody("10.0.0.7", 8080, ""))
	checkWeb(t, s)
	if _, err := os.Stat(filepath.Join(dir, "data", "registry.db")); err != nil {
		t.Errorf("data directory: %v", err)
	}

	q := new(dns.Msg)
	q.SetQuestion("example.com.", dns.TypeA)
	r := s.exchange(t, q, "udp")
	if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 || r.Answer[0].(*dns.A).A.String() != "192.0.2.1" {
		t.Errorf("example.com A through the upstream: %v", r)
	}
	// The loop plugin's probe, <random>.<random>. HINFO, went upstream.
	deadline := time.Now().Add(readyTimeout)
	for !up.saw(dns.TypeHINFO, func(name string) bool { return dns.CountLabel(name) == 2 }) {
		if time.Now().After(deadline) {
			t.Fatal("the loop plugin sent no probe upstream")
		}
		time.Sleep(20 * time.Millisecond)
	}

	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(readyTimeout)
	for !strings.Contains(s.out.String(), "SIGUSR1: Reloading") {
		if time.Now().After(deadline) {
			t.Fatal("no reload after SIGUSR1")
		}
		time.Sleep(20 * time.Millisecond)
	}
	api.waitReady(t)
	checkWeb(t, s)
	if strings.Contains(s.out.String(), "[ERROR] SIGUSR1") {
		t.Error("reload after SIGUSR1 failed")
	}
}

// With the upstreams leading back to the server itself, as forwarding to
// /etc/resolv.conf does once resolv.conf names the server, the loop plugin
// stops the server at start-up and says why.
func TestPort53CorefileStopsOnLoop(t *testing.T) {
	dir := t.TempDir()
	port := freePort(t)
	text := strings.NewReplacer(
		"{{PORT}}", strconv.Itoa(port),
		"{{API}}", "127.0.0.1:"+strconv.Itoa(freePort(t)),
	).Replace(port53Corefile(t, dir, "127.0.0.1:"+strconv.Itoa(port)))
	out := mustFailToStart(t, writeFile(t, dir, "Corefile", text))
	if !strings.Contains(out, "Loop (") || !strings.Contains(out, `detected for zone "."`) {
		t.Errorf("no loop reported; output:\n%s", out)
	}
}

// checkWeb checks that web.svc.internal answers the instance 10.0.0.7:8080
// with the Corefile's 5s TTL, by address and by SRV.
func checkWeb(t *testing.T, s *server) {
	t.Helper()
	if addrs, ttls, rcode := s.addrsOf(t, "web.svc.internal."); rcode != dns.RcodeSuccess || !slices.Equal(addrs, []string{"10.0.0.7"}) || !slices.Equal(ttls, []uint32{5}) {
		t.Errorf("web.svc.internal A: %s %v ttl %v, want 10.0.0.7 ttl 5", rcodeName(rcode), addrs, ttls)
	}
	r := s.exchange(t, newQuery("_web._tcp.svc.internal.", dns.TypeSRV), "udp")
	if len(r.Answer) != 1 || r.Answer[0].(*dns.SRV).Port != 8080 || r.Answer[0].(*dns.SRV).Target != "10-0-0-7.addr.svc.internal." {
		t.Errorf("_web._tcp.svc.internal SRV: %v", r.Answer)
	}
}
