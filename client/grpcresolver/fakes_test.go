package grpcresolver

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/client"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/serviceconfig"
)

// The tests of this module cannot run the real server, which lives in the
// module that requires this one; integration/grpcresolver_test.go in the
// server's module drives the real binary with real gRPC clients and
// servers. Here a small stand-in speaks the same protocol: the service
// read, its X-Signpost-Index header and ?index=N&wait=D blocking queries
// that return as soon as the service changes.

// fakeAPI serves one service's instances.
type fakeAPI struct {
	*httptest.Server
	hits atomic.Int32

	mu        sync.Mutex
	token     string // required when set
	index     uint64
	instances []client.Instance
	failWith  int           // answer every request with this status when set
	changed   chan struct{} // closed and replaced on every change
}

func newFakeAPI(t *testing.T) *fakeAPI {
	t.Helper()
	f := &fakeAPI{index: 1, changed: make(chan struct{})}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// set replaces the instances, as a registration or deregistration does.
func (f *fakeAPI) set(ins ...client.Instance) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.index++
	f.instances = slices.Clone(ins)
	for i := range f.instances {
		f.instances[i].ModifyIndex = f.index
	}
	close(f.changed)
	f.changed = make(chan struct{})
}

// fail makes every answer a status error, or lifts that with 0.
func (f *fakeAPI) fail(status int) {
	f.mu.Lock()
	f.failWith = status
	f.mu.Unlock()
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	f.hits.Add(1)
	if r.Method != http.MethodGet || r.URL.Path != "/v1/services/web" {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "service not found"}, 0)
		return
	}
	f.mu.Lock()
	idx, ch, failWith, token := f.index, f.changed, f.failWith, f.token
	f.mu.Unlock()
	if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
		writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or wrong token"}, 0)
		return
	}
	if failWith != 0 {
		writeJSON(w, failWith, map[string]string{"error": http.StatusText(failWith)}, idx)
		return
	}
	if s := r.URL.Query().Get("index"); s != "" {
		n, _ := strconv.ParseUint(s, 10, 64)
		wait, err := time.ParseDuration(r.URL.Query().Get("wait"))
		if err != nil || wait <= 0 || wait > time.Minute {
			wait = time.Minute
		}
		if n == idx {
			t := time.NewTimer(wait)
			select {
			case <-ch:
			case <-t.C:
			case <-r.Context().Done():
			}
			t.Stop()
		}
	}
	f.mu.Lock()
	info := client.ServiceInfo{Name: "web", ModifyIndex: f.index, Instances: slices.Clone(f.instances)}
	idx = f.index
	f.mu.Unlock()
	if len(info.Instances) == 0 {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "service web not found"}, idx)
		return
	}
	writeJSON(w, http.StatusOK, info, idx)
}

func writeJSON(w http.ResponseWriter, code int, v any, index uint64) {
	w.Header().Set("Content-Type", "application/json")
	if index > 0 {
		w.Header().Set("X-Signpost-Index", strconv.FormatUint(index, 10))
	}
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}

// inst returns a passing instance of web.
func inst(id, addr string, port int, tags ...string) client.Instance {
	return client.Instance{Service: "web", ID: id, Address: addr, Port: port, Tags: tags, Weight: 1, Health: client.Passing, Source: "api"}
}

// fakeCC is the ClientConn side: it records what the resolver pushes.
type fakeCC struct {
	states chan resolver.State
	errs   chan error
}

func newFakeCC() *fakeCC {
	return &fakeCC{states: make(chan resolver.State, 100), errs: make(chan error, 100)}
}

func (cc *fakeCC) UpdateState(s resolver.State) error { cc.states <- s; return nil }
func (cc *fakeCC) ReportError(err error)              { cc.errs <- err }
func (cc *fakeCC) NewAddress([]resolver.Address)      {}
func (cc *fakeCC) ParseServiceConfig(string) *serviceconfig.ParseResult {
	return &serviceconfig.ParseResult{}
}

// waitTimeout bounds every wait of these tests.
const waitTimeout = 10 * time.Second

// nextState returns the next state pushed, as "addr addr ...".
func (cc *fakeCC) nextState(t *testing.T) []string {
	t.Helper()
	select {
	case s := <-cc.states:
		var addrs []string
		for _, e := range s.Endpoints {
			addrs = append(addrs, e.Addresses[0].Addr)
		}
		return addrs
	case <-time.After(waitTimeout):
		t.Fatal("no state pushed")
		return nil
	}
}

// nextErr returns the next error reported.
func (cc *fakeCC) nextErr(t *testing.T) error {
	t.Helper()
	select {
	case err := <-cc.errs:
		return err
	case <-time.After(waitTimeout):
		t.Fatal("no error reported")
		return nil
	}
}

// build starts a resolver of target with the builder options, closed when
// the test ends.
func build(t *testing.T, target string, cc *fakeCC, opts ...Option) *signpostResolver {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r, err := NewBuilder(opts...).Build(resolver.Target{URL: *u}, cc, resolver.BuildOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r.(*signpostResolver)
}

// fast makes the client give up quickly, so errors reach the resolver.
var fast = WithClientOptions(client.WithRetry(2, time.Millisecond, 5*time.Millisecond), client.WithTimeout(2*time.Second))
