package integration

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// eventsCorefile has the API, a bounded event log and a probed service with
// a failover whose instance listens on dbPort only when a test says so.
func eventsCorefile(dbPort int) string {
	return fmt.Sprintf(`svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        events 100
        service mysql {
            instance db1 127.0.0.1:%d
            check tcp interval 100ms timeout 50ms rise 1 fall 1
            failover 10.0.0.100
            min-healthy 1
        }
    }
    errors
}
`, dbPort)
}

// eventBound bounds the wait for one event: a 1s lease runs out within its
// TTL and a sweep (every second), a probe every 100ms.
const eventBound = 10 * time.Second

// sseEvent is one frame of an event stream.
type sseEvent struct {
	id, event, data, comment string
}

// apiEvent is an event as the API shows it.
type apiEvent struct {
	Index    uint64    `json:"index"`
	Time     time.Time `json:"time"`
	Type     string    `json:"type"`
	Service  string    `json:"service"`
	Instance string    `json:"instance"`
	Health   string    `json:"health"`
	Reason   string    `json:"reason"`
}

func (e apiEvent) String() string {
	return strings.TrimSpace(fmt.Sprintf("%s %s/%s %s", e.Type, e.Service, e.Instance, e.Health))
}

// rawStream is an event stream read over a plain TCP connection, the
// request written by hand as curl would send it.
type rawStream struct {
	conn   net.Conn
	resp   *http.Response
	frames chan sseEvent
}

// openRawStream sends a GET for path over a new TCP connection with the
// given header lines and reads the answer's frames in the background.
func openRawStream(t *testing.T, s *server, path string, headers ...string) *rawStream {
	t.Helper()
	addr := strings.TrimPrefix(s.apiURL, "http://")
	conn, err := net.DialTimeout("tcp", addr, queryTimeout)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	req := "GET " + path + " HTTP/1.1\r\nHost: " + addr + "\r\nUser-Agent: curl/8.0\r\n"
	for _, h := range headers {
		req += h + "\r\n"
	}
	if _, err := io.WriteString(conn, req+"\r\n"); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute)) // bounds the whole test's reading
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the answer to GET %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("GET %s: %d %s", path, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	st := &rawStream{conn: conn, resp: resp, frames: make(chan sseEvent, 100)}
	go readSSE(resp.Body, st.frames)
	return st
}

// readSSE parses Server-Sent Events from r into out, closing it at the end.
func readSSE(r io.Reader, out chan<- sseEvent) {
	defer close(out)
	sc := bufio.NewScanner(r)
	var fr sseEvent
	fields := 0
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			if fields > 0 {
				out <- fr
			}
			fr, fields = sseEvent{}, 0
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
		default:
			continue // retry
		}
		fields++
	}
}

// next returns the next event frame, skipping comments, within eventBound.
func (st *rawStream) next(t *testing.T) (sseEvent, apiEvent) {
	t.Helper()
	deadline := time.After(eventBound)
	for {
		select {
		case fr, ok := <-st.frames:
			if !ok {
				t.Fatal("the event stream ended")
			}
			if fr.comment != "" {
				continue
			}
			var e apiEvent
			if fr.event == "" {
				if err := json.Unmarshal([]byte(fr.data), &e); err != nil {
					t.Fatalf("frame data %q: %v", fr.data, err)
				}
				if fr.id != strconv.FormatUint(e.Index, 10) {
					t.Errorf("frame id %q, event index %d", fr.id, e.Index)
				}
			}
			return fr, e
		case <-deadline:
			t.Fatalf("no event within %v", eventBound)
		}
	}
}

// expect reads the next event and checks its summary and reason.
func (st *rawStream) expect(t *testing.T, want, reason string) apiEvent {
	t.Helper()
	_, e := st.next(t)
	if e.String() != want || !strings.Contains(e.Reason, reason) {
		t.Fatalf("event %d: %s (%q), want %s (%q)", e.Index, e, e.Reason, want, reason)
	}
	return e
}

// ended waits for the stream to end, within stopTimeout.
func (st *rawStream) ended(t *testing.T) {
	t.Helper()
	deadline := time.After(stopTimeout)
	for {
		select {
		case _, ok := <-st.frames:
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("the event stream outlived the server by %v", stopTimeout)
		}
	}
}

func TestEventsEndToEnd(t *testing.T) {
	dbPort := freePort(t)
	s := startServer(t, eventsCorefile(dbPort))
	api := s.api()
	api.waitReady(t)
	env := ctlEnv("SIGNPOST_SERVER=" + s.apiURL)
	follow := startCtl(t, env, "events", "--follow", "--service", "web")

	st := openRawStream(t, s, "/v1/events", "Accept: text/event-stream")
	if st.resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", st.resp.Header.Get("Cache-Control"))
	}
	// The Corefile's instance starts critical, below min-healthy: failover.
	st.expect(t, "registered mysql/db1 critical", "declared in the Corefile")
	st.expect(t, "failover-on mysql/", "answers go to the failover [10.0.0.100]")

	// The probed port opens: the probe passes, the failover ends.
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(dbPort)))
	if err != nil {
		t.Fatal(err)
	}
	st.expect(t, "health mysql/db1 passing", "tcp check passing")
	st.expect(t, "failover-off mysql/", "answers are the instances again")
	// It closes again: the probe's own error is the reason.
	ln.Close()
	st.expect(t, "health mysql/db1 critical", "refused")
	st.expect(t, "failover-on mysql/", "failover")

	// A lease that runs out, then a deregistration.
	api.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w1"), regBody("10.0.0.5", 8080, `, "ttl": "1s"`))
	reg := st.expect(t, "registered web/w1 passing", "registered through the API")
	st.expect(t, "expired web/w1 critical", "lease ran out: no heartbeat within its TTL of 1s")

	// A blocking read waits for the next event.
	type result struct {
		r   reply
		err error
	}
	blocked := make(chan result, 1)
	after := reg.Index + 1
	go func() {
		r, err := api.try(http.MethodGet, fmt.Sprintf("/v1/events?index=%d&wait=30s", after), "")
		blocked <- result{r, err}
	}()
	select {
	case res := <-blocked:
		t.Fatalf("a blocking read answered with no new event: %v %v", res.r, res.err)
	case <-time.After(200 * time.Millisecond):
	}
	api.expect(t, http.StatusNoContent, http.MethodDelete, instPath("web", "w1"), "")
	gone := st.expect(t, "deregistered web/w1", "deregistered through the API")
	select {
	case res := <-blocked:
		var evs []apiEvent
		if res.err != nil || json.Unmarshal([]byte(res.r.body), &evs) != nil || len(evs) != 1 || evs[0].Index != gone.Index ||
			res.r.index() != int64(gone.Index) {
			t.Errorf("blocking read: %v %v", res.r, res.err)
		}
	case <-time.After(eventBound):
		t.Fatal("a blocking read did not answer the deregistration")
	}

	// A client that reconnects with Last-Event-ID resumes after it.
	resumed := openRawStream(t, s, "/v1/events/stream", fmt.Sprintf("Last-Event-ID: %d", reg.Index))
	if _, e := resumed.next(t); e.Index != reg.Index+1 || e.Type != "expired" {
		t.Errorf("resumed at %d %s, want %d expired", e.Index, e, reg.Index+1)
	}

	// signpostctl followed web's events, and only those.
	follow.waitOutput(t, "deregistered web/w1: deregistered through the API", eventBound)
	out := follow.out.String()
	for _, want := range []string{
		fmt.Sprintf("#%d registered web/w1 passing", reg.Index),
		"expired web/w1 critical: lease ran out",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("signpostctl events --follow printed no %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "mysql") {
		t.Errorf("signpostctl events --service web printed mysql's events:\n%s", out)
	}
	ctlOut := ctlOK(t, env, "events", "--index", strconv.FormatUint(gone.Index-1, 10))
	if !strings.HasSuffix(ctlOut, "deregistered web/w1: deregistered through the API\n") || strings.Count(ctlOut, "\n") != 1 {
		t.Errorf("signpostctl events --index: %q", ctlOut)
	}
	follow.stopAndCheck(t)

	// curl follows the stream too, and every stream ends when the server
	// shuts down.
	curl := requireTool(t, "curl", "curl")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, curl, "-sSN", "-H", "Accept: text/event-stream", s.apiURL+"/v1/events?service=web")
	var curlOut syncBuffer
	cmd.Stdout, cmd.Stderr = &curlOut, &curlOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	curlDone := make(chan error, 1)
	go func() { curlDone <- cmd.Wait() }()
	deadline := time.Now().Add(eventBound)
	for !strings.Contains(curlOut.String(), fmt.Sprintf("id: %d\n", gone.Index)) {
		if time.Now().After(deadline) {
			t.Fatalf("curl printed no event %d:\n%s", gone.Index, curlOut.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.terminate()
	st.ended(t)
	resumed.ended(t)
	select {
	case err := <-curlDone:
		if err != nil {
			t.Errorf("curl after the server shut down: %v\n%s", err, curlOut.String())
		}
	case <-time.After(stopTimeout):
		t.Errorf("curl still reading %v after the server shut down", stopTimeout)
	}
}

// Events no longer kept are reported missed, by header and in the stream.
func TestEventsMissedEndToEnd(t *testing.T) {
	s := startServer(t, apiCorefileWith("        events 3\n"))
	api := s.api()
	api.waitReady(t)
	for i := range 5 {
		api.expect(t, http.StatusOK, http.MethodPut, instPath("web", fmt.Sprintf("w%d", i)), regBody("10.0.0.5", 8080, ""))
	}
	r := api.expect(t, http.StatusOK, http.MethodGet, "/v1/events?index=1", "")
	var evs []apiEvent
	if err := json.Unmarshal([]byte(r.body), &evs); err != nil || len(evs) != 3 || evs[0].Index != 3 ||
		r.header.Get("X-Signpost-Events-Missed") != "true" || r.index() != 5 {
		t.Errorf("after 1 of a log keeping 3: %v missed %q", r, r.header.Get("X-Signpost-Events-Missed"))
	}
	st := openRawStream(t, s, "/v1/events/stream", "Last-Event-ID: 1")
	if fr, _ := st.next(t); fr.event != "missed" || fr.data != `{"after":1,"next":3}` {
		t.Errorf("first frame %+v, want missed", fr)
	}
	if _, e := st.next(t); e.Index != 3 {
		t.Errorf("then event %d, want 3", e.Index)
	}
	_, stderr, code := runCtl(t, ctlEnv("SIGNPOST_SERVER="+s.apiURL), "events", "--index", "1")
	if code != 0 || !strings.Contains(stderr, "no longer kept") {
		t.Errorf("signpostctl events --index 1: exit %d, stderr %q", code, stderr)
	}
}
