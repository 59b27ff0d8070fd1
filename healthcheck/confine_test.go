package healthcheck

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	grpchealth "google.golang.org/grpc/health"
)

// countingListener counts the connections it accepts.
type countingListener struct {
	net.Listener
	accepts atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepts.Add(1)
	}
	return c, err
}

// listenOn opens a counting listener on a loopback address of the test's
// choosing (127.0.0.0/8 is loopback on Linux), closed when the test ends.
func listenOn(t *testing.T, ip string) *countingListener {
	t.Helper()
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		t.Skipf("cannot listen on %s: %v", ip, err)
	}
	t.Cleanup(func() { l.Close() })
	return &countingListener{Listener: l}
}

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func probeOnce(c Check) (Status, error) {
	if c.Timeout == 0 {
		c.Timeout = time.Second
		c.Interval = 2 * time.Second
	}
	return Probe(context.Background(), c)
}

// TestConfineTCP checks that a confined probe connects only within its
// prefixes, and that the one refused opens no connection at all.
func TestConfineTCP(t *testing.T) {
	l := listenOn(t, "127.0.0.3")
	acceptClose(t, l)
	addr := l.Addr().String()
	for _, tc := range []struct {
		name    string
		confine []netip.Prefix
		want    Status
	}{
		{"free", nil, Passing},
		{"its address", prefixes("127.0.0.3/32"), Passing},
		{"within a prefix", prefixes("127.0.0.2/32", "127.0.0.0/24"), Passing},
		{"another address", prefixes("127.0.0.2/32"), Critical},
		{"IPv6 only", prefixes("::1/128"), Critical},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := l.accepts.Load()
			for _, typ := range []string{TypeTCP, TypeRedis, TypeMySQL} {
				st, err := probeOnce(Check{Type: typ, Target: addr, Confine: tc.confine})
				if tc.want == Passing {
					if typ == TypeTCP && st != Passing {
						t.Errorf("%s: %v (%v), want passing", typ, st, err)
					}
					continue
				}
				if st != Critical || !errors.Is(err, errConfined) || !strings.Contains(err.Error(), addr) {
					t.Errorf("%s: %v (%v), want critical naming %s as not an address this check may probe", typ, st, err, addr)
				}
			}
			if tc.want == Critical {
				time.Sleep(20 * time.Millisecond)
				if n := l.accepts.Load() - before; n != 0 {
					t.Errorf("%d connections reached the listener", n)
				}
			}
		})
	}
}

// TestConfineHTTPRedirect checks that an http probe confined to its
// instance does not follow a redirect elsewhere: the instance may send the
// prober anywhere, and expect would tell what the page there holds.
func TestConfineHTTPRedirect(t *testing.T) {
	secret := listenOn(t, "127.0.0.3")
	hits := atomic.Int64{}
	srvSecret := &httptest.Server{Listener: secret, Config: &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		w.Write([]byte("secret"))
	})}}
	srvSecret.Start()
	t.Cleanup(srvSecret.Close)

	inst := listenOn(t, "127.0.0.2")
	srvInst := &httptest.Server{Listener: inst, Config: &http.Server{Handler: http.RedirectHandler(srvSecret.URL+"/meta", http.StatusFound)}}
	srvInst.Start()
	t.Cleanup(srvInst.Close)

	c := Check{Type: TypeHTTP, Target: srvInst.URL + "/healthz", Expect: "secret"}
	if st, err := probeOnce(c); st != Passing || hits.Load() != 1 {
		t.Fatalf("free check: %v (%v) after %d hits, want passing through the redirect", st, err, hits.Load())
	}
	c.Confine = prefixes("127.0.0.2/32")
	st, err := probeOnce(c)
	if st != Critical || !errors.Is(err, errConfined) {
		t.Errorf("confined check: %v (%v), want critical, not an address this check may probe", st, err)
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the confined check reached the page it was redirected to (%d hits)", n-1)
	}
}

// TestConfineGRPC checks the same of gRPC, which dials on its own.
func TestConfineGRPC(t *testing.T) {
	addr := grpcServer(t, grpchealth.NewServer())
	c := Check{Type: TypeGRPC, Target: addr}
	if st, err := probeOnce(c); st != Passing {
		t.Fatalf("free check: %v (%v)", st, err)
	}
	c.Confine = prefixes("127.0.0.1/32")
	if st, err := probeOnce(c); st != Passing {
		t.Errorf("check confined to its address: %v (%v)", st, err)
	}
	c.Confine = prefixes("127.0.0.2/32")
	if st, err := probeOnce(c); st != Critical || !strings.Contains(err.Error(), errConfined.Error()) {
		t.Errorf("check confined elsewhere: %v (%v), want critical, not an address this check may probe", st, err)
	}
}
