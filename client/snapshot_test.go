package client

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"
)

// The tests against the real API live in internal/clientapi of the
// server's module: this module imports no server package, not even in tests.

const backupBody = `{"version":1,"index":3,"instances":[]}` + "\n"

// bodies records the request bodies a fake server got.
type bodies struct {
	mu  sync.Mutex
	got []string
}

func (b *bodies) handler(code int, answer string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.mu.Lock()
		b.got = append(b.got, r.Method+" "+r.URL.Path+" "+string(body))
		b.mu.Unlock()
		status(code, answer)(w, r)
	}
}

func TestRestoreSendsTheSameBodyToTheNextServer(t *testing.T) {
	var first, second bodies
	bad := newFake(t, first.handler(503, `{"error":"overloaded"}`))
	good := newFake(t, second.handler(200, `{"instances":0,"index":3}`))
	c, _ := New([]string{closedURL(t), bad.URL, good.URL}, fastRetry(6))
	// A reader that can be read only once, in small pieces.
	if err := c.Restore(context.Background(), iotest.HalfReader(strings.NewReader(backupBody))); err != nil {
		t.Fatal(err)
	}
	want := "PUT /v1/snapshot " + backupBody
	if len(first.got) != 1 || first.got[0] != want || len(second.got) != 1 || second.got[0] != want {
		t.Errorf("bodies sent:\n%q\n%q\nwant %q on each", first.got, second.got, want)
	}
}

func TestRestoreReadError(t *testing.T) {
	f := newFake(t, status(200, `{}`))
	c, _ := New([]string{f.URL}, fastRetry(2))
	boom := errors.New("disk on fire")
	err := c.Restore(context.Background(), iotest.ErrReader(boom))
	if !errors.Is(err, boom) || !strings.HasPrefix(err.Error(), "reading the backup: ") {
		t.Errorf("err %v", err)
	}
	if f.hits.Load() != 0 {
		t.Error("a backup that could not be read was sent")
	}
}

func TestSnapshotFailsOverBeforeTheBody(t *testing.T) {
	bad := newFake(t, status(503, `{"error":"overloaded"}`))
	good := newFake(t, status(200, backupBody))
	c, _ := New([]string{closedURL(t), bad.URL, good.URL}, fastRetry(6))
	var w bytes.Buffer
	if err := c.Snapshot(context.Background(), &w); err != nil {
		t.Fatal(err)
	}
	if w.String() != backupBody {
		t.Errorf("wrote %q, want one backup %q", w.String(), backupBody)
	}
}

// cutShort answers 200 with a Content-Length of the whole body, sends half
// of it and drops the connection, as a server that dies mid-answer does.
func cutShort(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(200)
		io.WriteString(w, body[:len(body)/2])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
	}
}

func TestSnapshotCutShortIsNotRetried(t *testing.T) {
	broken := newFake(t, cutShort(backupBody))
	good := newFake(t, status(200, backupBody))
	c, _ := New([]string{broken.URL, good.URL}, fastRetry(4))
	var w bytes.Buffer
	err := c.Snapshot(context.Background(), &w)
	if err == nil || !errors.Is(err, io.ErrUnexpectedEOF) || !strings.HasPrefix(err.Error(), "reading the answer after ") {
		t.Errorf("err %v, want an unexpected EOF while reading", err)
	}
	if good.hits.Load() != 0 {
		t.Error("the call went on to another server after writing part of a backup")
	}
	if w.String() != backupBody[:len(backupBody)/2] {
		t.Errorf("wrote %q", w.String())
	}
}

// failingWriter fails every write.
type failingWriter struct{ err error }

func (f failingWriter) Write([]byte) (int, error) { return 0, f.err }

func TestSnapshotSinkErrorIsNotRetried(t *testing.T) {
	first := newFake(t, status(200, backupBody))
	second := newFake(t, status(200, backupBody))
	c, _ := New([]string{first.URL, second.URL}, fastRetry(4))
	full := errors.New("no space left on device")
	err := c.Snapshot(context.Background(), failingWriter{full})
	if !errors.Is(err, full) || !strings.HasPrefix(err.Error(), "writing the answer after 0 bytes: ") {
		t.Errorf("err %v", err)
	}
	if second.hits.Load() != 0 {
		t.Error("a failing writer made the call try another server")
	}
}

func TestSnapshotRequest(t *testing.T) {
	var got *http.Request
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		got = r
		status(200, backupBody)(w, r)
	})
	c, _ := New([]string{f.URL}, WithToken("s3cret"))
	if err := c.Snapshot(context.Background(), io.Discard); err != nil {
		t.Fatal(err)
	}
	if got.Method != "GET" || got.URL.Path != "/v1/snapshot" || got.Header.Get("Authorization") != "Bearer s3cret" {
		t.Errorf("request %s %s %v", got.Method, got.URL, got.Header)
	}
}
