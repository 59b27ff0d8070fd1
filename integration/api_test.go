package integration

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
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

// apiCorefile serves the zone with the registration API and nothing
// declared. Its TTLs are those of staticCorefile, so that the answer
// helpers of dns_test.go (a, srv, checkReply) apply to its answers.
var apiCorefile = apiCorefileWith("")

// apiCorefileWith is apiCorefile with more lines in the signpost block.
func apiCorefileWith(extra string) string {
	return fmt.Sprintf(`svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        ttl %ds
        negative-ttl %ds
%s    }
    errors
}
`, staticTTL, staticNeg, extra)
}

// apiReadyTimeout bounds the wait for the API listener after the server
// answers DNS.
const apiReadyTimeout = 5 * time.Second

// apiConn is one way of calling a server's API: a base URL, an HTTP client
// and the token to send, if any.
type apiConn struct {
	base  string
	hc    *http.Client
	token string
}

func (s *server) api() apiConn { return apiConn{base: s.apiURL, hc: httpClient} }

func (c apiConn) withToken(tok string) apiConn { c.token = tok; return c }

// reply is an API answer.
type reply struct {
	code   int
	body   string
	header http.Header
}

// index returns the X-Signpost-Index of the answer, or -1 without one.
func (r reply) index() int64 {
	n, err := strconv.ParseInt(r.header.Get("X-Signpost-Index"), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// errorText returns the "error" of a JSON error body, or "" when the body
// is not one.
func (r reply) errorText() string {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal([]byte(r.body), &e) != nil {
		return ""
	}
	return e.Error
}

func (r reply) String() string { return fmt.Sprintf("%d %s", r.code, strings.TrimSpace(r.body)) }

// try makes one request with body sent as is (none when empty).
func (c apiConn) try(method, path, body string) (reply, error) {
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		return reply{}, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return reply{}, fmt.Errorf("%s %s: reading the answer: %w", method, path, err)
	}
	return reply{code: resp.StatusCode, body: string(b), header: resp.Header}, nil
}

// do is try failing the test on a transport error.
func (c apiConn) do(t testing.TB, method, path, body string) reply {
	t.Helper()
	r, err := c.try(method, path, body)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// expect makes a request and checks its status.
func (c apiConn) expect(t testing.TB, want int, method, path, body string) reply {
	t.Helper()
	r := c.do(t, method, path, body)
	if r.code != want {
		t.Errorf("%s %s: %v, want %d", method, path, r, want)
	}
	return r
}

// waitReady polls the API's liveness endpoint: the DNS listener may come up
// a moment before the API's.
func (c apiConn) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(apiReadyTimeout)
	for {
		r, err := c.try(http.MethodGet, "/v1/health", "")
		if err == nil && r.code == http.StatusOK {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("API at %s not ready within %v: %v %v", c.base, apiReadyTimeout, r, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func instPath(service, id string) string {
	return "/v1/services/" + service + "/instances/" + id
}

func regBody(addr string, port int, extra string) string {
	return fmt.Sprintf(`{"address": %q, "port": %d%s}`, addr, port, extra)
}

// apiInstance is an instance as the API shows it.
type apiInstance struct {
	ID      string   `json:"id"`
	Address string   `json:"address"`
	Port    int      `json:"port"`
	Tags    []string `json:"tags"`
	Weight  int      `json:"weight"`
	Health  string   `json:"health"`
	TTL     string   `json:"ttl"`
}

type apiService struct {
	Service   string        `json:"service"`
	Passing   int           `json:"passing"`
	Critical  int           `json:"critical"`
	Instances []apiInstance `json:"instances"`
}

// service reads a service through the API; ok is false when it is unknown.
func (c apiConn) service(t testing.TB, name string) (svc apiService, r reply, ok bool) {
	t.Helper()
	r = c.do(t, http.MethodGet, "/v1/services/"+name, "")
	switch r.code {
	case http.StatusNotFound:
		return svc, r, false
	case http.StatusOK:
	default:
		t.Fatalf("GET /v1/services/%s: %v", name, r)
	}
	if err := json.Unmarshal([]byte(r.body), &svc); err != nil {
		t.Fatalf("GET /v1/services/%s: %v in %s", name, err, r.body)
	}
	return svc, r, true
}

// registryIndex is the change index of the whole registry.
func (c apiConn) registryIndex(t testing.TB) int64 {
	t.Helper()
	r := c.expect(t, http.StatusOK, http.MethodGet, "/v1/services", "")
	if r.index() < 0 {
		t.Fatalf("GET /v1/services: no X-Signpost-Index header in %v", r.header)
	}
	return r.index()
}

// svcName is the service name in the zone.
func svcName(service string) string { return service + "." + zone }

func addrLabel(addr string) string {
	return strings.ReplaceAll(strings.ReplaceAll(addr, ".", "-"), ":", "-") + ".addr." + zone
}

// srvRdata is the SRV data of an instance with weight 1 at addr:port.
func srvRdata(addr string, port int) string {
	return fmt.Sprintf("0 1 %d %s", port, addrLabel(addr))
}

// checkServed checks, with one query of each kind and no retry, that
// service answers exactly the given instances (addr:port, weight 1): A,
// SRV with glue in both forms.
func (s *server) checkServed(t *testing.T, service string, instances ...string) {
	t.Helper()
	name, rfc := svcName(service), "_"+service+"._tcp."+zone
	var as, srvs, rfcSRVs, glue []string
	for _, hp := range instances {
		host, port, err := net.SplitHostPort(hp)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := strconv.Atoi(port)
		as = append(as, a(name, host))
		srvs = append(srvs, srv(name, srvRdata(host, p)))
		rfcSRVs = append(rfcSRVs, srv(rfc, srvRdata(host, p)))
		glue = append(glue, a(addrLabel(host), host))
	}
	for _, c := range []dnsCase{
		{name: name, qtype: dns.TypeA, answer: as},
		{name: name, qtype: dns.TypeSRV, answer: srvs, extra: glue},
		{name: rfc, qtype: dns.TypeSRV, answer: rfcSRVs, extra: glue},
	} {
		checkReply(t, "miekg udp", s.exchange(t, newQuery(c.name, c.qtype), "udp"), c)
	}
}

// checkGone checks, with one query and no retry, that name answers A with
// rcode, an empty answer and the SOA: NXDOMAIN once a service has no
// instance left, NODATA (NOERROR) while it has only unhealthy ones.
func (s *server) checkGone(t *testing.T, name string, rcode int) {
	t.Helper()
	for _, qt := range []uint16{dns.TypeA, dns.TypeSRV} {
		checkReply(t, "miekg udp", s.exchange(t, newQuery(name, qt), "udp"), dnsCase{name: name, qtype: qt, rcode: rcode, soa: true})
	}
}

// waitGone polls name until A answers rcode with no record, within bound,
// and returns how long that took.
func (s *server) waitGone(t *testing.T, name string, rcode int, bound time.Duration) (time.Duration, bool) {
	t.Helper()
	start := time.Now()
	for {
		r, err := s.tryExchange(newQuery(name, dns.TypeA), "udp")
		if err == nil && r.Rcode == rcode && len(r.Answer) == 0 {
			return time.Since(start), true
		}
		if time.Since(start) > bound {
			if err != nil {
				t.Errorf("A %s: %v after %v, want %s and no record", name, err, bound, rcodeName(rcode))
			} else {
				t.Errorf("A %s: %s %q after %v, want %s and no record", name, rcodeName(r.Rcode), rrStrings(r.Answer), bound, rcodeName(rcode))
			}
			return time.Since(start), false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestAPIRegisterThenDNS registers and deregisters with plain net/http and
// with curl, and checks each change in DNS with one query made right after
// the API answered: a registration is served as soon as its PUT returns.
func TestAPIRegisterThenDNS(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	c := s.api()
	c.waitReady(t)

	t.Run("net/http", func(t *testing.T) {
		r := c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "web-1"), regBody("10.0.0.5", 8080, `, "tags": ["v2"], "ttl": "30s"`))
		s.checkServed(t, "web", "10.0.0.5:8080")
		var in apiInstance
		if err := json.Unmarshal([]byte(r.body), &in); err != nil {
			t.Fatalf("PUT answer %s: %v", r.body, err)
		}
		if want := (apiInstance{ID: "web-1", Address: "10.0.0.5", Port: 8080, Tags: []string{"v2"}, Weight: 1, Health: "passing", TTL: "30s"}); !equalInstance(in, want) {
			t.Errorf("PUT answer %+v, want %+v", in, want)
		}
		checkReply(t, "miekg udp", s.exchange(t, newQuery("v2.web."+zone, dns.TypeA), "udp"),
			dnsCase{name: "v2.web." + zone, qtype: dns.TypeA, answer: []string{a("v2.web."+zone, "10.0.0.5")}})

		c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "web-2"), regBody("10.0.0.6", 8081, ""))
		s.checkServed(t, "web", "10.0.0.5:8080", "10.0.0.6:8081")

		if r := c.do(t, http.MethodDelete, instPath("web", "web-1"), ""); r.code/100 != 2 {
			t.Fatalf("DELETE web-1: %v, want 2xx", r)
		}
		s.checkServed(t, "web", "10.0.0.6:8081")
		checkReply(t, "miekg udp", s.exchange(t, newQuery(addrLabel("10.0.0.5"), dns.TypeA), "udp"),
			dnsCase{name: addrLabel("10.0.0.5"), qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true})
		checkReply(t, "miekg udp", s.exchange(t, newQuery("v2.web."+zone, dns.TypeA), "udp"),
			dnsCase{name: "v2.web." + zone, qtype: dns.TypeA, rcode: dns.RcodeNameError, soa: true})

		if r := c.do(t, http.MethodDelete, instPath("web", "web-2"), ""); r.code/100 != 2 {
			t.Fatalf("DELETE web-2: %v, want 2xx", r)
		}
		s.checkGone(t, svcName("web"), dns.RcodeNameError)
		c.expect(t, http.StatusNotFound, http.MethodDelete, instPath("web", "web-2"), "")
		c.expect(t, http.StatusNotFound, http.MethodPut, instPath("web", "web-2")+"/heartbeat", "")
	})

	// Register, query, deregister, query, many times over: a race between
	// the API's answer and the snapshot the DNS handler reads would show
	// as a miss here sooner or later.
	t.Run("repeated", func(t *testing.T) {
		for i := range 25 {
			addr := fmt.Sprintf("10.0.7.%d", i+1)
			c.expect(t, http.StatusOK, http.MethodPut, instPath("loop", "l1"), regBody(addr, 80, `, "ttl": "30s"`))
			if got, _, rcode := s.addrsOf(t, svcName("loop")); !slices.Equal(got, []string{addr}) {
				t.Fatalf("round %d: A loop right after the PUT: %v (%s), want [%s]", i, got, rcodeName(rcode), addr)
			}
			if r := c.do(t, http.MethodDelete, instPath("loop", "l1"), ""); r.code/100 != 2 {
				t.Fatalf("round %d: DELETE: %v, want 2xx", i, r)
			}
			if got, _, rcode := s.addrsOf(t, svcName("loop")); len(got) != 0 || rcode != dns.RcodeNameError {
				t.Fatalf("round %d: A loop right after the DELETE: %v (%s), want NXDOMAIN", i, got, rcodeName(rcode))
			}
		}
	})

	t.Run("curl", func(t *testing.T) {
		curl := requireTool(t, "curl", "curl")
		run := func(args ...string) (code int, body string) {
			t.Helper()
			ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
			defer cancel()
			all := append([]string{"-sS", "--noproxy", "*", "--max-time", "5", "-w", "\n%{http_code}"}, args...)
			out, err := exec.CommandContext(ctx, curl, all...).Output()
			if err != nil {
				t.Fatalf("curl %s: %v\n%s", strings.Join(all, " "), err, out)
			}
			// -w puts the status on a line of its own after the body.
			body, status := "", string(out)
			if i := strings.LastIndexByte(status, '\n'); i >= 0 {
				body, status = status[:i], status[i+1:]
			}
			code, err = strconv.Atoi(strings.TrimSpace(status))
			if err != nil {
				t.Fatalf("curl %s: no status in %q", strings.Join(all, " "), out)
			}
			return code, body
		}
		// As the README shows it: curl's -d sends the body form-encoded,
		// and the API takes it anyway.
		url := c.base + instPath("shop", "shop-1")
		if code, body := run("-X", "PUT", url, "-d", `{"address": "10.0.3.1", "port": 9000, "tags": ["v2"], "ttl": "15s"}`); code != http.StatusOK {
			t.Fatalf("curl PUT: %d %s, want 200", code, body)
		}
		s.checkServed(t, "shop", "10.0.3.1:9000")
		if code, body := run("-X", "PUT", url+"/heartbeat"); code != http.StatusOK {
			t.Errorf("curl PUT heartbeat: %d %s, want 200", code, body)
		}
		if code, body := run(c.base + "/v1/services/shop"); code != http.StatusOK || !strings.Contains(body, `"10.0.3.1"`) {
			t.Errorf("curl GET: %d %s, want 200 with the instance", code, body)
		}
		if code, body := run("-X", "DELETE", url); code/100 != 2 {
			t.Fatalf("curl DELETE: %d %s, want 2xx", code, body)
		}
		s.checkGone(t, svcName("shop"), dns.RcodeNameError)
	})
}

func equalInstance(x, y apiInstance) bool {
	return x.ID == y.ID && x.Address == y.Address && x.Port == y.Port && slices.Equal(x.Tags, y.Tags) &&
		x.Weight == y.Weight && x.Health == y.Health && x.TTL == y.TTL
}

// TestAPIToken checks that with a token every write needs it and reads do
// not, through the API and through signpostctl (flag and environment).
func TestAPIToken(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefileWith("        token s3cret\n"))
	open := s.api()
	open.waitReady(t)
	right, wrong := open.withToken("s3cret"), open.withToken("s3cre")
	body := regBody("10.0.0.11", 80, `, "ttl": "30s"`)

	for _, c := range []apiConn{open, wrong} {
		what := "no token"
		if c.token != "" {
			what = "wrong token"
		}
		r := c.expect(t, http.StatusUnauthorized, http.MethodPut, instPath("web", "t1"), body)
		if !strings.Contains(r.errorText(), "token") {
			t.Errorf("%s: PUT: error %q, want one about the token", what, r.body)
		}
		if r := c.do(t, http.MethodPut, instPath("web", "t1"), "{"); r.code != http.StatusUnauthorized {
			t.Errorf("%s: PUT with a bad body: %v, want 401 before the body is looked at", what, r)
		}
		s.checkGone(t, svcName("web"), dns.RcodeNameError)
	}
	r := open.do(t, http.MethodGet, "/v1/services", "")
	idx := r.index()
	right.expect(t, http.StatusOK, http.MethodPut, instPath("web", "t1"), body)
	s.checkServed(t, "web", "10.0.0.11:80")
	for _, c := range []apiConn{open, wrong} {
		c.expect(t, http.StatusUnauthorized, http.MethodPut, instPath("web", "t1")+"/heartbeat", "")
		c.expect(t, http.StatusUnauthorized, http.MethodDelete, instPath("web", "t1"), "")
	}
	s.checkServed(t, "web", "10.0.0.11:80")
	right.expect(t, http.StatusOK, http.MethodPut, instPath("web", "t1")+"/heartbeat", "")

	// Reads are open without token-read.
	if r := open.expect(t, http.StatusOK, http.MethodGet, "/v1/services", ""); r.index() <= idx {
		t.Errorf("GET /v1/services: index %d, want above %d after a registration", r.index(), idx)
	}
	open.expect(t, http.StatusOK, http.MethodGet, "/v1/services/web", "")
	wrong.expect(t, http.StatusOK, http.MethodGet, "/v1/services/web", "")

	// signpostctl: --token, SIGNPOST_TOKEN, neither.
	srvFlag := "--server=" + s.apiURL
	ctlOK(t, ctlEnv(), "register", "web", "ctl-1", "10.0.0.21:80", srvFlag, "--token", "s3cret")
	ctlOK(t, ctlEnv("SIGNPOST_TOKEN=s3cret", "SIGNPOST_SERVER="+s.apiURL), "register", "web", "ctl-2", "10.0.0.22:80")
	ctlFails(t, ctlEnv(), 1, "401", "register", "web", "ctl-3", "10.0.0.23:80", srvFlag)
	ctlFails(t, ctlEnv("SIGNPOST_TOKEN=nope"), 1, "401", "register", "web", "ctl-3", "10.0.0.23:80", srvFlag)
	ctlFails(t, ctlEnv(), 1, "401", "deregister", "web", "ctl-1", srvFlag)
	if out := ctlOK(t, ctlEnv(), "ls", srvFlag); !strings.Contains(out, "web") {
		t.Errorf("signpostctl ls without a token: %q, want the web service (reads are open)", out)
	}
	s.checkServed(t, "web", "10.0.0.11:80", "10.0.0.21:80", "10.0.0.22:80")

	// The sidecar refuses to go on without the token: retrying cannot fix
	// a 401. With it from the environment it registers.
	sideArgs := []string{"sidecar", srvFlag, "--service", "side", "--id", "s1", "--address", "10.0.0.31", "--port", "80", "--ttl", "3s"}
	if _, errOut, code := runCtl(t, ctlEnv(), sideArgs...); code != 1 || !strings.HasPrefix(lastLine(errOut), "signpostctl: sidecar: ") || !strings.Contains(lastLine(errOut), "401") {
		t.Errorf("sidecar without the token: exit %d, stderr %q, want exit 1 and a last line \"signpostctl: sidecar: ...401...\"", code, errOut)
	}
	s.checkGone(t, svcName("side"), dns.RcodeNameError)
	p := startCtl(t, ctlEnv("SIGNPOST_TOKEN=s3cret"), sideArgs...)
	if s.waitAddrs(t, svcName("side"), []string{"10.0.0.31"}, 0, sidecarUp) {
		p.stopAndCheck(t)
		s.checkGone(t, svcName("side"), dns.RcodeNameError)
	}
}

// TestAPITokenRead checks token-read on: reads need the token too.
func TestAPITokenRead(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefileWith("        token s3cret\n        token-read on\n"))
	open := s.api()
	open.waitReady(t)
	right, wrong := open.withToken("s3cret"), open.withToken("S3CRET")
	right.expect(t, http.StatusOK, http.MethodPut, instPath("web", "r1"), regBody("10.0.0.12", 80, ""))
	for _, path := range []string{"/v1/services", "/v1/services/web", "/v1/services/web?index=1&wait=1s"} {
		open.expect(t, http.StatusUnauthorized, http.MethodGet, path, "")
		wrong.expect(t, http.StatusUnauthorized, http.MethodGet, path, "")
		if r := right.expect(t, http.StatusOK, http.MethodGet, path, ""); !strings.Contains(r.body, `"web"`) {
			t.Errorf("GET %s with the token: %s, want the web service", path, r.body)
		}
	}
	srvFlag := "--server=" + s.apiURL
	ctlFails(t, ctlEnv(), 1, "401", "ls", srvFlag)
	ctlFails(t, ctlEnv(), 1, "401", "show", "web", srvFlag)
	if out := ctlOK(t, ctlEnv("SIGNPOST_TOKEN=s3cret"), "show", "web", srvFlag); !strings.Contains(out, "10.0.0.12") {
		t.Errorf("signpostctl show with the token: %q, want the instance", out)
	}
	// DNS is not behind the token.
	s.checkServed(t, "web", "10.0.0.12:80")
}

// TestAPITokenFile takes the token from a file written by the test, with
// the white space around it that an editor leaves.
func TestAPITokenFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte("  f1le-t0ken\n\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, apiCorefileWith("        token-file "+file+"\n"))
	open := s.api()
	open.waitReady(t)
	body := regBody("10.0.0.13", 80, "")
	open.expect(t, http.StatusUnauthorized, http.MethodPut, instPath("web", "f1"), body)
	open.withToken("s3cret").expect(t, http.StatusUnauthorized, http.MethodPut, instPath("web", "f1"), body)
	s.checkGone(t, svcName("web"), dns.RcodeNameError)
	open.withToken("f1le-t0ken").expect(t, http.StatusOK, http.MethodPut, instPath("web", "f1"), body)
	s.checkServed(t, "web", "10.0.0.13:80")
	ctlOK(t, ctlEnv("SIGNPOST_TOKEN=f1le-t0ken"), "register", "web", "f2", "10.0.0.14:80", "--server", s.apiURL)
	ctlFails(t, ctlEnv(), 1, "401", "deregister", "web", "f2", "--server", s.apiURL)
	s.checkServed(t, "web", "10.0.0.13:80", "10.0.0.14:80")
}

// selfSigned writes a self-signed ECDSA certificate for 127.0.0.1 and its
// key to dir, and returns their paths and a pool trusting the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "signpost integration test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestAPITLS serves the API over HTTPS with a certificate made by the test:
// a client trusting it registers, DNS answers; one that does not trust it,
// or speaks plain HTTP, gets nowhere.
func TestAPITLS(t *testing.T) {
	t.Parallel()
	certFile, keyFile, pool := selfSigned(t, t.TempDir())
	s := startServer(t, apiCorefileWith(fmt.Sprintf("        tls %s %s\n", certFile, keyFile)))
	base := "https://" + strings.TrimPrefix(s.apiURL, "http://")
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	c := apiConn{base: base, hc: &http.Client{Timeout: httpTimeout, Transport: tr}}
	c.waitReady(t)

	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "tls-1"), regBody("10.0.0.41", 8443, `, "ttl": "30s"`))
	s.checkServed(t, "web", "10.0.0.41:8443")
	if r := c.do(t, http.MethodGet, "/v1/services/web", ""); r.code != http.StatusOK || r.index() < 1 {
		t.Errorf("GET over https: %v index %d, want 200 with an index", r, r.index())
	}

	// Without the CA the handshake fails.
	untrusting := apiConn{base: base, hc: &http.Client{Timeout: httpTimeout}}
	_, err := untrusting.try(http.MethodPut, instPath("web", "tls-2"), regBody("10.0.0.42", 8443, ""))
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Errorf("PUT without trusting the certificate: err %v, want x509.UnknownAuthorityError", err)
	}
	// Plain HTTP to the TLS port is refused.
	if r, err := s.api().try(http.MethodPut, instPath("web", "tls-2"), regBody("10.0.0.42", 8443, "")); err == nil && r.code == http.StatusOK {
		t.Errorf("plain http PUT to the https API: %v, want refused", r)
	}
	s.checkServed(t, "web", "10.0.0.41:8443")

	// signpostctl with --ca-file, the server given as https URL and as a
	// bare address (https being implied by the CA).
	ctlOK(t, ctlEnv(), "register", "web", "tls-3", "10.0.0.43:8443", "--server", base, "--ca-file", certFile)
	ctlOK(t, ctlEnv(), "register", "web", "tls-5", "10.0.0.45:8443", "--server", strings.TrimPrefix(base, "https://"), "--ca-file", certFile)
	ctlFails(t, ctlEnv(), 1, "certificate", "register", "web", "tls-4", "10.0.0.44:8443", "--server", base, "--timeout", "2s")
	s.checkServed(t, "web", "10.0.0.41:8443", "10.0.0.43:8443", "10.0.0.45:8443")
}

// TestAPIBlockingQuery checks that a blocking query answers as soon as the
// service changes, with a higher index, and after its wait with the same
// index when nothing changed; and that signpostctl watch prints a change.
func TestAPIBlockingQuery(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	const wait = 5 * time.Second
	c := s.api()
	c.hc = &http.Client{Timeout: wait + httpTimeout} // room for the wait
	c.waitReady(t)

	// A change made by another goroutine ends the wait at once.
	n := c.registryIndex(t)
	const delay = 300 * time.Millisecond
	putDone := make(chan reply, 1)
	start := time.Now()
	go func() {
		time.Sleep(delay)
		r, err := c.try(http.MethodPut, instPath("web", "b1"), regBody("10.0.0.51", 80, ""))
		if err != nil {
			r = reply{body: err.Error()}
		}
		putDone <- r
	}()
	r := c.expect(t, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/services/web?index=%d&wait=%s", n, wait), "")
	took := time.Since(start)
	if pr := <-putDone; pr.code != http.StatusOK {
		t.Fatalf("PUT b1 from the other goroutine: %v", pr)
	}
	t.Logf("blocking query answered after %v (registration sent after %v)", took.Round(time.Millisecond), delay)
	if took < delay || took > delay+2*time.Second {
		t.Errorf("blocking query took %v, want between %v (the change) and %v", took, delay, delay+2*time.Second)
	}
	if r.index() <= n {
		t.Errorf("blocking query: index %d, want above %d", r.index(), n)
	}
	if !strings.Contains(r.body, `"b1"`) {
		t.Errorf("blocking query: %s, want the new instance b1", r.body)
	}
	s.checkServed(t, "web", "10.0.0.51:80")

	// An index already passed answers at once.
	start = time.Now()
	if r := c.expect(t, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/services/web?index=%d&wait=%s", n, wait), ""); time.Since(start) > time.Second {
		t.Errorf("blocking query for an index already passed took %v (%v), want at once", time.Since(start), r)
	}

	// signpostctl watch prints the current state, then the change.
	p := startCtl(t, ctlEnv(), "watch", "web", "--server", s.apiURL)
	if p.waitOutput(t, "b1", 5*time.Second) {
		c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "b2"), regBody("10.0.0.52", 81, ""))
		p.waitOutput(t, "b2", 5*time.Second)
	}
	p.stopAndCheck(t)

	// No change: the query runs its wait out and answers the same index.
	n = c.registryIndex(t)
	start = time.Now()
	r = c.expect(t, http.StatusOK, http.MethodGet, fmt.Sprintf("/v1/services/web?index=%d&wait=%s", n, wait), "")
	took = time.Since(start)
	t.Logf("blocking query without change answered after %v", took.Round(time.Millisecond))
	if took < wait || took > wait+2*time.Second {
		t.Errorf("blocking query without change took %v, want between %v and %v", took, wait, wait+2*time.Second)
	}
	if r.index() != n {
		t.Errorf("blocking query without change: index %d, want %d", r.index(), n)
	}
}

// TestAPIBadInputs sends bad registrations through the real server: each
// gets 400 (413 for an oversized body) naming the field, and none changes
// the registry or DNS, not even an instance it would replace.
func TestAPIBadInputs(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	c := s.api()
	c.waitReady(t)
	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "ok-1"), regBody("10.0.0.1", 80, `, "ttl": "30s"`))
	before := c.registryIndex(t)
	ok1 := instPath("web", "ok-1")
	big := regBody("10.0.0.2", 80, `, "meta": {"pad": "`+strings.Repeat("x", 70<<10)+`"}`)
	cases := []struct {
		name, method, path, body string
		code                     int
		field                    string // the error starts with it
	}{
		{"unknown field", "PUT", ok1, regBody("10.0.0.2", 80, `, "colour": "red"`), 400, "colour"},
		{"misspelt field", "PUT", ok1, `{"adress": "10.0.0.2", "port": 80}`, 400, "adress"},
		{"underscore in service", "PUT", instPath("bad_name", "x1"), regBody("10.0.0.2", 80, ""), 400, "service"},
		{"upper case service", "PUT", instPath("Web", "x1"), regBody("10.0.0.2", 80, ""), 400, "service"},
		{"service too long", "PUT", instPath(strings.Repeat("a", 64), "x1"), regBody("10.0.0.2", 80, ""), 400, "service"},
		{"service addr reserved", "PUT", instPath("addr", "x1"), regBody("10.0.0.2", 80, ""), 400, "service"},
		{"bad id", "PUT", instPath("web", "-x1"), regBody("10.0.0.2", 80, ""), 400, "id"},
		{"host name address", "PUT", ok1, regBody("db.example.com", 80, ""), 400, "address"},
		{"address with port", "PUT", ok1, regBody("10.0.0.2:80", 80, ""), 400, "address"},
		{"no address", "PUT", ok1, `{"port": 80}`, 400, "address"},
		{"address a number", "PUT", ok1, `{"address": 10, "port": 80}`, 400, "address"},
		{"port 0", "PUT", ok1, regBody("10.0.0.2", 0, ""), 400, "port"},
		{"port 70000", "PUT", ok1, regBody("10.0.0.2", 70000, ""), 400, "port"},
		{"port -1", "PUT", ok1, regBody("10.0.0.2", -1, ""), 400, "port"},
		{"port a string", "PUT", ok1, `{"address": "10.0.0.2", "port": "80"}`, 400, "port"},
		{"no port", "PUT", ok1, `{"address": "10.0.0.2"}`, 400, "port"},
		{"negative ttl", "PUT", ok1, regBody("10.0.0.2", 80, `, "ttl": "-5s"`), 400, "ttl"},
		{"ttl not a duration", "PUT", ok1, regBody("10.0.0.2", 80, `, "ttl": "soon"`), 400, "ttl"},
		{"ttl absurd", "PUT", ok1, regBody("10.0.0.2", 80, `, "ttl": "10000h"`), 400, "ttl"},
		{"ttl too short", "PUT", ok1, regBody("10.0.0.2", 80, `, "ttl": "10ms"`), 400, "ttl"},
		{"weight 70000", "PUT", ok1, regBody("10.0.0.2", 80, `, "weight": 70000`), 400, "weight"},
		{"not JSON", "PUT", ok1, `address=10.0.0.2`, 400, "body"},
		{"empty body", "PUT", ok1, "", 400, "body"},
		{"trailing data", "PUT", ok1, regBody("10.0.0.2", 80, "") + `{}`, 400, "body"},
		{"body over 64 KiB", "PUT", ok1, big, 413, "body"},
		{"heartbeat bad id", "PUT", instPath("web", "x_1") + "/heartbeat", "", 400, "id"},
		{"delete bad service", "DELETE", instPath("we.b", "x1"), "", 400, "service"},
		{"bad index", "GET", "/v1/services/web?index=abc", "", 400, "index"},
		{"bad wait", "GET", "/v1/services/web?index=1&wait=forever", "", 400, "wait"},
	}
	for _, tc := range cases {
		r := c.do(t, tc.method, tc.path, tc.body)
		msg := r.errorText()
		if r.code != tc.code || !strings.HasPrefix(msg, tc.field+":") {
			t.Errorf("%s: %s %.80s: %.300v, want %d with an error starting %q", tc.name, tc.method, tc.path, r, tc.code, tc.field+":")
		}
		if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("%s: Content-Type %q, want application/json", tc.name, ct)
		}
	}
	if after := c.registryIndex(t); after != before {
		t.Errorf("registry index went from %d to %d: a bad request changed it", before, after)
	}
	svc, _, _ := c.service(t, "web")
	if len(svc.Instances) != 1 || svc.Instances[0].Address != "10.0.0.1" || svc.Instances[0].Port != 80 {
		t.Errorf("web after the bad requests: %+v, want ok-1 at 10.0.0.1:80 alone", svc.Instances)
	}
	s.checkServed(t, "web", "10.0.0.1:80")
	s.checkGone(t, svcName("bad-name"), dns.RcodeNameError)
	// The server still takes good requests on the same connections.
	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "ok-2"), regBody("10.0.0.3", 80, ""))
	s.checkServed(t, "web", "10.0.0.1:80", "10.0.0.3:80")
}

// TestAPIConcurrentClients has many clients register, heartbeat and
// re-register instances at once through the real server while DNS is
// queried, then checks that every instance is there in its last form.
func TestAPIConcurrentClients(t *testing.T) {
	t.Parallel()
	s := startServer(t, apiCorefile)
	const clients, perClient, heartbeats = 20, 10, 2
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	t.Cleanup(tr.CloseIdleConnections)
	c := apiConn{base: s.apiURL, hc: &http.Client{Timeout: httpTimeout, Transport: tr}}
	c.waitReady(t)

	addr := func(g, i int) string { return fmt.Sprintf("10.1.%d.%d", g, i+1) }
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		errs   []string
		stop   atomic.Bool
		served atomic.Int64
	)
	fail := func(format string, args ...any) {
		mu.Lock()
		defer mu.Unlock()
		if len(errs) < 20 {
			errs = append(errs, fmt.Sprintf(format, args...))
		}
	}
	call := func(method, path, body string) {
		r, err := c.try(method, path, body)
		if err != nil {
			fail("%v", err)
		} else if r.code != http.StatusOK {
			fail("%s %s: %v", method, path, r)
		}
	}
	for g := range clients {
		wg.Go(func() {
			for i := range perClient {
				call(http.MethodPut, instPath("load", fmt.Sprintf("c%d-i%d", g, i)), regBody(addr(g, i), 1000+i, `, "ttl": "20s"`))
			}
			for range heartbeats {
				for i := range perClient {
					call(http.MethodPut, instPath("load", fmt.Sprintf("c%d-i%d", g, i))+"/heartbeat", "")
				}
			}
			// Replace each instance: its last form must win.
			for i := range perClient {
				call(http.MethodPut, instPath("load", fmt.Sprintf("c%d-i%d", g, i)), regBody(addr(g, i), 2000+i, `, "tags": ["final"], "ttl": "20s"`))
			}
		})
	}
	// DNS keeps answering while the writes go on.
	dnsDone := make(chan struct{})
	go func() {
		defer close(dnsDone)
		for !stop.Load() {
			r, err := s.tryExchange(newQuery(svcName("load"), dns.TypeA), "tcp")
			switch {
			case err != nil:
				fail("DNS during the writes: %v", err)
				return
			case r.Rcode != dns.RcodeSuccess && r.Rcode != dns.RcodeNameError:
				fail("DNS during the writes: %s", rcodeName(r.Rcode))
				return
			}
			served.Add(1)
		}
	}()
	writesDone := make(chan struct{})
	go func() { wg.Wait(); close(writesDone) }()
	select {
	case <-writesDone:
	case <-time.After(30 * time.Second):
		stop.Store(true)
		t.Fatal("the clients did not finish within 30s")
	}
	stop.Store(true)
	<-dnsDone
	for _, e := range errs {
		t.Error(e)
	}
	t.Logf("%d DNS answers during the writes", served.Load())

	var wantA, wantSRV []string
	wantIDs := map[string]string{}
	for g := range clients {
		for i := range perClient {
			wantA = append(wantA, a(svcName("load"), addr(g, i)))
			wantSRV = append(wantSRV, srv(svcName("load"), srvRdata(addr(g, i), 2000+i)))
			wantIDs[fmt.Sprintf("c%d-i%d", g, i)] = fmt.Sprintf("%s:%d", addr(g, i), 2000+i)
		}
	}
	svc, _, ok := c.service(t, "load")
	if !ok {
		t.Fatal("GET /v1/services/load: 404")
	}
	if svc.Passing != clients*perClient || len(svc.Instances) != clients*perClient {
		t.Errorf("GET load: %d instances, %d passing, want %d of each", len(svc.Instances), svc.Passing, clients*perClient)
	}
	for _, in := range svc.Instances {
		if want := wantIDs[in.ID]; fmt.Sprintf("%s:%d", in.Address, in.Port) != want || !slices.Equal(in.Tags, []string{"final"}) || in.Health != "passing" {
			t.Errorf("instance %s: %s:%d %v %s, want %s [final] passing", in.ID, in.Address, in.Port, in.Tags, in.Health, want)
		}
	}
	ra := s.exchange(t, newQuery(svcName("load"), dns.TypeA), "tcp")
	if got := rrStrings(ra.Answer); !slices.Equal(got, sorted(wantA)) {
		t.Errorf("TCP A load: %d records, want %d; missing %v", len(got), len(wantA), missing(sorted(wantA), got))
	}
	rs := s.exchange(t, newQuery(svcName("load"), dns.TypeSRV), "tcp")
	if got := rrStrings(rs.Answer); !slices.Equal(got, sorted(wantSRV)) {
		t.Errorf("TCP SRV load: %d records, want %d; missing %v", len(got), len(wantSRV), missing(sorted(wantSRV), got))
	}
	if ra.Truncated || rs.Truncated {
		t.Errorf("TC set over TCP")
	}
}

// missing returns up to 5 of want that got lacks.
func missing(want, got []string) []string {
	var out []string
	for _, w := range want {
		if !slices.Contains(got, w) {
			out = append(out, w)
			if len(out) == 5 {
				break
			}
		}
	}
	return out
}
