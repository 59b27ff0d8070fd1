package integration

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/signpost-dns/signpost/internal/etcdtest"
)

// Timing of the etcd tests. Each bound is what the design promises plus
// etcdSlack for a loaded machine; every wait below is bounded by one.
const (
	etcdShortTTL        = 2 * time.Second  // leases the tests let lapse
	etcdLongTTL         = "600s"           // leases that outlast the test
	etcdDeregisterAfter = 2 * time.Second  // the Corefile's deregister-after
	etcdSweep           = time.Second      // expiry sweeps once a second
	etcdElectionTTL     = 3 * time.Second  // a dead server's probe shards move within this
	etcdUnavailable     = 2 * time.Second  // a write with etcd gone answers 503 within this
	etcdPropagation     = 3 * time.Second  // one server's write seen by the other
	etcdReconnect       = 15 * time.Second // a server back on etcd after it came back
	etcdSlack           = 2 * time.Second
	etcdPollEvery       = 50 * time.Millisecond
	etcdHeartbeatEvery  = 500 * time.Millisecond // a quarter of etcdShortTTL
	etcdProbeInterval   = time.Second
	etcdProbeFall       = 3                     // the check's default
	etcdProbeRise       = 2                     // the check's default
	etcdStreamPace      = 20 * time.Millisecond // between two writes of one writer
)

// etcdCorefile is a server of the registry shared through etcd at
// endpoints, with its metrics and readiness on the given ports. The ready
// plugin monitors continuously: by default it stops asking a plugin once it
// was ready, and would never report the loss of etcd.
func etcdCorefile(endpoints []string, metricsPort, readyPort int) string {
	return fmt.Sprintf(`svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        deregister-after %s
        etcd {
            endpoint %s
            path /signpost-it
        }
    }
    prometheus 127.0.0.1:%d
    ready 127.0.0.1:%d {
        monitor continuously
    }
    errors
}
`, etcdDeregisterAfter, strings.Join(endpoints, " "), metricsPort, readyPort)
}

// etcdServer is a signpost server on a registry shared through etcd.
type etcdServer struct {
	*server
	name       string // A or B, for messages
	metricsURL string
	readyURL   string
}

func startEtcdServer(t *testing.T, name string, endpoints []string) *etcdServer {
	t.Helper()
	mp, rp := freePort(t), freePort(t)
	s := &etcdServer{
		server:     startServer(t, etcdCorefile(endpoints, mp, rp)),
		name:       name,
		metricsURL: fmt.Sprintf("http://127.0.0.1:%d/metrics", mp),
		readyURL:   fmt.Sprintf("http://127.0.0.1:%d/ready", rp),
	}
	s.api().waitReady(t)
	return s
}

// put registers an instance at addr:80 with a lease of ttl and returns the
// API's status and body.
func (s *etcdServer) put(service, id, addr, ttl string) (int, string) {
	return s.call(http.MethodPut, instPath(service, id), instanceBody{Address: addr, Port: 80, TTL: ttl})
}

// mustPut is put that fails the test unless the API answered 200.
func (s *etcdServer) mustPut(t *testing.T, service, id, addr, ttl string) {
	t.Helper()
	if code, body := s.put(service, id, addr, ttl); code != http.StatusOK {
		t.Fatalf("PUT %s through %s: %d %s, want 200", instPath(service, id), s.name, code, body)
	}
}

// mustDelete deregisters an instance and fails the test unless the API
// answered 204.
func (s *etcdServer) mustDelete(t *testing.T, service, id string) {
	t.Helper()
	if code, body := s.call(http.MethodDelete, instPath(service, id), nil); code != http.StatusNoContent {
		t.Fatalf("DELETE %s through %s: %d %s, want 204", instPath(service, id), s.name, code, body)
	}
}

// metric sums the samples of the metric name whose labels hold every
// `label="value"` of match, and says how many there were.
func (s *etcdServer) metric(name string, match ...string) (sum float64, n int, err error) {
	resp, err := httpClient.Get(s.metricsURL)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return 0, 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("GET %s: %s", s.metricsURL, resp.Status)
	}
	for line := range strings.Lines(string(b)) {
		series, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(series, "#") {
			continue
		}
		metric, labels, _ := strings.Cut(series, "{")
		if metric != name || !etcdContainsAll(labels, match) {
			continue
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %q: %v", s.metricsURL, line, err)
		}
		sum += v
		n++
	}
	return sum, n, nil
}

func etcdContainsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// httpProbes is how many http probes the server has run.
func (s *etcdServer) httpProbes() (float64, error) {
	v, _, err := s.metric("coredns_signpost_probes_total", `type="http"`)
	return v, err
}

// etcdState checks that the ready plugin and the connection metric both say
// connected (or both say not).
func (s *etcdServer) etcdState(connected bool) error {
	resp, err := httpClient.Get(s.readyURL)
	if err != nil {
		return err
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
	resp.Body.Close()
	if ready := resp.StatusCode == http.StatusOK; ready != connected {
		return fmt.Errorf("%s: /ready answers %s %q", s.name, resp.Status, strings.TrimSpace(string(body)))
	}
	v, n, err := s.metric("coredns_signpost_etcd_connected")
	switch {
	case err != nil:
		return err
	case n != 1:
		return fmt.Errorf("%s: %d samples of coredns_signpost_etcd_connected, want 1", s.name, n)
	case (v == 1) != connected:
		return fmt.Errorf("%s: coredns_signpost_etcd_connected is %v", s.name, v)
	}
	return nil
}

// etcdAnswer is what one server answers for the A records of a name.
type etcdAnswer struct {
	rcode int
	addrs []string // sorted
}

func (a etcdAnswer) String() string { return fmt.Sprintf("%s %v", rcodeName(a.rcode), a.addrs) }

func (a etcdAnswer) equal(b etcdAnswer) bool {
	return a.rcode == b.rcode && slices.Equal(a.addrs, b.addrs)
}

func etcdServed(addrs ...string) etcdAnswer { return etcdAnswer{dns.RcodeSuccess, sorted(addrs)} }

var (
	etcdNoData   = etcdAnswer{rcode: dns.RcodeSuccess}   // the service is there, with nothing healthy
	etcdNXDomain = etcdAnswer{rcode: dns.RcodeNameError} // the service is gone
)

// answerOf asks the server for the A records of name over TCP, where a
// service of hundreds of instances fits whole.
func (s *etcdServer) answerOf(name string) (etcdAnswer, error) {
	r, err := s.tryExchange(newQuery(name, dns.TypeA), "tcp")
	if err != nil {
		return etcdAnswer{}, fmt.Errorf("%s: %w", s.name, err)
	}
	a := etcdAnswer{rcode: r.Rcode}
	for _, rr := range r.Answer {
		if rec, ok := rr.(*dns.A); ok {
			a.addrs = append(a.addrs, rec.A.String())
		}
	}
	slices.Sort(a.addrs)
	return a, nil
}

// checkAnswer asks once, without retrying.
func (s *etcdServer) checkAnswer(t *testing.T, what, name string, want etcdAnswer) {
	t.Helper()
	got, err := s.answerOf(name)
	if err != nil {
		t.Errorf("%s: %v", what, err)
	} else if !got.equal(want) {
		t.Errorf("%s: %s answers A %s with %v, want %v", what, s.name, name, got, want)
	}
}

// waitAnswer polls until the server answers want for name, and returns when
// it first did; after deadline it fails the test.
func (s *etcdServer) waitAnswer(t *testing.T, what, name string, want etcdAnswer, deadline time.Time) (time.Time, bool) {
	t.Helper()
	var last string
	for {
		got, err := s.answerOf(name)
		now := time.Now()
		switch {
		case err != nil:
			last = err.Error()
		case got.equal(want):
			return now, true
		default:
			last = got.String()
		}
		if now.After(deadline) {
			t.Errorf("%s: %s answers A %s with %s at the deadline, want %v", what, s.name, name, last, want)
			return now, false
		}
		time.Sleep(etcdPollEvery)
	}
}

// etcdPoll calls f until it returns nil, and fails the test with f's last
// error if that takes longer than bound. It returns how long it took.
func etcdPoll(t *testing.T, what string, bound time.Duration, f func() error) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for {
		err := f()
		took := time.Since(start)
		if err == nil {
			return took, true
		}
		if took > bound {
			t.Errorf("%s: not within %v: %v", what, bound, err)
			return took, false
		}
		time.Sleep(etcdPollEvery)
	}
}

// etcdHeartbeats renews an instance's lease through one server, in the
// background, until stop.
type etcdHeartbeats struct {
	stopc chan struct{}
	done  chan struct{}
	once  sync.Once

	mu       sync.Mutex
	acks     int
	fails    int
	lastSent time.Time // when the last acknowledged heartbeat was sent
	lastErr  string
}

func startEtcdHeartbeats(t *testing.T, s *etcdServer, service, id string) *etcdHeartbeats {
	h := &etcdHeartbeats{stopc: make(chan struct{}), done: make(chan struct{})}
	path := instPath(service, id) + "/heartbeat"
	go func() {
		defer close(h.done)
		tick := time.NewTicker(etcdHeartbeatEvery)
		defer tick.Stop()
		for {
			sent := time.Now()
			code, body := s.call(http.MethodPut, path, nil)
			h.mu.Lock()
			if code == http.StatusOK {
				h.acks++
				h.lastSent = sent
			} else {
				h.fails++
				h.lastErr = fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
			}
			h.mu.Unlock()
			select {
			case <-h.stopc:
				return
			case <-tick.C:
			}
		}
	}()
	t.Cleanup(h.stop)
	return h
}

// stop ends the heartbeats and waits for the last one.
func (h *etcdHeartbeats) stop() {
	h.once.Do(func() { close(h.stopc) })
	<-h.done
}

func (h *etcdHeartbeats) String() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	s := fmt.Sprintf("%d acknowledged, %d failed", h.acks, h.fails)
	if h.lastErr != "" {
		s += " (last: " + h.lastErr + ")"
	}
	return s
}

// etcdScenario is the state the steps of TestEtcdSharedRegistry share: an
// etcd cluster, servers A and B on it, and what both should answer.
type etcdScenario struct {
	c    *etcdtest.Cluster
	a, b *etcdServer
	want map[string]etcdAnswer // by service name
}

func (e *etcdScenario) servers() []*etcdServer { return []*etcdServer{e.a, e.b} }

// checkWanted asks each server once for every service of want.
func (e *etcdScenario) checkWanted(t *testing.T, what string, servers ...*etcdServer) {
	t.Helper()
	for _, s := range servers {
		for svc, want := range e.want {
			s.checkAnswer(t, what, svcName(svc), want)
		}
	}
}

// TestEtcdSharedRegistry runs two Signpost servers on one registry in a
// three-member etcd cluster, on every etcd server supported, through one
// scenario: each step starts from what the steps before it left. It is not
// parallel: its bounds hold on a loaded machine, but it should not share
// two cores with every other test of the package.
func TestEtcdSharedRegistry(t *testing.T) {
	for _, bin := range etcdtest.Binaries(t) {
		t.Run(bin.String(), func(t *testing.T) {
			c := etcdtest.Start(t, etcdtest.Options{Members: 3, Binary: bin})
			e := &etcdScenario{c: c, want: make(map[string]etcdAnswer)}
			e.a = startEtcdServer(t, "A", c.Endpoints())
			e.b = startEtcdServer(t, "B", c.Endpoints())
			t.Cleanup(httpClient.CloseIdleConnections)
			for _, step := range []struct {
				name string
				run  func(*testing.T)
			}{
				{"register through one server, resolve through the other", e.registerResolve},
				{"heartbeats through B keep an instance of A; its lease lapses on both", e.heartbeatAndLapse},
				{"an etcd member killed during a stream of registrations", e.killMemberDuringStream},
				{"every etcd member down", e.etcdDown},
				{"etcd back", e.etcdBack},
				{"a server restarted loads everything before answering", e.restartServer},
				{"the server probing a service killed", e.probeTakeover},
			} {
				start := time.Now()
				step.run(t)
				t.Logf("step %q: %v", step.name, time.Since(start).Round(time.Millisecond))
				if t.Failed() {
					return // the steps after build on this one
				}
			}
		})
	}
}

func (e *etcdScenario) registerResolve(t *testing.T) {
	name := svcName("web")
	e.a.mustPut(t, "web", "web-1", "10.0.5.1", etcdLongTTL)
	// A acknowledges a write once its own snapshot holds it.
	e.a.checkAnswer(t, "right after A acknowledged", name, etcdServed("10.0.5.1"))
	_, ok := e.b.waitAnswer(t, "registered through A", name, etcdServed("10.0.5.1"), time.Now().Add(etcdPropagation))
	if !ok {
		return
	}
	e.b.mustPut(t, "web", "web-2", "10.0.5.2", etcdLongTTL)
	e.want["web"] = etcdServed("10.0.5.1", "10.0.5.2")
	e.b.checkAnswer(t, "right after B acknowledged", name, e.want["web"])
	e.a.waitAnswer(t, "registered through B", name, e.want["web"], time.Now().Add(etcdPropagation))
	for _, s := range e.servers() {
		if svc, r, ok := s.api().service(t, "web"); !ok || svc.Passing != 2 {
			t.Errorf("GET /v1/services/web on %s: %v, want both instances passing", s.name, r)
		}
		if err := s.etcdState(true); err != nil {
			t.Error(err)
		}
	}
}

func (e *etcdScenario) heartbeatAndLapse(t *testing.T) {
	const svc, id, addr = "hb", "hb-1", "10.0.6.1"
	name := svcName(svc)
	e.a.mustPut(t, svc, id, addr, etcdShortTTL.String())
	registered := time.Now()
	// B knows the instance once its watch delivered it; until then it
	// answers a heartbeat with 404, as for any instance it does not know.
	if _, ok := e.b.waitAnswer(t, "registered through A", name, etcdServed(addr), time.Now().Add(etcdPropagation)); !ok {
		return
	}
	hb := startEtcdHeartbeats(t, e.b, svc, id)
	// Kept alive by B's heartbeats alone for twice its TTL.
	for until := registered.Add(2 * etcdShortTTL); time.Now().Before(until); time.Sleep(100 * time.Millisecond) {
		for _, s := range e.servers() {
			got, err := s.answerOf(name)
			if err != nil || !got.equal(etcdServed(addr)) {
				t.Fatalf("%v after registering with a TTL of %v and heartbeats through B (%v): %s answers %v (%v), want %v",
					time.Since(registered).Round(time.Millisecond), etcdShortTTL, hb, s.name, got, err, etcdServed(addr))
			}
		}
	}
	hb.stop()
	hb.mu.Lock()
	acks, fails, lastSent := hb.acks, hb.fails, hb.lastSent
	hb.mu.Unlock()
	if fails > 0 || acks < 3 {
		t.Errorf("heartbeats through B: %v, want every one acknowledged", hb)
	}
	// The lease lapses in etcd TTL after the last heartbeat; every server
	// marks the instance critical at its next sweep.
	deadline := lastSent.Add(etcdShortTTL + etcdSweep + etcdSlack)
	var lapsed time.Time
	for _, s := range e.servers() {
		at, ok := s.waitAnswer(t, "lease lapsed", name, etcdNoData, deadline)
		if !ok {
			return
		}
		if early := lastSent.Add(etcdShortTTL); at.Before(early) {
			t.Errorf("%s stopped answering %v after the last heartbeat was sent, before its TTL of %v", s.name, at.Sub(lastSent), etcdShortTTL)
		}
		t.Logf("%s stopped answering %v after the last heartbeat was sent (TTL %v)", s.name, at.Sub(lastSent).Round(time.Millisecond), etcdShortTTL)
		if at.After(lapsed) {
			lapsed = at
		}
	}
	// Removed deregister-after later, through etcd, from both.
	deadline = lapsed.Add(etcdDeregisterAfter + etcdSweep + etcdSlack)
	for _, s := range e.servers() {
		s.waitAnswer(t, "deregister-after passed", name, etcdNXDomain, deadline)
	}
}

// etcdStreamWriter registers instances through one server one after the
// other, and records which were acknowledged.
type etcdStreamWriter struct {
	s      *etcdServer
	prefix string // of ids
	net    int    // second octet of the addresses

	killed *atomic.Bool // set by the test once it killed a member

	mu         sync.Mutex
	acked      []string    // addresses
	afterKill  int         // acknowledged writes begun after the kill
	firstAfter time.Time   // when the first of them was acknowledged
	codes      map[int]int // answers other than 200, by status (0: no answer)
	lastErr    string
}

func (w *etcdStreamWriter) run(stop <-chan struct{}) {
	tick := time.NewTicker(etcdStreamPace)
	defer tick.Stop()
	for n := 0; ; n++ {
		select {
		case <-stop:
			return
		case <-tick.C:
		}
		addr := fmt.Sprintf("10.%d.%d.%d", w.net, n/250, n%250+1)
		after := w.killed.Load()
		code, body := w.s.put("stream", fmt.Sprintf("%s-%d", w.prefix, n), addr, etcdLongTTL)
		w.mu.Lock()
		if code == http.StatusOK {
			w.acked = append(w.acked, addr)
			if after {
				if w.afterKill == 0 {
					w.firstAfter = time.Now()
				}
				w.afterKill++
			}
		} else {
			w.codes[code]++
			w.lastErr = fmt.Sprintf("%d %s", code, strings.TrimSpace(body))
		}
		w.mu.Unlock()
	}
}

func (w *etcdStreamWriter) counts() (acked, afterKill int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.acked), w.afterKill
}

func (e *etcdScenario) killMemberDuringStream(t *testing.T) {
	name := svcName("stream")
	var killedFlag atomic.Bool
	writers := []*etcdStreamWriter{
		{s: e.a, prefix: "a", net: 20, killed: &killedFlag, codes: map[int]int{}},
		{s: e.b, prefix: "b", net: 21, killed: &killedFlag, codes: map[int]int{}},
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, w := range writers {
		wg.Go(func() { w.run(stop) })
	}
	stopped := false
	stopStream := func() {
		if !stopped {
			stopped = true
			close(stop)
			wg.Wait()
		}
	}
	defer stopStream()
	etcdPoll(t, "registrations flowing through both servers", 5*time.Second, func() error {
		for _, w := range writers {
			if n, _ := w.counts(); n < 10 {
				return fmt.Errorf("%d acknowledged through %s", n, w.s.name)
			}
		}
		return nil
	})
	leader := e.c.Leader()
	killed := time.Now()
	killedFlag.Store(true)
	leader.Kill()
	t.Logf("killed the etcd leader %s", leader.Name())
	// Writes go on through the two members left, once they elected a
	// leader; the stream runs at least 1.5 s past the kill.
	etcdPoll(t, "registrations acknowledged again after the kill", 10*time.Second, func() error {
		for _, w := range writers {
			if _, n := w.counts(); n == 0 {
				return fmt.Errorf("none begun after the kill acknowledged through %s", w.s.name)
			}
		}
		if time.Since(killed) < 1500*time.Millisecond {
			return fmt.Errorf("streaming on")
		}
		return nil
	})
	stopStream()
	var acked []string
	for _, w := range writers {
		w.mu.Lock()
		t.Logf("through %s: %d acknowledged, %d of them begun after the kill, the first %v after it; refused %v, last refusal %q",
			w.s.name, len(w.acked), w.afterKill, w.firstAfter.Sub(killed).Round(time.Millisecond), w.codes, w.lastErr)
		acked = append(acked, w.acked...)
		w.mu.Unlock()
	}
	// Every acknowledged registration is answered by both servers, and both
	// agree on those whose answer was lost.
	var last [2]etcdAnswer
	etcdPoll(t, "acknowledged registrations answered by both servers", etcdPropagation, func() error {
		for i, s := range e.servers() {
			got, err := s.answerOf(name)
			if err != nil {
				return err
			}
			last[i] = got
			if miss := missing(acked, got.addrs); len(miss) > 0 {
				return fmt.Errorf("%s misses acknowledged registrations (up to 5 shown): %v", s.name, miss)
			}
		}
		if !last[0].equal(last[1]) {
			return fmt.Errorf("A answers %d instances, B %d", len(last[0].addrs), len(last[1].addrs))
		}
		return nil
	})
	e.want["stream"] = last[0]
	leader.Start()
	e.c.WaitReady()
}

// etcdWrite is one API write made while etcd was down.
type etcdWrite struct {
	what string
	code int
	body string
	took time.Duration
}

func (e *etcdScenario) etcdDown(t *testing.T) {
	const svc = "down"
	name := svcName(svc)
	e.a.mustPut(t, svc, "down-1", "10.0.7.1", etcdShortTTL.String())
	e.b.mustPut(t, svc, "down-2", "10.0.7.2", etcdShortTTL.String())
	// Their leases run out in etcd etcdShortTTL after this, at the latest,
	// unless etcd is gone.
	registered := time.Now()
	e.want[svc] = etcdServed("10.0.7.1", "10.0.7.2")
	for _, s := range e.servers() {
		s.waitAnswer(t, "registered", name, e.want[svc], time.Now().Add(etcdPropagation))
	}
	// SIGKILL rather than SIGTERM: a member stopping gracefully may take
	// seconds, and a lease could then run out before the quorum is lost.
	for i := range e.c.Members() {
		e.c.Member(i).Kill()
	}
	down := time.Now()
	if d := down.Sub(registered); d > etcdShortTTL/2 {
		// The leases may have run out in etcd before it went.
		t.Logf("etcd went down only %v after the registrations with a TTL of %v", d, etcdShortTTL)
	}

	results := make(chan etcdWrite, 6)
	for _, s := range e.servers() {
		for _, w := range []struct {
			what, method, path string
			body               any
		}{
			{"register", http.MethodPut, instPath(svc, "down-3"), instanceBody{Address: "10.0.7.3", Port: 80, TTL: etcdLongTTL}},
			{"heartbeat", http.MethodPut, instPath(svc, "down-1") + "/heartbeat", nil},
			{"deregister", http.MethodDelete, instPath("web", "web-1"), nil},
		} {
			go func() {
				start := time.Now()
				code, body := s.call(w.method, w.path, w.body)
				results <- etcdWrite{w.what + " through " + s.name, code, body, time.Since(start)}
			}()
		}
	}
	// Both servers answer from memory, and nothing expires, for more than
	// the leases' TTL and a sweep with etcd down.
	checks := 0
	for until := down.Add(etcdShortTTL + etcdSweep + etcdSweep/2); time.Now().Before(until); time.Sleep(100 * time.Millisecond) {
		for _, s := range e.servers() {
			for svc, want := range e.want {
				got, err := s.answerOf(svcName(svc))
				if err != nil || !got.equal(want) {
					t.Fatalf("%v after etcd went down (%v after the registrations with a TTL of %v): %s answers A %s with %v (%v), want %v",
						time.Since(down).Round(time.Millisecond), time.Since(registered).Round(time.Millisecond), etcdShortTTL, s.name, svcName(svc), got, err, want)
				}
				checks++
			}
		}
	}
	t.Logf("%d answers checked over %v with etcd down", checks, time.Since(down).Round(time.Millisecond))
	for range 6 {
		r := <-results
		msg := reply{body: r.body}.errorText()
		if r.code != http.StatusServiceUnavailable || !strings.Contains(msg, "etcd") || r.took > etcdUnavailable {
			t.Errorf("%s with etcd down: %d %s after %v, want 503 with an error naming etcd within %v",
				r.what, r.code, strings.TrimSpace(r.body), r.took.Round(time.Millisecond), etcdUnavailable)
		} else {
			t.Logf("%s with etcd down: 503 after %v: %s", r.what, r.took.Round(time.Millisecond), msg)
		}
	}
	for _, s := range e.servers() {
		etcdPoll(t, s.name+" not ready with etcd down", etcdSlack, func() error { return s.etcdState(false) })
		// Reads need no etcd.
		if got, r, ok := s.api().service(t, svc); !ok || got.Passing != 2 {
			t.Errorf("GET /v1/services/%s on %s with etcd down: %v, want both instances passing", svc, s.name, r)
		}
	}
}

func (e *etcdScenario) etcdBack(t *testing.T) {
	e.c.Restart()
	back := time.Now()
	// down-1 is kept alive through B; down-2, whose lease etcd restored with
	// a fresh TTL, lapses.
	hb := startEtcdHeartbeats(t, e.b, "down", "down-1")
	// Writes are taken again through either server, and the other sees them.
	took, ok := etcdPoll(t, "a registration through A after etcd came back", etcdReconnect, func() error {
		if code, body := e.a.put("back", "back-1", "10.0.9.1", etcdLongTTL); code != http.StatusOK {
			return fmt.Errorf("%d %s", code, strings.TrimSpace(body))
		}
		return nil
	})
	if !ok {
		return
	}
	t.Logf("A takes writes again %v after etcd came back", took.Round(time.Millisecond))
	e.want["back"] = etcdServed("10.0.9.1")
	e.b.waitAnswer(t, "registered through A after etcd came back", svcName("back"), e.want["back"], time.Now().Add(etcdPropagation))
	took, ok = etcdPoll(t, "a deregistration through B after etcd came back", etcdReconnect, func() error {
		if code, body := e.b.call(http.MethodDelete, instPath("web", "web-1"), nil); code != http.StatusNoContent {
			return fmt.Errorf("%d %s", code, strings.TrimSpace(body))
		}
		return nil
	})
	if !ok {
		return
	}
	t.Logf("B takes writes again %v after etcd came back", took.Round(time.Millisecond))
	e.want["web"] = etcdServed("10.0.5.2")
	e.a.waitAnswer(t, "deregistered through B after etcd came back", svcName("web"), e.want["web"], time.Now().Add(etcdPropagation))
	for _, s := range e.servers() {
		etcdPoll(t, s.name+" ready again", etcdReconnect, func() error { return s.etcdState(true) })
	}
	e.want["down"] = etcdServed("10.0.7.1")
	deadline := back.Add(etcdReconnect + etcdShortTTL + etcdSweep + etcdSlack)
	var lapsed time.Time
	for _, s := range e.servers() {
		at, _ := s.waitAnswer(t, "the lease not renewed lapsed, the one renewed through B held", svcName("down"), e.want["down"], deadline)
		t.Logf("%s answers only the renewed instance %v after etcd came back", s.name, at.Sub(back).Round(time.Millisecond))
		if at.After(lapsed) {
			lapsed = at
		}
	}
	hb.stop()
	t.Logf("heartbeats of down-1 through B: %v", hb)
	// With down-1 deregistered and down-2 removed deregister-after its
	// lease lapsed, the service is gone.
	e.a.mustDelete(t, "down", "down-1")
	delete(e.want, "down")
	deadline = lapsed.Add(etcdDeregisterAfter + etcdSweep + etcdSlack)
	e.b.waitAnswer(t, "deregistered through A", svcName("down"), etcdNXDomain, deadline)
	e.checkWanted(t, "after etcd came back", e.servers()...)
}

func (e *etcdScenario) restartServer(t *testing.T) {
	e.b.crash()
	// While B is down, A changes the registry: B must start from etcd's
	// state, not an older one.
	e.a.mustPut(t, "late", "late-1", "10.0.8.1", etcdLongTTL)
	e.a.mustPut(t, "web", "web-3", "10.0.5.3", etcdLongTTL)
	e.a.mustDelete(t, "web", "web-2")
	e.want["late"] = etcdServed("10.0.8.1")
	e.want["web"] = etcdServed("10.0.5.3")

	// Every answer B gives, from its very first, holds the changes.
	stop := make(chan struct{})
	var answered atomic.Int64
	wrong := make(chan string, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		c := &dns.Client{Net: "udp", Timeout: 200 * time.Millisecond}
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			svc := []string{"late", "web"}[i%2]
			r, _, err := c.Exchange(newQuery(svcName(svc), dns.TypeA), e.b.addr)
			if err != nil {
				time.Sleep(10 * time.Millisecond) // not up yet
				continue
			}
			got := etcdAnswer{rcode: r.Rcode}
			for _, rr := range r.Answer {
				if a, ok := rr.(*dns.A); ok {
					got.addrs = append(got.addrs, a.A.String())
				}
			}
			slices.Sort(got.addrs)
			if n := answered.Add(1); !got.equal(e.want[svc]) {
				select {
				case wrong <- fmt.Sprintf("answer %d of B after its restart: A %s %v, want %v", n, svcName(svc), got, e.want[svc]):
				default:
				}
			}
		}
	})
	start := time.Now()
	e.b.restart()
	t.Logf("B answers %v after its restart", time.Since(start).Round(time.Millisecond))
	e.checkWanted(t, "B right after its restart", e.b)
	etcdPoll(t, "answers of B watched", 2*time.Second, func() error {
		if answered.Load() < 10 {
			return fmt.Errorf("%d answers seen", answered.Load())
		}
		return nil
	})
	close(stop)
	wg.Wait()
	select {
	case msg := <-wrong:
		t.Error(msg)
	default:
	}
	// And it follows etcd again.
	e.a.mustPut(t, "late", "late-2", "10.0.8.2", etcdLongTTL)
	e.want["late"] = etcdServed("10.0.8.1", "10.0.8.2")
	e.b.waitAnswer(t, "registered through A after B restarted", svcName("late"), e.want["late"], time.Now().Add(etcdPropagation))
}

func (e *etcdScenario) probeTakeover(t *testing.T) {
	var failing atomic.Bool
	var hits atomic.Int64
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if failing.Load() {
			http.Error(w, "down", http.StatusInternalServerError)
		}
	}))
	target.Listener.Close()
	target.Listener = ln
	target.Start()
	t.Cleanup(target.Close)
	port := ln.Addr().(*net.TCPAddr).Port

	const svc = "probed"
	name := svcName(svc)
	body := fmt.Sprintf(`{"address": "127.0.0.1", "port": %d, "check": {"type": "http", "url": "http://127.0.0.1:%d/health", "interval": %q}}`,
		port, port, etcdProbeInterval.String())
	e.a.api().expect(t, http.StatusOK, http.MethodPut, instPath(svc, "p1"), body)
	// Passing after rise probes, the first within an interval. B was
	// killed in the step before: the shards it held are probed by nobody
	// until its election lease runs out.
	deadline := time.Now().Add(etcdElectionTTL + etcdProbeRise*etcdProbeInterval + etcdSlack)
	for _, s := range e.servers() {
		if _, ok := s.waitAnswer(t, "probes passing", name, etcdServed("127.0.0.1"), deadline); !ok {
			t.Logf("%d probes reached the target", hits.Load())
			e.logProbers(t)
			return
		}
	}
	// Exactly one server probes the service: its count of http probes
	// grows, the other's does not.
	var prober, survivor *etcdServer
	var base [2]float64
	for i, s := range e.servers() {
		var err error
		if base[i], err = s.httpProbes(); err != nil {
			t.Fatal(err)
		}
	}
	_, ok := etcdPoll(t, "one server probing", (etcdProbeRise+1)*etcdProbeInterval+etcdSlack, func() error {
		var grew [2]float64
		for i, s := range e.servers() {
			n, err := s.httpProbes()
			if err != nil {
				return err
			}
			grew[i] = n - base[i]
		}
		switch {
		case grew[0] >= 2 && grew[1] == 0:
			prober, survivor = e.a, e.b
		case grew[1] >= 2 && grew[0] == 0:
			prober, survivor = e.b, e.a
		default:
			return fmt.Errorf("probes since the instance passed: %v by A, %v by B; want 2 or more by one server and none by the other", grew[0], grew[1])
		}
		return nil
	})
	if !ok {
		return
	}
	t.Logf("%s probes %s (%d probes so far)", prober.name, svc, hits.Load())
	survivorBase, err := survivor.httpProbes()
	if err != nil {
		t.Fatal(err)
	}

	killed := time.Now()
	prober.crash()
	failing.Store(true)
	// The survivor takes the shard over once the dead server's election
	// lease has run out, and turns the instance critical after fall failed
	// probes (the first within an interval of taking over).
	bound := etcdElectionTTL + etcdProbeFall*etcdProbeInterval + etcdProbeInterval + etcdSlack
	at, ok := survivor.waitAnswer(t, "the prober killed and the target failing", name, etcdNoData, killed.Add(bound))
	if !ok {
		return
	}
	t.Logf("%s stopped answering %s %v after %s was killed and the target failed (bound %v)", survivor.name, svc, at.Sub(killed).Round(time.Millisecond), prober.name, bound)
	if n, err := survivor.httpProbes(); err != nil || n-survivorBase < etcdProbeFall {
		t.Errorf("%s ran %v http probes since taking over (%v), want at least fall = %d", survivor.name, n-survivorBase, err, etcdProbeFall)
	}
	if got, r, ok := survivor.api().service(t, svc); !ok || got.Critical != 1 {
		t.Errorf("GET /v1/services/%s on %s: %v, want the instance critical", svc, survivor.name, r)
	}
}

// logProbers shows, for a failed test, which server holds or waits for
// each probe shard: the election keys in etcd, oldest first in each.
func (e *etcdScenario) logProbers(t *testing.T) {
	t.Helper()
	for range 3 {
		for _, s := range e.servers() {
			n, err := s.httpProbes()
			idx, _, _ := s.metric("coredns_signpost_registry_index")
			t.Logf("server %s: API %s, %v http probes (%v), registry index %v", s.name, s.apiURL, n, err, idx)
		}
		time.Sleep(time.Second)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := e.c.Client(t).Get(ctx, "/signpost-it/probers/", clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		t.Logf("reading the probe elections: %v", err)
		return
	}
	for _, kv := range resp.Kvs {
		t.Logf("election key %s = %s (lease %x, created at revision %d)", kv.Key, kv.Value, kv.Lease, kv.CreateRevision)
	}
}

// TestEtcdCorefileErrors checks the Corefiles that must not start: a
// registry both in a data directory and in etcd, refused with a message
// naming both, and an etcd that cannot be reached, where a server must not
// answer from an empty registry.
func TestEtcdCorefileErrors(t *testing.T) {
	t.Parallel()
	// Nothing listens on the etcd endpoint: the Corefile is refused before
	// any connection is tried, or loading fails.
	endpoint := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	etcdBlock := "        etcd {\n            endpoint " + endpoint + "\n        }\n"
	dataLine := "        data DIR/data\n"
	for _, tt := range []struct {
		name  string
		block string
		want  []string // in one line of the output, with the test's directory as DIR
	}{
		{"data then etcd", dataLine + etcdBlock, []string{"DIR/Corefile:", "data and etcd"}},
		{"etcd then data", etcdBlock + dataLine, []string{"DIR/Corefile:", "data and etcd"}},
		{"etcd unreachable", etcdBlock, []string{"etcd", endpoint}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			corefile := writeFile(t, dir, "Corefile", fmt.Sprintf(`svc.internal:%d {
    bind 127.0.0.1
    signpost {
        api 127.0.0.1:%d
%s    }
}
`, freePort(t), freePort(t), strings.ReplaceAll(tt.block, "DIR", dir)))
			start := time.Now()
			// The test's directory is named after the test, "data" and
			// "etcd" in it: the message must name them, not the path.
			out := strings.ReplaceAll(mustFailToStart(t, corefile), dir, "DIR")
			found := false
			for line := range strings.Lines(out) {
				if etcdContainsAll(line, tt.want) {
					found = true
					t.Logf("refused after %v: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(line))
				}
			}
			if !found {
				t.Errorf("no line of the output holds %q:\n%s", tt.want, out)
			}
		})
	}
}
