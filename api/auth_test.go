package api

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// refusalWait bounds how long a refused request may take to be answered
// and its connection closed. The servers of these tests set no read
// timeout, so a server that waits for the body never answers.
const refusalWait = 3 * time.Second

// sendHeadOnly opens a connection to srv and sends the head of a request
// that declares a body of 1000 bytes, then sends nothing more.
func sendHeadOnly(t *testing.T, srv *httptest.Server, method, path, auth string) net.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), refusalWait)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	head := method + " " + path + " HTTP/1.1\r\nHost: signpost\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n"
	if auth != "" {
		head += "Authorization: " + auth + "\r\n"
	}
	if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
		t.Fatal(err)
	}
	return conn
}

// TestRefusedBeforeBody checks that a request refused for its token, its
// path or its method is answered without waiting for its body, and that
// its connection is closed within refuseDrain rather than kept to read the
// body: a client that declares a body and sends none holds nothing.
func TestRefusedBeforeBody(t *testing.T) {
	tests := []struct {
		name         string
		opts         Options
		method, path string
		auth         string
		status       int
	}{
		{"write without token", Options{Token: "s3cret"}, "PUT", "/v1/services/web/instances/w1", "", 401},
		{"write with wrong token", Options{Token: "s3cret"}, "PUT", "/v1/services/web/instances/w1", "Bearer wrong", 401},
		{"health report without token", Options{Token: "s3cret"}, "PUT", "/v1/services/web/instances/w1/health", "", 401},
		{"restore without token", Options{Token: "s3cret"}, "PUT", "/v1/snapshot", "", 401},
		{"restore on a server without token", Options{}, "PUT", "/v1/snapshot", "", 403},
		{"unknown path", Options{}, "PUT", "/v1/nothing", "", 404},
		{"wrong method", Options{}, "POST", "/v1/services", "", 405},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t, tc.opts)
			srv := httptest.NewServer(f.h)
			t.Cleanup(srv.Close) // after the connection closes: it waits for its request
			conn := sendHeadOnly(t, srv, tc.method, tc.path, tc.auth)
			conn.SetReadDeadline(time.Now().Add(refusalWait))
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatalf("no answer within %v without a body: %v", refusalWait, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tc.status, body)
			}
			if !resp.Close {
				t.Error("the answer keeps the connection, whose unread body would be taken for the next request")
			}
			// The server closes its end: the next read sees EOF, not a timeout.
			if _, err := br.ReadByte(); !errors.Is(err, io.EOF) {
				t.Errorf("read after the answer: %v, want EOF (the connection closed)", err)
			}
			if f.reg.Snapshot().Len() != 0 {
				t.Error("a refused request changed the registry")
			}
		})
	}
}

// TestRefusedWithoutBodyKeepsConnection checks that refusing a request
// without a body keeps the connection for the next request.
func TestRefusedWithoutBodyKeepsConnection(t *testing.T) {
	f := newFixture(t, Options{Token: "s3cret", TokenRead: true})
	srv := httptest.NewServer(f.h)
	defer srv.Close()
	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), refusalWait)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(refusalWait))
	br := bufio.NewReader(conn)
	for _, tc := range []struct {
		auth   string
		status int
	}{{"", 401}, {"Authorization: Bearer s3cret\r\n", 200}} {
		if _, err := io.WriteString(conn, "GET /v1/services HTTP/1.1\r\nHost: signpost\r\n"+tc.auth+"\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("request with %q on the same connection: %v", tc.auth, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || resp.Close {
			t.Fatalf("status %d, close %v; want %d on a connection kept open", resp.StatusCode, resp.Close, tc.status)
		}
	}
}

// TestSnapshotNeedsConfiguredToken checks that a server without a token
// refuses both backup calls, naming the Corefile option, and that its
// other calls work as they did.
func TestSnapshotNeedsConfiguredToken(t *testing.T) {
	f := newFixture(t, Options{})
	f.register("web", "w1", `{"address":"10.0.0.5","port":443,"check":{"type":"https","header":{"X-Api-Key":"xkey-secret"}}}`)
	before := f.reg.Snapshot()
	for _, method := range []string{"GET", "PUT"} {
		rec := f.do(method, snapshotPath, `{"version":1,"index":1,"instances":[]}`)
		wantError(t, rec, http.StatusForbidden, method+` /v1/snapshot needs a token and this server has none: set "token" or "token-file" in the signpost block of the Corefile`)
		if strings.Contains(rec.Body.String(), "xkey-secret") {
			t.Errorf("%s %s leaked a secret: %s", method, snapshotPath, rec.Body)
		}
	}
	if f.reg.Snapshot() != before {
		t.Error("a refused restore changed the registry")
	}
	if rec := f.do("GET", "/v1/services/web", ""); rec.Code != http.StatusOK || strings.Contains(rec.Body.String(), "xkey-secret") {
		t.Errorf("GET /v1/services/web: %d %s", rec.Code, rec.Body)
	}
	if rec := f.do("PUT", "/v1/services/web/instances/w2", web1); rec.Code != http.StatusOK {
		t.Errorf("a registration without a token: %d %s", rec.Code, rec.Body)
	}
}
