package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/miekg/dns"
)

const (
	reloadWait  = 15 * time.Second // reload checks every 2s; the reload itself is quick
	httpTimeout = 5 * time.Second
)

// The Corefile before and after the reload: a new static service and a new
// TTL. "reload 2s 0s" checks every 2 seconds (the plugin's minimum) with no
// jitter (0s turns it off; any other jitter must be at least 1s).
const (
	reloadBefore = `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        ttl 5s
        service static1 {
            instance s1 10.0.4.1:80
        }
    }
    errors
    reload 2s 0s
}
`
	reloadAfter = `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        ttl 9s
        service static1 {
            instance s1 10.0.4.1:80
        }
        service static2 {
            instance s2 10.0.4.2:80
        }
    }
    errors
    reload 2s 0s
}
`
)

var httpClient = &http.Client{Timeout: httpTimeout}

// call makes one API request and returns the status and body. A transport
// error is returned as status 0 with the error as body.
func (s *server) call(method, path string, body any) (int, string) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err.Error()
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.apiURL+path, rd)
	if err != nil {
		return 0, err.Error()
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

type instanceBody struct {
	Address string   `json:"address"`
	Port    int      `json:"port"`
	Tags    []string `json:"tags,omitempty"`
	TTL     string   `json:"ttl,omitempty"`
}

// register registers an instance through the API; a lease long enough to
// outlast the test keeps it passing without heartbeats.
func (s *server) register(t *testing.T, service, id, addr string, port int) bool {
	t.Helper()
	path := fmt.Sprintf("/v1/services/%s/instances/%s", service, id)
	code, body := s.call(http.MethodPut, path, instanceBody{Address: addr, Port: port, Tags: []string{"blue"}, TTL: "120s"})
	if code != http.StatusOK {
		t.Errorf("PUT %s: %d %s, want 200", path, code, body)
		return false
	}
	return true
}

// addrsOf returns the sorted A records of name over UDP, the TTLs seen and
// the rcode.
func (s *server) addrsOf(t *testing.T, name string) (addrs []string, ttls []uint32, rcode int) {
	t.Helper()
	addrs, ttls, rcode, err := s.tryAddrsOf(name)
	if err != nil {
		t.Fatal(err)
	}
	return addrs, ttls, rcode
}

func (s *server) tryAddrsOf(name string) (addrs []string, ttls []uint32, rcode int, err error) {
	r, err := s.tryExchange(newQuery(name, dns.TypeA), "udp")
	if err != nil {
		return nil, nil, 0, err
	}
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			addrs = append(addrs, a.A.String())
			ttls = append(ttls, a.Hdr.Ttl)
		}
	}
	slices.Sort(ttls)
	return sorted(addrs), slices.Compact(ttls), r.Rcode, nil
}

// waitAddrs polls name until it answers want with TTL ttl (0: any), within
// bound. A query lost while the server swaps its configuration is logged
// and asked again.
func (s *server) waitAddrs(t *testing.T, name string, want []string, ttl uint32, bound time.Duration) bool {
	t.Helper()
	deadline := time.Now().Add(bound)
	for {
		got, ttls, rcode, err := s.tryAddrsOf(name)
		if err != nil {
			t.Logf("while waiting: %v", err)
		} else if slices.Equal(got, want) && (ttl == 0 || slices.Equal(ttls, []uint32{ttl})) {
			return true
		}
		if time.Now().After(deadline) {
			t.Errorf("A %s: %v TTL %v (%s) after %v, want %v TTL %d", name, got, ttls, rcodeName(rcode), bound, want, ttl)
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestReloadKeepsRegistry registers an instance through the API, rewrites
// the Corefile, waits for the reload plugin to apply it, and checks that
// the registered instance is still served and the API still takes writes.
// The reload part runs even when the API refuses the registration, so that
// a broken reload shows on its own.
func TestReloadKeepsRegistry(t *testing.T) {
	t.Parallel()
	s := startServer(t, reloadBefore)
	t.Cleanup(httpClient.CloseIdleConnections)

	registered := s.register(t, "dyn", "d1", "10.0.5.1", 8080)
	if registered {
		s.waitAddrs(t, "dyn.svc.internal.", []string{"10.0.5.1"}, 5, 2*time.Second)
	}
	if got, ttls, _ := s.addrsOf(t, "static1.svc.internal."); !slices.Equal(got, []string{"10.0.4.1"}) || !slices.Equal(ttls, []uint32{5}) {
		t.Fatalf("before the reload: A static1 = %v TTL %v, want [10.0.4.1] TTL [5]", got, ttls)
	}

	// The new plugin loads static2 into the shared registry before its
	// servers take over from the old ones, which may answer it for a moment
	// with the old TTL: the new TTL tells that the new configuration serves.
	s.writeCorefile(reloadAfter)
	start := time.Now()
	if !s.waitAddrs(t, "static2.svc.internal.", []string{"10.0.4.2"}, 9, reloadWait) {
		t.FailNow()
	}
	t.Logf("reload applied after %v", time.Since(start).Round(time.Millisecond))

	if got, ttls, _ := s.addrsOf(t, "static1.svc.internal."); !slices.Equal(got, []string{"10.0.4.1"}) || !slices.Equal(ttls, []uint32{9}) {
		t.Errorf("after the reload: A static1 = %v TTL %v, want [10.0.4.1] TTL [9]", got, ttls)
	}
	if !registered {
		t.Fatal("the API did not take the registration, so the registry's survival cannot be checked")
	}
	got, ttls, rcode := s.addrsOf(t, "dyn.svc.internal.")
	if !slices.Equal(got, []string{"10.0.5.1"}) || !slices.Equal(ttls, []uint32{9}) {
		t.Errorf("after the reload: A dyn = %v TTL %v rcode %s, want [10.0.5.1] TTL [9]: the registry lost the instance",
			got, ttls, rcodeName(rcode))
	}
	r := s.exchange(t, newQuery("_dyn._blue.svc.internal.", dns.TypeSRV), "tcp")
	if len(r.Answer) != 1 || len(r.Extra) != 1 {
		t.Errorf("after the reload: SRV _dyn._blue = %v / %v, want one SRV with glue", r.Answer, r.Extra)
	}

	// The API listener came back with the new instance of the plugin.
	path := "/v1/services/dyn/instances/d1/heartbeat"
	if code, body := s.call(http.MethodPut, path, nil); code != http.StatusOK {
		t.Errorf("after the reload: PUT %s: %d %s, want 200", path, code, body)
	}
	if s.register(t, "dyn", "d2", "10.0.5.2", 8080) {
		s.waitAddrs(t, "dyn.svc.internal.", []string{"10.0.5.1", "10.0.5.2"}, 9, 2*time.Second)
	}
	if code, body := s.call(http.MethodGet, "/v1/services/dyn", nil); code != http.StatusOK {
		t.Errorf("after the reload: GET /v1/services/dyn: %d %s, want 200", code, body)
	}
	path = "/v1/services/dyn/instances/d2"
	// The design leaves the success status of DELETE open: any 2xx.
	if code, body := s.call(http.MethodDelete, path, nil); code/100 != 2 {
		t.Errorf("after the reload: DELETE %s: %d %s, want 2xx", path, code, body)
	} else {
		s.waitAddrs(t, "dyn.svc.internal.", []string{"10.0.5.1"}, 9, 2*time.Second)
	}
}
