package api

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

func TestListServices(t *testing.T) {
	f := newFixture(t, Options{})
	rec := f.do("GET", "/v1/services", "")
	if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != "[]" || indexOf(t, rec) != 0 {
		t.Fatalf("empty registry: %d %s index %s", rec.Code, rec.Body, rec.Header().Get(IndexHeader))
	}

	f.register("web", "w1", web1)
	f.register("web", "w2", `{"address":"10.0.0.6","port":8080}`)
	f.register("web", "w3", `{"address":"10.0.0.7","port":8080}`)
	f.register("api", "a1", `{"address":"10.0.1.5","port":9000}`)
	if err := f.reg.SetHealth("web", "w2", registry.Warning); err != nil {
		t.Fatal(err)
	}
	if err := f.reg.SetHealth("web", "w3", registry.Critical); err != nil {
		t.Fatal(err)
	}
	rec = f.do("GET", "/v1/services", "")
	var got []summaryJSON
	decode(t, rec, &got)
	want := []summaryJSON{
		{Service: "api", Instances: 1, Passing: 1, ModifyIndex: 4},
		{Service: "web", Instances: 3, Passing: 1, Warning: 1, Critical: 1, ModifyIndex: 6},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if idx := indexOf(t, rec); idx != 6 {
		t.Errorf("index %d, want 6", idx)
	}
}

func TestShowService(t *testing.T) {
	f := newFixture(t, Options{})
	f.static()
	f.register("mysql", "db2", `{"address":"10.0.0.6","port":3306,"tags":["replica"],"ttl":"10s"}`)
	if err := f.reg.SetHealth("mysql", "db1", registry.Critical); err != nil {
		t.Fatal(err)
	}
	rec := f.do("GET", "/v1/services/mysql", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var got serviceJSON
	decode(t, rec, &got)
	want := serviceJSON{
		Service: "mysql", ModifyIndex: 3, Passing: 1, Critical: 1,
		Failover: &failoverJSON{Addresses: []string{"10.0.0.100"}, MinHealthy: 1},
		Instances: []instanceJSON{
			{Service: "mysql", ID: "db1", Address: "10.0.0.5", Port: 3306, Tags: []string{}, Meta: map[string]string{},
				Weight: 1, Health: "critical", Source: "corefile", CreateIndex: 1, ModifyIndex: 3},
			{Service: "mysql", ID: "db2", Address: "10.0.0.6", Port: 3306, Tags: []string{"replica"}, Meta: map[string]string{},
				Weight: 1, Health: "passing", Source: "api", TTL: "10s", LeaseExpires: f.clock.Now().Add(10 * time.Second),
				CreateIndex: 2, ModifyIndex: 2},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
	if idx := indexOf(t, rec); idx != 3 {
		t.Errorf("index %d, want 3", idx)
	}
}

func TestShowServiceErrors(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	tests := []struct {
		name, path string
		status     int
		msg        string
	}{
		{"unknown", "/v1/services/api", 404, "service api not found"},
		{"not a label", "/v1/services/Web", 400, `service: "Web" may hold only lowercase a-z, 0-9 and '-'`},
		{"bad index", "/v1/services/web?index=x", 400, `index: "x" must be a non-negative integer`},
		{"negative index", "/v1/services/web?index=-1", 400, `index: "-1" must be a non-negative integer`},
		{"bad wait", "/v1/services/web?index=1&wait=10", 400, `wait: "10" must be a duration such as "30s"`},
		{"negative wait", "/v1/services/web?index=1&wait=-1s", 400, `wait: "-1s" must be a duration such as "30s"`},
		{"list bad index", "/v1/services?index=1.5", 400, `index: "1.5" must be a non-negative integer`},
		{"list bad wait", "/v1/services?wait=forever", 400, `wait: "forever" must be a duration such as "30s"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec := f.do("GET", tc.path, "")
			wantError(t, rec, tc.status, tc.msg)
			if idx := indexOf(t, rec); idx != 1 {
				t.Errorf("index %d, want 1", idx)
			}
		})
	}
}

// blocking runs a read in the background and returns its answer on a
// channel, with the time it took.
type answer struct {
	rec     *httptest.ResponseRecorder
	elapsed time.Duration
}

func (f *fixture) async(ctx context.Context, path string) <-chan answer {
	c := make(chan answer, 1)
	req := httptest.NewRequest("GET", path, nil).WithContext(ctx)
	go func() {
		start := time.Now()
		rec := httptest.NewRecorder()
		f.h.ServeHTTP(rec, req)
		c <- answer{rec, time.Since(start)}
	}()
	return c
}

// stillWaiting fails the test if the blocking read already answered.
func stillWaiting(t *testing.T, c <-chan answer) {
	t.Helper()
	select {
	case a := <-c:
		t.Fatalf("answered early with %d %s", a.rec.Code, a.rec.Body)
	case <-time.After(50 * time.Millisecond):
	}
}

func await(t *testing.T, c <-chan answer) answer {
	t.Helper()
	select {
	case a := <-c:
		return a
	case <-time.After(5 * time.Second):
		t.Fatal("blocking query did not answer")
		return answer{}
	}
}

func idx(n uint64) string { return strconv.FormatUint(n, 10) }

func TestBlockingQueryReturnsOnChange(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	start := f.reg.Index()
	c := f.async(context.Background(), "/v1/services/web?index="+idx(start)+"&wait=10s")
	stillWaiting(t, c)
	f.register("web", "w2", `{"address":"10.0.0.6","port":8080}`)
	a := await(t, c)
	var got serviceJSON
	decode(t, a.rec, &got)
	if a.rec.Code != 200 || len(got.Instances) != 2 || indexOf(t, a.rec) != start+1 {
		t.Errorf("got %d %+v index %d", a.rec.Code, got, indexOf(t, a.rec))
	}
}

func TestBlockingQueryIgnoresOtherServices(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	start := f.reg.Index()
	c := f.async(context.Background(), "/v1/services/web?index="+idx(start)+"&wait=300ms")
	stillWaiting(t, c)
	f.register("api", "a1", `{"address":"10.0.1.5","port":9000}`)
	a := await(t, c)
	if a.elapsed < 300*time.Millisecond {
		t.Errorf("answered after %s on a change to another service", a.elapsed)
	}
	// The answer carries the newest index, so the next wait starts from there.
	if a.rec.Code != 200 || indexOf(t, a.rec) != start+1 {
		t.Errorf("got %d index %d, want 200 index %d", a.rec.Code, indexOf(t, a.rec), start+1)
	}
}

func TestBlockingQueryTimesOut(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	a := await(t, f.async(context.Background(), "/v1/services/web?index=1&wait=100ms"))
	var got serviceJSON
	decode(t, a.rec, &got)
	if a.rec.Code != 200 || len(got.Instances) != 1 || indexOf(t, a.rec) != 1 {
		t.Errorf("got %d %+v", a.rec.Code, got)
	}
	if a.elapsed < 100*time.Millisecond || a.elapsed > 2*time.Second {
		t.Errorf("answered after %s, want about 100ms", a.elapsed)
	}
}

func TestBlockingQueryWaitCapped(t *testing.T) {
	f := newFixture(t, Options{MaxWait: 100 * time.Millisecond})
	f.register("web", "w1", web1)
	for _, path := range []string{"/v1/services/web?index=1&wait=1h", "/v1/services/web?index=1", "/v1/services?index=1"} {
		a := await(t, f.async(context.Background(), path))
		if a.rec.Code != 200 || a.elapsed < 100*time.Millisecond || a.elapsed > 2*time.Second {
			t.Errorf("%s: %d after %s, want 200 after MaxWait", path, a.rec.Code, a.elapsed)
		}
	}
}

func TestBlockingQueryAnswersAtOnce(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)                                  // 1
	f.register("api", "a1", `{"address":"10.0.1.5","port":9000}`)  // 2
	f.register("web", "w2", `{"address":"10.0.0.6","port":8080}`)  // 3
	f.register("gone", "g1", `{"address":"10.0.2.5","port":9000}`) // 4
	f.do("DELETE", "/v1/services/gone/instances/g1", "")           // 5
	f.register("api", "a2", `{"address":"10.0.1.6","port":9000}`)  // 6
	tests := []struct {
		name, path string
		status     int
	}{
		{"service changed since", "/v1/services/web?index=2&wait=10s", 200},
		{"index zero", "/v1/services/web?index=0&wait=10s", 200},
		{"index ahead, after a restart", "/v1/services/web?index=99&wait=10s", 200},
		{"service gone since", "/v1/services/gone?index=4&wait=10s", 404},
		{"wait zero", "/v1/services/web?index=6&wait=0s", 200},
		{"list changed since", "/v1/services?index=5&wait=10s", 200},
		{"list index ahead", "/v1/services?index=99&wait=10s", 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := await(t, f.async(context.Background(), tc.path))
			if a.rec.Code != tc.status || a.elapsed > 2*time.Second || indexOf(t, a.rec) != 6 {
				t.Errorf("got %d after %s index %s, want %d at once with index 6", a.rec.Code, a.elapsed, a.rec.Header().Get(IndexHeader), tc.status)
			}
		})
	}
}

func TestBlockingQueryServiceDisappears(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	c := f.async(context.Background(), "/v1/services/web?index=1&wait=10s")
	stillWaiting(t, c)
	f.do("DELETE", "/v1/services/web/instances/w1", "")
	a := await(t, c)
	wantError(t, a.rec, 404, "service web not found")
	if indexOf(t, a.rec) != 2 {
		t.Errorf("index %d, want 2", indexOf(t, a.rec))
	}
}

func TestBlockingQueryServiceAppears(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("api", "a1", `{"address":"10.0.1.5","port":9000}`)
	rec := f.do("GET", "/v1/services/web", "")
	wantError(t, rec, 404, "service web not found")
	c := f.async(context.Background(), "/v1/services/web?index="+idx(indexOf(t, rec))+"&wait=10s")
	stillWaiting(t, c)
	f.register("api", "a2", `{"address":"10.0.1.6","port":9000}`)
	stillWaiting(t, c)
	f.register("web", "w1", web1)
	if a := await(t, c); a.rec.Code != 200 {
		t.Errorf("got %d %s, want 200", a.rec.Code, a.rec.Body)
	}
}

func TestBlockingQueryHealthChange(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	c := f.async(context.Background(), "/v1/services/web?index=1&wait=10s")
	stillWaiting(t, c)
	f.clock.Add(time.Minute)
	f.reg.Sweep()
	var got serviceJSON
	decode(t, await(t, c).rec, &got)
	if got.Critical != 1 || got.Instances[0].Health != "critical" {
		t.Errorf("got %+v, want w1 critical", got)
	}
}

func TestBlockingListReturnsOnAnyChange(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	c := f.async(context.Background(), "/v1/services?index=1&wait=10s")
	stillWaiting(t, c)
	f.register("api", "a1", `{"address":"10.0.1.5","port":9000}`)
	var got []summaryJSON
	a := await(t, c)
	decode(t, a.rec, &got)
	if len(got) != 2 || indexOf(t, a.rec) != 2 {
		t.Errorf("got %+v index %d", got, indexOf(t, a.rec))
	}
}

func TestBlockingQueryEndsWithRequest(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	ctx, cancel := context.WithCancel(context.Background())
	c := f.async(ctx, "/v1/services/web?index=1&wait=1m")
	stillWaiting(t, c)
	cancel()
	if a := await(t, c); a.elapsed > 5*time.Second {
		t.Errorf("answered after %s", a.elapsed)
	}
}

func TestWaitWithoutIndexAnswersAtOnce(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)
	a := await(t, f.async(context.Background(), "/v1/services/web?wait=10s"))
	if a.rec.Code != 200 || a.elapsed > 2*time.Second {
		t.Errorf("got %d after %s", a.rec.Code, a.elapsed)
	}
}
