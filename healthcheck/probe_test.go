package healthcheck

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// probeCase is one probe against a server and the result it must give; the
// error, when not passing, must contain errText.
type probeCase struct {
	name    string
	check   Check
	want    Status
	errText string
}

func runProbes(t *testing.T, cases []probeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.check.Timeout == 0 {
				// Far above what any case takes, even a TLS handshake
				// under the race detector on a loaded machine: only the
				// cases about timeouts set one of their own.
				tc.check.Timeout = 5 * time.Second
			}
			got, err := Probe(context.Background(), tc.check)
			t.Logf("%v: %v", got, err)
			if got != tc.want {
				t.Fatalf("Probe = %v (%v), want %v", got, err, tc.want)
			}
			if (err == nil) != (tc.want == Passing) {
				t.Fatalf("Probe error = %v with status %v", err, got)
			}
			if err != nil && !strings.Contains(err.Error(), tc.errText) {
				t.Fatalf("Probe error = %q, want it to contain %q", err, tc.errText)
			}
		})
	}
}

func TestProbeTCP(t *testing.T) {
	runProbes(t, []probeCase{
		{"listening", Check{Type: "tcp", Target: tcpServer(t)}, Passing, ""},
		{"refused", Check{Type: "tcp", Target: closedAddr(t)}, Critical, "refused"},
		{"invalid check", Check{Type: "tcp"}, Critical, "target: missing"},
	})
}

func httpHandler(t *testing.T) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("status: all good")) })
	mux.HandleFunc("/created", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusNoContent) })
	mux.HandleFunc("/throttle", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusTooManyRequests) })
	mux.HandleFunc("/fail", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "broken", http.StatusInternalServerError) })
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	})
	mux.HandleFunc("/probe", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodHead || r.Header.Get("X-Probe") != "signpost" || r.Host != "svc.example" ||
			r.Header.Get("User-Agent") != userAgent {
			t.Errorf("request %s host %q headers %v", r.Method, r.Host, r.Header)
			w.WriteHeader(http.StatusBadRequest)
		}
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("x", maxBody) + "ok"))
	})
	mux.HandleFunc("/once", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/ok", http.StatusFound) })
	mux.HandleFunc("/loop", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/loop", http.StatusFound) })
	return mux
}

func TestProbeHTTP(t *testing.T) {
	srv := httptest.NewServer(httpHandler(t))
	t.Cleanup(srv.Close)
	u := srv.URL
	runProbes(t, []probeCase{
		{"200", Check{Type: "http", Target: u + "/ok"}, Passing, ""},
		{"204", Check{Type: "http", Target: u + "/created"}, Passing, ""},
		{"429 warns", Check{Type: "http", Target: u + "/throttle"}, Warning, "429"},
		{"500", Check{Type: "http", Target: u + "/fail"}, Critical, "500 Internal Server Error"},
		{"404", Check{Type: "http", Target: u + "/nowhere"}, Critical, "404"},
		{"expect found", Check{Type: "http", Target: u + "/ok", Expect: "all good"}, Passing, ""},
		{"expect missing", Check{Type: "http", Target: u + "/ok", Expect: "ready"}, Critical, `body does not contain "ready"`},
		{"expect beyond the read bound", Check{Type: "http", Target: u + "/big", Expect: "ok"}, Critical, "body does not contain"},
		{"method and headers", Check{Type: "http", Target: u + "/probe", Method: "HEAD",
			Header: http.Header{"X-Probe": {"signpost"}, "Host": {"svc.example"}}}, Passing, ""},
		{"slow handler cut at timeout", Check{Type: "http", Target: u + "/slow", Timeout: 100 * time.Millisecond}, Critical, "timed out after 100ms"},
		{"redirect followed", Check{Type: "http", Target: u + "/once"}, Passing, ""},
		{"redirect loop bounded", Check{Type: "http", Target: u + "/loop"}, Critical, "302"},
		{"refused", Check{Type: "http", Target: "http://" + closedAddr(t) + "/"}, Critical, "refused"},
		{"https against plain http", Check{Type: "https", Target: "https" + strings.TrimPrefix(u, "http") + "/ok"}, Critical, ""},
	})
}

func TestProbeHTTPS(t *testing.T) {
	srv := httptest.NewTLSServer(httpHandler(t))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the failed verification is logged by the server
	t.Cleanup(srv.Close)
	u := srv.URL
	runProbes(t, []probeCase{
		{"certificate verified by default", Check{Type: "https", Target: u + "/ok"}, Critical, "certificate"},
		{"tls-skip-verify", Check{Type: "https", Target: u + "/ok", TLSSkipVerify: true}, Passing, ""},
		{"tls-skip-verify 500", Check{Type: "https", Target: u + "/fail", TLSSkipVerify: true}, Critical, "500"},
		{"tls-skip-verify 429", Check{Type: "https", Target: u + "/throttle", TLSSkipVerify: true}, Warning, "429"},
	})
}

// grpcServer runs a gRPC server on loopback, with the standard health
// service when hs is not nil.
func grpcServer(t *testing.T, hs *grpchealth.Server) string {
	l := listen(t)
	srv := grpc.NewServer()
	if hs != nil {
		healthpb.RegisterHealthServer(srv, hs)
	}
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return l.Addr().String()
}

func TestProbeGRPC(t *testing.T) {
	hs := grpchealth.NewServer() // the whole server ("") is SERVING
	hs.SetServingStatus("my.pkg.Svc", healthpb.HealthCheckResponse_SERVING)
	hs.SetServingStatus("my.pkg.Down", healthpb.HealthCheckResponse_NOT_SERVING)
	addr := grpcServer(t, hs)
	runProbes(t, []probeCase{
		{"server serving", Check{Type: "grpc", Target: addr}, Passing, ""},
		{"service serving", Check{Type: "grpc", Target: addr, Service: "my.pkg.Svc"}, Passing, ""},
		{"service not serving", Check{Type: "grpc", Target: addr, Service: "my.pkg.Down"}, Critical, "NOT_SERVING"},
		{"service unknown", Check{Type: "grpc", Target: addr, Service: "my.pkg.Nope"}, Critical, "NotFound"},
		{"no health service", Check{Type: "grpc", Target: grpcServer(t, nil)}, Critical, "Unimplemented"},
		{"refused", Check{Type: "grpc", Target: closedAddr(t)}, Critical, "Unavailable"},
	})
	hs.Shutdown() // every service NOT_SERVING
	runProbes(t, []probeCase{
		{"after shutdown", Check{Type: "grpc", Target: addr}, Critical, "NOT_SERVING"},
	})
}

func TestProbeRedis(t *testing.T) {
	open := redisServer(t, "", "")
	locked := redisServer(t, "s3cret", "")
	runProbes(t, []probeCase{
		{"PONG", Check{Type: "redis", Target: open}, Passing, ""},
		{"AUTH then PONG", Check{Type: "redis", Target: locked, Password: "s3cret"}, Passing, ""},
		{"NOAUTH", Check{Type: "redis", Target: locked}, Critical, "NOAUTH Authentication required"},
		{"WRONGPASS", Check{Type: "redis", Target: locked, Password: "guess"}, Critical, "redis AUTH: WRONGPASS"},
		{"AUTH without password set", Check{Type: "redis", Target: open, Password: "x"}, Critical, "redis AUTH: ERR"},
		{"LOADING", Check{Type: "redis", Target: redisServer(t, "", "-LOADING Redis is loading the dataset in memory\r\n")}, Critical, "LOADING"},
		{"not redis", Check{Type: "redis", Target: redisServer(t, "", "HTTP/1.1 400 Bad Request\r\n")}, Critical, "unexpected reply"},
		{"endless line", Check{Type: "redis", Target: redisServer(t, "", strings.Repeat("+", 2*maxReply))}, Critical, "too long"},
		{"refused", Check{Type: "redis", Target: closedAddr(t)}, Critical, "refused"},
	})
}

func TestProbeMySQL(t *testing.T) {
	runProbes(t, []probeCase{
		{"MariaDB greeting", Check{Type: "mysql", Target: mysqlServer(t, mysqlGreeting(10, "5.5.5-10.11.6-MariaDB-0+deb12u1"))}, Passing, ""},
		{"MySQL greeting", Check{Type: "mysql", Target: mysqlServer(t, mysqlGreeting(10, "8.0.36"))}, Passing, ""},
		{"host blocked", Check{Type: "mysql", Target: mysqlServer(t, mysqlErr(1129, "",
			"Host '10.0.0.9' is blocked because of many connection errors; unblock with 'mariadb-admin flush-hosts'"))},
			Critical, "mysql error 1129: Host '10.0.0.9' is blocked"},
		{"too many connections", Check{Type: "mysql", Target: mysqlServer(t, mysqlErr(1040, "08004", "Too many connections"))},
			Critical, "mysql error 1040: Too many connections"},
		{"protocol 9", Check{Type: "mysql", Target: mysqlServer(t, mysqlGreeting(9, "3.22"))}, Critical, "protocol version 9"},
		{"truncated greeting", Check{Type: "mysql", Target: mysqlServer(t, mysqlPacket(0, []byte("\x0a8.0\x00")))}, Critical, "malformed"},
		{"wrong sequence", Check{Type: "mysql", Target: mysqlServer(t, mysqlPacket(1, mysqlGreeting(10, "8.0")[4:]))}, Critical, "not a greeting"},
		{"not mysql", Check{Type: "mysql", Target: mysqlServer(t, []byte("SSH-2.0-OpenSSH_9.2\r\n"))}, Critical, "not a greeting"},
		{"closed at once", Check{Type: "mysql", Target: tcpServer(t)}, Critical, "mysql handshake"},
		{"refused", Check{Type: "mysql", Target: closedAddr(t)}, Critical, "refused"},
	})
}

// TestProbeHangCut checks that a server that accepts and then says nothing
// is cut at the timeout by every probe that waits for an answer.
func TestProbeHangCut(t *testing.T) {
	addr := hangServer(t)
	const timeout = 150 * time.Millisecond
	for _, c := range []Check{
		{Type: "http", Target: "http://" + addr + "/"},
		{Type: "https", Target: "https://" + addr + "/"},
		{Type: "grpc", Target: addr},
		{Type: "redis", Target: addr},
		{Type: "mysql", Target: addr},
	} {
		t.Run(c.Type, func(t *testing.T) {
			t.Parallel()
			c.Timeout = timeout
			start := time.Now()
			st, err := Probe(context.Background(), c)
			elapsed := time.Since(start)
			if st != Critical || err == nil || !strings.Contains(err.Error(), "timed out after 150ms") {
				t.Errorf("Probe = %v, %v; want critical, timed out", st, err)
			}
			// The server never answers: without the cut the probe would
			// not return at all. The upper bound leaves room for a loaded
			// machine to run the probe late after its deadline.
			if elapsed < timeout || elapsed > timeout+2*time.Second {
				t.Errorf("Probe took %v, want about %v", elapsed, timeout)
			}
		})
	}
}

// TestProbeCancel checks that cancelling the context (Remove, Stop) ends a
// probe before its timeout.
func TestProbeCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	st, err := Probe(ctx, Check{Type: "redis", Target: hangServer(t), Timeout: 5 * time.Second})
	if st != Critical || err == nil {
		t.Errorf("Probe = %v, %v; want critical", st, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("cancelled probe took %v", d)
	}
}
