package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// The tests of this file run the server with a data directory: they kill
// it with SIGKILL in the middle of a stream of writes and check that every
// acknowledged write survives, restart it under heartbeating clients, feed
// it a corrupted store, move a registry with signpostctl snapshot, and
// reload its Corefile. Helpers carry a persist prefix, to keep clear of the
// other files of the package.

// persistCorefile is a server with the API and a data directory; extra goes
// into the signpost block.
func persistCorefile(dataDir, extra string) string {
	return `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        data ` + dataDir + `
` + extra + `    }
    errors
}
`
}

// persistStart is startServer that also fails the test when the server
// reports a data race: run with SIGNPOST_BIN set to a binary built with
// -race to look for them under crashes and restarts.
func persistStart(t *testing.T, tmpl string) *server {
	t.Helper()
	s := startServer(t, tmpl)
	t.Cleanup(func() {
		if strings.Contains(s.out.String(), "WARNING: DATA RACE") {
			t.Errorf("the server reported a data race:\n%s", s.out.String())
		}
	})
	return s
}

const (
	persistHTTPTimeout = 5 * time.Second
	persistZone        = "svc.internal."
)

// persistClient is an HTTP client of its own, so that connections to a
// killed server are not reused after its restart.
func persistClient() *http.Client {
	return &http.Client{Timeout: persistHTTPTimeout, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
}

// persistReply is one API answer.
type persistReply struct {
	code   int
	body   string
	header http.Header
}

// persistCall sends one API request. A transport error (the server is down,
// or died while answering) is returned as such: the write it carried may or
// may not have happened.
func persistCall(hc *http.Client, base, method, path, body, token string) (persistReply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, base+path, rd)
	if err != nil {
		return persistReply{}, err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return persistReply{}, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return persistReply{}, err
	}
	return persistReply{code: resp.StatusCode, body: string(b), header: resp.Header}, nil
}

// persistInstance is an instance as the API shows it.
type persistInstance struct {
	ID          string            `json:"id"`
	Address     string            `json:"address"`
	Port        int               `json:"port"`
	Tags        []string          `json:"tags"`
	Meta        map[string]string `json:"meta"`
	Weight      int               `json:"weight"`
	Health      string            `json:"health"`
	Source      string            `json:"source"`
	TTL         string            `json:"ttl"`
	ModifyIndex uint64            `json:"modify_index"`
}

// persistService fetches a service; a 404 is a service with no instances.
func persistService(t *testing.T, hc *http.Client, base, service string) (map[string]persistInstance, uint64) {
	t.Helper()
	r, err := persistCall(hc, base, http.MethodGet, "/v1/services/"+service, "", "")
	if err != nil {
		t.Fatalf("GET %s: %v", service, err)
	}
	index, _ := strconv.ParseUint(r.header.Get("X-Signpost-Index"), 10, 64)
	out := map[string]persistInstance{}
	switch r.code {
	case http.StatusNotFound:
		return out, index
	case http.StatusOK:
	default:
		t.Fatalf("GET %s: %d %s", service, r.code, r.body)
	}
	var svc struct {
		Instances []persistInstance `json:"instances"`
	}
	if err := json.Unmarshal([]byte(r.body), &svc); err != nil {
		t.Fatalf("GET %s: %v in %s", service, err, r.body)
	}
	for _, in := range svc.Instances {
		out[in.ID] = in
	}
	return out, index
}

// persistSRV returns the SRV records of service as "port weight target",
// sorted, asked over TCP so that no answer is cut.
func persistSRV(t *testing.T, s *server, service string) []string {
	t.Helper()
	r, err := s.tryExchange(newQuery(service+"."+persistZone, dns.TypeSRV), "tcp")
	if err != nil {
		t.Fatal(err)
	}
	if r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError {
		t.Fatalf("SRV %s: %s", service, rcodeName(r.Rcode))
	}
	var out []string
	for _, rr := range r.Answer {
		if srv, ok := rr.(*dns.SRV); ok {
			out = append(out, fmt.Sprintf("%d %d %s", srv.Port, srv.Weight, srv.Target))
		}
	}
	slices.Sort(out)
	return out
}

// persistAddrLabel is the name DNS gives an IPv4 address.
func persistAddrLabel(addr string) string {
	return strings.ReplaceAll(addr, ".", "-") + ".addr." + persistZone
}

// persistWantSRV is the SRV answer for passing instances.
func persistWantSRV(instances map[string]persistInstance) []string {
	var out []string
	for _, in := range instances {
		if in.Health == "passing" {
			out = append(out, fmt.Sprintf("%d %d %s", in.Port, in.Weight, persistAddrLabel(in.Address)))
		}
	}
	slices.Sort(out)
	return out
}

// The crash loop.

// persistBody is what a registration of the crash loop sends.
type persistBody struct {
	Address string            `json:"address"`
	Port    int               `json:"port"`
	Tags    []string          `json:"tags"`
	Meta    map[string]string `json:"meta"`
	Weight  int               `json:"weight"`
	TTL     string            `json:"ttl,omitempty"`
}

// persistState is one state of an instance: absent, or present as sent.
type persistState struct {
	present bool
	body    persistBody
}

func (c persistState) String() string {
	if !c.present {
		return "absent"
	}
	return fmt.Sprintf("%+v", c.body)
}

// matches reports whether the stored instance is exactly what body asked for.
func (c persistState) matches(in persistInstance) bool {
	b := c.body
	ttl, _ := time.ParseDuration(in.TTL)
	want, _ := time.ParseDuration(b.TTL)
	return c.present && in.Address == b.Address && in.Port == b.Port && in.Weight == b.Weight && ttl == want &&
		slices.Equal(in.Tags, b.Tags) && maps.Equal(in.Meta, b.Meta) && in.Source == "api" && in.Health == "passing"
}

// persistSlot is one instance id, written by one writer only, so that its
// writes are ordered: the last acknowledged state, and the state asked for
// by a write whose answer never came (it may or may not have happened).
type persistSlot struct {
	service, id, addr string
	version           int
	acked             persistState
	pending           *persistState
}

// persistWriter is one of the goroutines streaming writes; it owns a service
// and its slots.
type persistWriter struct {
	service string
	slots   []*persistSlot
	rnd     *rand.Rand

	acked, unanswered int
	maxIndex          uint64 // highest modify index of an acknowledged write
	errs              []string
}

func newPersistWriter(g, ids int, seed uint64) *persistWriter {
	w := &persistWriter{service: fmt.Sprintf("crash%d", g), rnd: rand.New(rand.NewPCG(seed, uint64(g)))}
	for i := range ids {
		w.slots = append(w.slots, &persistSlot{service: w.service, id: fmt.Sprintf("i%d", i), addr: fmt.Sprintf("10.99.%d.%d", g, i+1)})
	}
	return w
}

// next picks a slot and the state to move it to: a new registration, a
// changed one, or a deregistration.
func (w *persistWriter) next() (*persistSlot, persistState) {
	sl := w.slots[w.rnd.IntN(len(w.slots))]
	if sl.acked.present && w.rnd.IntN(10) < 3 {
		return sl, persistState{}
	}
	sl.version++
	v := sl.version
	b := persistBody{
		Address: sl.addr, Port: 1000 + v, Tags: []string{fmt.Sprintf("t%d", v%3)},
		Meta: map[string]string{"version": strconv.Itoa(v), "slot": sl.id}, Weight: 1 + v%5,
	}
	if v%2 == 0 {
		b.TTL = "1h"
	}
	return sl, persistState{present: true, body: b}
}

// stream writes until a write gets no answer (the server was killed), or
// until stop. Each write waits for its answer before the next.
func (w *persistWriter) stream(hc *http.Client, base string, stop <-chan struct{}) {
	for {
		select {
		case <-stop:
			return
		default:
		}
		sl, want := w.next()
		path := "/v1/services/" + sl.service + "/instances/" + sl.id
		method, body := http.MethodDelete, ""
		if want.present {
			b, _ := json.Marshal(want.body)
			method, body = http.MethodPut, string(b)
		}
		r, err := persistCall(hc, base, method, path, body, "")
		if err != nil {
			sl.pending = &want
			w.unanswered++
			return
		}
		switch {
		case want.present && r.code == http.StatusOK:
			var in persistInstance
			if err := json.Unmarshal([]byte(r.body), &in); err != nil || !want.matches(in) {
				w.errs = append(w.errs, fmt.Sprintf("PUT %s answered %s, sent %s", path, r.body, want))
			}
			w.maxIndex = max(w.maxIndex, in.ModifyIndex)
		case !want.present && (r.code == http.StatusNoContent || r.code == http.StatusOK):
		default:
			w.errs = append(w.errs, fmt.Sprintf("%s %s: %d %s (acknowledged state %s)", method, path, r.code, r.body, sl.acked))
			return
		}
		sl.acked = want
		w.acked++
	}
}

// verify checks the restarted server against the writer's slots and moves
// every slot to the state found: the acknowledged one, or the one a write
// without an answer asked for, exactly as sent.
func (w *persistWriter) verify(t *testing.T, s *server, hc *http.Client, iter int) (applied, notApplied int) {
	t.Helper()
	got, index := persistService(t, hc, s.apiURL, w.service)
	if index < w.maxIndex {
		t.Errorf("iteration %d: %s: index %d after the restart, but a write was acknowledged at %d", iter, w.service, index, w.maxIndex)
	}
	known := map[string]bool{}
	for _, sl := range w.slots {
		known[sl.id] = true
		in, present := got[sl.id]
		var found persistState
		switch {
		case present && sl.acked.matches(in):
			found = sl.acked
		case present && sl.pending != nil && sl.pending.matches(in):
			found = *sl.pending
		case present:
			t.Errorf("iteration %d: %s/%s is %+v: neither the acknowledged %s nor the unanswered %v",
				iter, sl.service, sl.id, in, sl.acked, sl.pending)
			continue
		case !sl.acked.present:
		case sl.pending != nil && !sl.pending.present:
		default:
			t.Errorf("iteration %d: %s/%s is missing: its registration %s was acknowledged (unanswered write: %v)",
				iter, sl.service, sl.id, sl.acked, sl.pending)
			continue
		}
		if sl.pending != nil {
			if found.present == sl.pending.present && (!found.present || found.body.Port == sl.pending.body.Port) {
				applied++
			} else {
				notApplied++
			}
		}
		sl.acked, sl.pending = found, nil
	}
	for id := range got {
		if !known[id] {
			t.Errorf("iteration %d: %s/%s exists, but was never written", iter, w.service, id)
		}
	}
	if srv, want := persistSRV(t, s, w.service), persistWantSRV(got); !slices.Equal(srv, want) {
		t.Errorf("iteration %d: SRV %s:\n got %q\nwant %q", iter, w.service, srv, want)
	}
	return applied, notApplied
}

// TestPersistenceCrashLoop streams registrations and deregistrations from
// a few writers, kills the server with SIGKILL at a random moment, restarts
// it and checks that every acknowledged write is there, through the API and
// DNS, and that a write that got no answer either happened whole or not at
// all. It repeats that for up to 25 iterations or 40 seconds.
func TestPersistenceCrashLoop(t *testing.T) {
	t.Parallel()
	const (
		writers    = 4
		ids        = 25
		iterations = 25
		budget     = 40 * time.Second
		streamMax  = 10 * time.Second // a writer that outlives the crash this long is stuck
	)
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rnd := rand.New(rand.NewPCG(seed, 0))
	s := persistStart(t, persistCorefile(t.TempDir(), ""))
	ws := make([]*persistWriter, writers)
	for g := range ws {
		ws[g] = newPersistWriter(g, ids, seed)
	}
	start := time.Now()
	var iter, applied, notApplied int
	for iter < iterations && time.Since(start) < budget && !t.Failed() {
		iter++
		hc := persistClient()
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for _, w := range ws {
			wg.Go(func() { w.stream(hc, s.apiURL, stop) })
		}
		time.Sleep(20*time.Millisecond + time.Duration(rnd.Int64N(int64(300*time.Millisecond))))
		s.crash()
		done := make(chan struct{})
		go func() { wg.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(streamMax):
			close(stop)
			<-done
			t.Fatalf("iteration %d: writers still running %v after the crash", iter, streamMax)
		}
		close(stop)
		hc.CloseIdleConnections()
		for _, w := range ws {
			for _, e := range w.errs {
				t.Errorf("iteration %d: %s", iter, e)
			}
			w.errs = nil
		}
		s.restart()
		hc = persistClient()
		for _, w := range ws {
			a, n := w.verify(t, s, hc, iter)
			applied, notApplied = applied+a, notApplied+n
		}
		hc.CloseIdleConnections()
	}
	var acked, unanswered int
	for _, w := range ws {
		acked, unanswered = acked+w.acked, unanswered+w.unanswered
	}
	t.Logf("%d iterations in %v: %d acknowledged writes, %d without an answer (%d of them applied, %d not)",
		iter, time.Since(start).Round(time.Millisecond), acked, unanswered, applied, notApplied)
	if acked == 0 || iter < 2 {
		t.Errorf("too little exercised: %d iterations, %d acknowledged writes", iter, acked)
	}
}

// Heartbeats across a restart.

// persistHeartbeater renews one instance's lease every second, and after a
// connection error every 100ms, until stopped. A 404 means the restarted
// server lost the instance.
type persistHeartbeater struct {
	service, id string
	stopc, done chan struct{}
	lost        atomic.Value // string: the first answer that was not 200
}

func persistStartHeartbeater(hc *http.Client, base, service, id string) *persistHeartbeater {
	h := &persistHeartbeater{service: service, id: id, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(h.done)
		path := "/v1/services/" + service + "/instances/" + id + "/heartbeat"
		for {
			pause := time.Second
			r, err := persistCall(hc, base, http.MethodPut, path, "", "")
			switch {
			case err != nil:
				pause = 100 * time.Millisecond
			case r.code != http.StatusOK:
				h.lost.CompareAndSwap(nil, fmt.Sprintf("%d %s", r.code, strings.TrimSpace(r.body)))
			}
			select {
			case <-h.stopc:
				return
			case <-time.After(pause):
			}
		}
	}()
	return h
}

func (h *persistHeartbeater) stop() {
	select {
	case <-h.stopc:
	default:
		close(h.stopc)
	}
	<-h.done
}

// TestPersistenceHeartbeatGrace registers instances with a 3s lease and
// renews them from the test, kills the server, keeps it down for longer
// than the lease, and restarts it with heartbeat-grace 10s: no instance may
// turn critical or leave DNS within the grace, while those still renewed
// stay passing throughout. Instances whose renewals stopped at the crash
// expire once the grace has run out.
func TestPersistenceHeartbeatGrace(t *testing.T) {
	t.Parallel()
	const (
		grace    = 10 * time.Second
		ttl      = 3 * time.Second
		downtime = 4 * time.Second // longer than ttl: without the grace, every lease would be gone
	)
	s := persistStart(t, persistCorefile(t.TempDir(), "        heartbeat-grace 10s\n"))
	hc := persistClient()
	defer hc.CloseIdleConnections()
	live := []string{"l1", "l2", "l3", "l4"}
	dead := []string{"d1", "d2"} // fewer than self-preservation's minimum of 3, so they may expire
	addrs := map[string]string{}
	for i, id := range append(slices.Clone(live), dead...) {
		addrs[id] = fmt.Sprintf("10.98.0.%d", i+1)
		body := fmt.Sprintf(`{"address":%q,"port":8080,"ttl":%q}`, addrs[id], ttl)
		if r, err := persistCall(hc, s.apiURL, http.MethodPut, "/v1/services/hb/instances/"+id, body, ""); err != nil || r.code != 200 {
			t.Fatalf("register %s: %v %d %s", id, err, r.code, r.body)
		}
	}
	beats := map[string]*persistHeartbeater{}
	for id := range addrs {
		beats[id] = persistStartHeartbeater(hc, s.apiURL, "hb", id)
		defer beats[id].stop()
	}
	// Renewals keep everyone passing past one lease.
	time.Sleep(ttl + 500*time.Millisecond)
	persistCheckHealth(t, "before the crash", hc, s, addrs, nil)

	for _, id := range dead {
		beats[id].stop()
	}
	s.crash()
	time.Sleep(downtime)
	restart := time.Now()
	s.restart()
	t.Logf("restarted in %v", time.Since(restart).Round(time.Millisecond))

	// Within the grace: everyone passing and in DNS. The grace starts when
	// the store is loaded, after restart began; the last check starts 2s
	// before the grace ends, leaving a slow check time to finish inside it.
	for time.Since(restart) < grace-2*time.Second {
		if !persistCheckHealth(t, fmt.Sprintf("%v after the restart", time.Since(restart).Round(time.Millisecond)), hc, s, addrs, nil) {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	// After it: the dead expire (the sweep runs every second), the live stay.
	deadline := restart.Add(grace + ttl + 5*time.Second)
	for {
		ok := persistCheckHealth(t, "", hc, s, addrs, dead)
		if ok {
			t.Logf("the unrenewed instances expired %v after the restart", time.Since(restart).Round(time.Millisecond))
			break
		}
		if time.Now().After(deadline) {
			persistCheckHealth(t, "after the grace", hc, s, addrs, dead)
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	for _, id := range live {
		if lost := beats[id].lost.Load(); lost != nil {
			t.Errorf("heartbeat of %s was answered %s", id, lost)
		}
	}
}

// persistCheckHealth checks that every instance of addrs is passing and in
// DNS, except those in critical, which must be critical and out of DNS.
// With what empty it only reports whether that holds; otherwise it fails
// the test, saying when.
func persistCheckHealth(t *testing.T, what string, hc *http.Client, s *server, addrs map[string]string, critical []string) bool {
	t.Helper()
	fail := func(format string, args ...any) bool {
		if what != "" {
			t.Errorf(what+": "+format, args...)
		}
		return false
	}
	got, _ := persistService(t, hc, s.apiURL, "hb")
	var wantDNS []string
	for id, addr := range addrs {
		want := "passing"
		if slices.Contains(critical, id) {
			want = "critical"
		} else {
			wantDNS = append(wantDNS, addr)
		}
		if in, ok := got[id]; !ok || in.Health != want {
			return fail("instance %s is %q (present %v), want %s", id, in.Health, ok, want)
		}
	}
	slices.Sort(wantDNS)
	dnsAddrs, _, rcode, err := s.tryAddrsOf("hb." + persistZone)
	if err != nil {
		return fail("%v", err)
	}
	if !slices.Equal(dnsAddrs, wantDNS) {
		return fail("A hb = %v (%s), want %v", dnsAddrs, rcodeName(rcode), wantDNS)
	}
	return true
}

// A corrupted store, and backups.

// persistRunBroken runs the server on corefile, which must fail to start,
// and returns its output and exit code.
func persistRunBroken(t *testing.T, corefile string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, signpostBin, "-conf", corefile)
	cmd.Dir = filepath.Dir(corefile)
	cmd.WaitDelay = stopTimeout
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the server did not exit within %v on a corrupted store; output:\n%s", readyTimeout, out)
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

// persistCtl runs signpostctl and returns its output and exit code.
func persistCtl(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ctlBin, args...)
	cmd.Env = append(os.Environ(), "SIGNPOST_SERVER=", "SIGNPOST_TOKEN=")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("signpostctl %s: no exit within %v", strings.Join(args, " "), toolTimeout)
	}
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestPersistenceCorruptStoreAndBackup saves a backup with signpostctl,
// stops the server, damages its store in several ways and checks that the
// server refuses to start with an error naming the file, then restores the
// backup into a fresh server and finds every instance again, in the API
// and in DNS, and still after a crash.
func TestPersistenceCorruptStoreAndBackup(t *testing.T) {
	t.Parallel()
	const token = "s3cret"
	dataA := t.TempDir()
	a := persistStart(t, persistCorefile(dataA, "        token "+token+"\n"))
	hc := persistClient()
	defer hc.CloseIdleConnections()
	want := map[string]string{
		"w1": `{"address":"10.97.0.1","port":8080,"tags":["blue"],"meta":{"zone":"a"},"ttl":"1h"}`,
		"w2": `{"address":"10.97.0.2","port":8081,"weight":5}`,
		"w3": `{"address":"10.97.0.3","port":8082,"ttl":"30s"}`,
	}
	for id, body := range want {
		if r, err := persistCall(hc, a.apiURL, http.MethodPut, "/v1/services/web/instances/"+id, body, token); err != nil || r.code != 200 {
			t.Fatalf("register %s: %v %d %s", id, err, r.code, r.body)
		}
	}
	if r, err := persistCall(hc, a.apiURL, http.MethodPut, "/v1/services/db/instances/d1", `{"address":"10.97.1.1","port":3306}`, token); err != nil || r.code != 200 {
		t.Fatalf("register d1: %v %d %s", err, r.code, r.body)
	}
	before, _ := persistService(t, hc, a.apiURL, "web")

	backup := filepath.Join(t.TempDir(), "backup.json")
	if _, stderr, code := persistCtl(t, "snapshot", "save", backup, "--server", a.apiURL); code != 1 || !strings.Contains(stderr, "(HTTP 401)") {
		t.Errorf("save without the token: exit %d, stderr %q; want 1 and 401", code, stderr)
	}
	stdout, stderr, code := persistCtl(t, "snapshot", "save", backup, "--server", a.apiURL, "--token", token)
	if code != 0 || !strings.HasPrefix(stdout, "saved 4 instances at index 4 to "+backup) {
		t.Fatalf("snapshot save: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}

	a.terminate()
	persistCorruptions(t, a, filepath.Join(dataA, "registry.db"))

	// A fresh server with a data directory of its own takes the backup.
	b := persistStart(t, persistCorefile(t.TempDir(), "        token "+token+"\n"))
	if _, stderr, code := persistCtl(t, "snapshot", "restore", backup, "--server", b.apiURL); code != 1 || !strings.Contains(stderr, "(HTTP 401)") {
		t.Errorf("restore without the token: exit %d, stderr %q; want 1 and 401", code, stderr)
	}
	stdout, stderr, code = persistCtl(t, "snapshot", "restore", backup, "--server", b.apiURL, "--token", token)
	if code != 0 || !strings.HasPrefix(stdout, "restored 4 instances from "+backup) {
		t.Fatalf("snapshot restore: exit %d\nstdout %s\nstderr %s", code, stdout, stderr)
	}
	check := func(when string) {
		got, _ := persistService(t, hc, b.apiURL, "web")
		if len(got) != len(before) {
			t.Errorf("%s: web has %d instances, want %d", when, len(got), len(before))
		}
		for id, in := range before {
			g := got[id]
			if g.Address != in.Address || g.Port != in.Port || g.Weight != in.Weight || g.TTL != in.TTL ||
				!slices.Equal(g.Tags, in.Tags) || !maps.Equal(g.Meta, in.Meta) || g.Health != "passing" {
				t.Errorf("%s: %s is %+v, want %+v", when, id, g, in)
			}
		}
		if srv, wantSRV := persistSRV(t, b, "web"), persistWantSRV(before); !slices.Equal(srv, wantSRV) {
			t.Errorf("%s: SRV web = %q, want %q", when, srv, wantSRV)
		}
		if addrs, _, _, err := b.tryAddrsOf("db." + persistZone); err != nil || !slices.Equal(addrs, []string{"10.97.1.1"}) {
			t.Errorf("%s: A db = %v, %v", when, addrs, err)
		}
	}
	check("after the restore")
	b.crash()
	b.restart()
	hc.CloseIdleConnections()
	check("after a crash following the restore")
}

// persistCorruptions damages a copy of the stopped server's store in
// several ways; the server must refuse each with an error naming the file,
// and start again on the intact one.
func persistCorruptions(t *testing.T, s *server, db string) {
	intact, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	garbage := make([]byte, len(intact))
	for i := range garbage {
		garbage[i] = byte(rand.N(256))
	}
	// bbolt copies pages on write, so the file may hold stale copies of a
	// record beside the live one: damage them all.
	var records []int
	for i := 0; ; {
		j := bytes.Index(intact[i:], []byte(`"address":"10.97.0.2"`))
		if j < 0 {
			break
		}
		records = append(records, i+j)
		i += j + 1
	}
	if len(records) == 0 {
		t.Fatalf("record of w2 not found in %s", db)
	}
	tests := []struct {
		name   string
		damage func([]byte) []byte
		want   string // in the output besides the file name
	}{
		{"garbage", func([]byte) []byte { return garbage }, "invalid database"},
		{"truncated", func(b []byte) []byte { return b[:5000] }, ""},
		{"record", func(b []byte) []byte {
			for _, r := range records {
				copy(b[r:], "#########")
			}
			return b
		}, `key "web/w2": undecodable record`},
		{"page header", func(b []byte) []byte {
			for _, r := range records {
				p := r / 4096 * 4096
				copy(b[p:p+16], bytes.Repeat([]byte{0xff}, 16))
			}
			return b
		}, "corrupted"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(db, tc.damage(slices.Clone(intact)), 0o600); err != nil {
				t.Fatal(err)
			}
			out, code := persistRunBroken(t, s.corefile)
			if code == 0 {
				t.Fatalf("exit 0 on a damaged store; output:\n%s", out)
			}
			if !strings.Contains(out, db) || !strings.Contains(out, tc.want) {
				t.Errorf("exit %d; output does not name %s and say %q:\n%s", code, db, tc.want, abridge(out, 20))
			}
			if strings.Contains(out, "panic:") {
				t.Errorf("the server panicked:\n%s", abridge(out, 20))
			}
		})
	}
	if err := os.WriteFile(db, intact, 0o600); err != nil {
		t.Fatal(err)
	}
	s.restart()
	got, _ := persistService(t, persistClient(), s.apiURL, "web")
	if len(got) != 3 {
		t.Errorf("on the intact store again: web has %d instances, want 3", len(got))
	}
	s.terminate()
}

// Reload.

// TestPersistenceReload reloads the Corefile of a server with a data
// directory: the new configuration must keep the same registry and store,
// so that registrations from before and after the reload survive a crash.
func TestPersistenceReload(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	reloading := func(ttl string) string {
		return strings.Replace(persistCorefile(data, "        ttl "+ttl+"\n"), "    errors\n", "    errors\n    reload 2s 0s\n", 1)
	}
	s := persistStart(t, reloading("5s"))
	hc := persistClient()
	defer hc.CloseIdleConnections()
	put := func(id, addr string) {
		t.Helper()
		body := fmt.Sprintf(`{"address":%q,"port":8080}`, addr)
		if r, err := persistCall(hc, s.apiURL, http.MethodPut, "/v1/services/rl/instances/"+id, body, ""); err != nil || r.code != 200 {
			t.Fatalf("register %s: %v %d %s", id, err, r.code, r.body)
		}
	}
	put("b1", "10.96.0.1")
	put("b2", "10.96.0.2")
	put("b3", "10.96.0.3")

	s.writeCorefile(reloading("9s"))
	if !s.waitAddrs(t, "rl."+persistZone, []string{"10.96.0.1", "10.96.0.2", "10.96.0.3"}, 9, reloadWait) {
		t.FailNow()
	}
	// The API is back with the new configuration: write through it.
	deadline := time.Now().Add(reloadWait)
	for {
		r, err := persistCall(hc, s.apiURL, http.MethodPut, "/v1/services/rl/instances/a1", `{"address":"10.96.1.1","port":8080}`, "")
		if err == nil && r.code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("register a1 after the reload: %v %d %s", err, r.code, r.body)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if r, err := persistCall(hc, s.apiURL, http.MethodDelete, "/v1/services/rl/instances/b2", "", ""); err != nil || r.code/100 != 2 {
		t.Fatalf("deregister b2 after the reload: %v %d %s", err, r.code, r.body)
	}

	s.crash()
	if n := strings.Count(s.out.String(), "registry loaded from"); n != 1 {
		t.Errorf("the store was loaded %d times before the crash, want once: a reload must keep the registry", n)
	}
	if out := s.out.String(); strings.Contains(out, "is locked") {
		t.Errorf("the reload tried to open the store again:\n%s", abridge(out, 40))
	}
	s.restart()
	hc.CloseIdleConnections()
	s.waitAddrs(t, "rl."+persistZone, []string{"10.96.0.1", "10.96.0.3", "10.96.1.1"}, 9, 2*time.Second)
	got, _ := persistService(t, hc, s.apiURL, "rl")
	if len(got) != 3 || got["b2"].ID != "" {
		t.Errorf("after the crash: %v, want b1, b3 and a1", slices.Sorted(maps.Keys(got)))
	}
}
