package api

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

func eventTypes(evs []eventJSON) string {
	var parts []string
	for _, e := range evs {
		s := e.Type + " " + e.Service + "/" + e.Instance
		if e.Health != "" {
			s += " " + e.Health
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, ", ")
}

func TestEventsRead(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", `{"address":"10.0.0.5","port":80,"ttl":"10s"}`)
	f.do("PUT", "/v1/services/web/instances/w1/health", `{"status":"critical","output":"GET /healthz: 503"}`)
	f.register("api", "a1", `{"address":"10.0.0.6","port":80}`)
	f.do("DELETE", "/v1/services/web/instances/w1", "")

	rec := f.do("GET", "/v1/events", "")
	var got []eventJSON
	decode(t, rec, &got)
	want := "registered web/w1 passing, health web/w1 critical, registered api/a1 passing, deregistered web/w1"
	if eventTypes(got) != want {
		t.Fatalf("events %s\nwant %s", eventTypes(got), want)
	}
	if indexOf(t, rec) != 4 || rec.Header().Get(MissedHeader) != "" {
		t.Errorf("index %d missed %q", indexOf(t, rec), rec.Header().Get(MissedHeader))
	}
	if got[1].Reason != "GET /healthz: 503" || got[1].Index != 2 || !got[1].Time.Equal(newClock().Now()) {
		t.Errorf("health event %+v", got[1])
	}

	rec = f.do("GET", "/v1/events?index=1&service=web", "")
	got = nil
	decode(t, rec, &got)
	if want := "health web/w1 critical, deregistered web/w1"; eventTypes(got) != want {
		t.Errorf("after 1 for web: %s, want %s", eventTypes(got), want)
	}

	// The JSON a client sees: no health on a deregistration.
	rec = f.do("GET", "/v1/events?index=3", "")
	if body := strings.TrimSpace(rec.Body.String()); body != `[{"index":4,"time":"2026-01-02T03:04:05Z","type":"deregistered","service":"web","instance":"w1","reason":"deregistered through the API"}]` {
		t.Errorf("body %s", body)
	}
}

func TestEventsBadInput(t *testing.T) {
	f := newFixture(t, Options{})
	for _, q := range []string{"index=-1", "index=x", "wait=soon&index=0", "service=No_Such", "service=" + strings.Repeat("a", 64)} {
		rec := f.do("GET", "/v1/events?"+q, "")
		if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), `"error"`) {
			t.Errorf("%s: %d %s", q, rec.Code, rec.Body)
		}
	}
	rec := f.do("GET", "/v1/events/stream", "", "Last-Event-ID", "seven")
	if rec.Code != http.StatusBadRequest || !strings.Contains(rec.Body.String(), "Last-Event-ID") {
		t.Errorf("bad Last-Event-ID: %d %s", rec.Code, rec.Body)
	}
}

func TestEventsNeedTheReadToken(t *testing.T) {
	f := newFixture(t, Options{Token: "s3cret", TokenRead: true})
	for _, path := range []string{"/v1/events", "/v1/events/stream"} {
		if rec := f.do("GET", path, ""); rec.Code != http.StatusUnauthorized {
			t.Errorf("%s without the token: %d", path, rec.Code)
		}
	}
	if rec := f.do("GET", "/v1/events", "", "Authorization", "Bearer s3cret"); rec.Code != http.StatusOK {
		t.Errorf("with the token: %d %s", rec.Code, rec.Body)
	}
}

func TestEventsMissed(t *testing.T) {
	reg := registry.New(registry.Config{Events: 2})
	h := newHandler(reg, Options{})
	for _, id := range []string{"w1", "w2", "w3", "w4"} {
		if _, err := reg.Register(registry.Instance{Service: "web", ID: id, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		query  string
		n      int
		missed bool
	}{{"", 2, false}, {"?index=1", 2, true}, {"?index=2", 2, false}, {"?index=3", 1, false}, {"?index=7", 2, true}} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", "/v1/events"+tc.query, nil))
		var got []eventJSON
		decode(t, rec, &got)
		if len(got) != tc.n || (rec.Header().Get(MissedHeader) == "true") != tc.missed {
			t.Errorf("%q: %d events, missed %q; want %d, %v", tc.query, len(got), rec.Header().Get(MissedHeader), tc.n, tc.missed)
		}
	}
}

func TestEventsBlocking(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", web1)

	start := time.Now()
	rec := f.do("GET", "/v1/events?index=1&wait=50ms", "")
	var got []eventJSON
	decode(t, rec, &got)
	if len(got) != 0 || indexOf(t, rec) != 1 || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("a wait with nothing new: %s index %d after %v", rec.Body, indexOf(t, rec), time.Since(start))
	}

	done := make(chan *httptest.ResponseRecorder, 1)
	go func() { done <- f.do("GET", "/v1/events?index=1&service=web&wait=30s", "") }()
	// An event of another service does not end a wait for web's; the
	// answer still holds every event since the index.
	f.register("api", "a1", `{"address":"10.0.0.6","port":80}`)
	select {
	case rec := <-done:
		t.Fatalf("answered on another service's event: %s", rec.Body)
	case <-time.After(100 * time.Millisecond):
	}
	f.do("DELETE", "/v1/services/web/instances/w1", "")
	select {
	case rec := <-done:
		decode(t, rec, &got)
		if eventTypes(got) != "deregistered web/w1" || indexOf(t, rec) != 3 {
			t.Errorf("blocking answer %s index %d", eventTypes(got), indexOf(t, rec))
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a blocking read did not answer the event it waited for")
	}
}

// sseServer serves f's handler over HTTP, with a base context that a test
// cancels as a server shutting down does.
func sseServer(t *testing.T, h http.Handler) (*httptest.Server, context.CancelFunc) {
	base, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(h)
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Start()
	t.Cleanup(func() { cancel(); srv.Close() })
	return srv, cancel
}

// sseFrame is one frame of an event stream: its fields, or a comment.
type sseFrame struct {
	id, event, data, comment, retry string
}

// readFrames reads frames from an event stream into a channel until it ends.
func readFrames(body io.Reader) <-chan sseFrame {
	out := make(chan sseFrame, 100)
	go func() {
		defer close(out)
		sc := bufio.NewScanner(body)
		var fr sseFrame
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				out <- fr
				fr = sseFrame{}
				continue
			}
			name, value, _ := strings.Cut(line, ":")
			value = strings.TrimPrefix(value, " ")
			switch name {
			case "":
				fr.comment = value
			case "id":
				fr.id = value
			case "event":
				fr.event = value
			case "data":
				fr.data = value
			case "retry":
				fr.retry = value
			}
		}
	}()
	return out
}

func nextFrame(t *testing.T, frames <-chan sseFrame, skipComments bool) sseFrame {
	t.Helper()
	for {
		select {
		case fr, ok := <-frames:
			if !ok {
				t.Fatal("the stream ended")
			}
			if (fr.comment != "" && skipComments) || fr.retry != "" {
				continue
			}
			return fr
		case <-time.After(10 * time.Second):
			t.Fatal("no frame within 10s")
		}
	}
}

func openStream(t *testing.T, url string, hdr ...string) (*http.Response, <-chan sseFrame) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	return resp, readFrames(resp.Body)
}

func TestEventStream(t *testing.T) {
	f := newFixture(t, Options{EventsHeartbeat: 50 * time.Millisecond})
	f.register("web", "w1", web1)
	srv, shutdown := sseServer(t, f.h)

	_, frames := openStream(t, srv.URL+"/v1/events", "Accept", "text/html, text/event-stream;q=0.9")
	if fr := nextFrame(t, frames, true); fr.id != "1" || !strings.Contains(fr.data, `"type":"registered"`) {
		t.Fatalf("first frame %+v", fr)
	}
	f.do("DELETE", "/v1/services/web/instances/w1", "")
	fr := nextFrame(t, frames, true)
	var e eventJSON
	if err := json.Unmarshal([]byte(fr.data), &e); err != nil || fr.id != "2" || e.Type != "deregistered" || e.Index != 2 {
		t.Fatalf("live frame %+v (%v)", fr, err)
	}
	// Idle, the stream sends heartbeat comments.
	if fr := nextFrame(t, frames, false); fr.comment != "keep-alive" {
		t.Errorf("idle frame %+v, want a keep-alive comment", fr)
	}

	// A client that reconnects with Last-Event-ID resumes after it.
	f.register("web", "w2", web1)
	_, resumed := openStream(t, srv.URL+"/v1/events/stream", "Last-Event-ID", "2")
	if fr := nextFrame(t, resumed, true); fr.id != "3" {
		t.Errorf("resumed at %+v, want id 3", fr)
	}

	// Shutdown ends every stream.
	shutdown()
	for _, ch := range []<-chan sseFrame{frames, resumed} {
		deadline := time.After(10 * time.Second)
	drain:
		for {
			select {
			case _, ok := <-ch:
				if !ok {
					break drain
				}
			case <-deadline:
				t.Fatal("a stream outlived the server's shutdown")
			}
		}
	}
}

func TestEventStreamMissed(t *testing.T) {
	reg := registry.New(registry.Config{Events: 2})
	srv, _ := sseServer(t, newHandler(reg, Options{}))
	for _, id := range []string{"w1", "w2", "w3", "w4"} {
		if _, err := reg.Register(registry.Instance{Service: "web", ID: id, Address: netip.MustParseAddr("10.0.0.1"), Port: 80}); err != nil {
			t.Fatal(err)
		}
	}
	_, frames := openStream(t, srv.URL+"/v1/events/stream?service=web", "Last-Event-ID", "0")
	if fr := nextFrame(t, frames, true); fr.id != "3" {
		t.Errorf("from 0: %+v, want the oldest kept, 3, and no missed event", fr)
	}
	_, frames = openStream(t, srv.URL+"/v1/events/stream?index=1")
	if fr := nextFrame(t, frames, true); fr.event != "missed" || fr.data != `{"after":1,"next":3}` {
		t.Errorf("first frame %+v, want a missed event", fr)
	}
	if fr := nextFrame(t, frames, true); fr.id != "3" {
		t.Errorf("then %+v, want event 3", fr)
	}
}

func TestAcceptsEventStream(t *testing.T) {
	for accept, want := range map[string]bool{
		"":                                 false,
		"application/json":                 false,
		"text/event-stream":                true,
		"TEXT/EVENT-STREAM; charset=utf-8": true,
		"application/json, text/event-stream;q=0.5": true,
		"text/event-streamx":                        false,
	} {
		r := httptest.NewRequest("GET", "/v1/events", nil)
		r.Header.Set("Accept", accept)
		if got := acceptsEventStream(r); got != want {
			t.Errorf("Accept %q: %v, want %v", accept, got, want)
		}
	}
}

// A stream outlives the server's WriteTimeout, meant for answers: each
// write has a deadline of its own.
func TestEventStreamOutlivesWriteTimeout(t *testing.T) {
	f := newFixture(t, Options{EventsHeartbeat: 50 * time.Millisecond})
	base, cancel := context.WithCancel(context.Background())
	srv := httptest.NewUnstartedServer(f.h)
	srv.Config.BaseContext = func(net.Listener) context.Context { return base }
	srv.Config.WriteTimeout = 200 * time.Millisecond
	srv.Start()
	t.Cleanup(func() { cancel(); srv.Close() })

	_, frames := openStream(t, srv.URL+"/v1/events/stream")
	// Let the server's WriteTimeout pass several times over, heartbeats
	// flowing, before the event comes.
	deadline := time.After(time.Second)
	for waiting := true; waiting; {
		select {
		case fr, ok := <-frames:
			if !ok {
				t.Fatal("the stream ended within the server's WriteTimeout")
			}
			if fr.comment == "" && fr.retry == "" {
				t.Fatalf("unexpected frame %+v", fr)
			}
		case <-deadline:
			waiting = false
		}
	}
	f.register("web", "w1", web1)
	if fr := nextFrame(t, frames, true); fr.id != "1" {
		t.Errorf("after the WriteTimeout: %+v, want event 1", fr)
	}
}
