package integration

// signpostctl explain end to end: each test makes one reason true on a real
// server (a failing probe, a lease that ran out, a tag, max-answers,
// serve-warning, self-preservation, min-healthy with its failover), checks
// that explain names it, and that dig answers exactly the records explain
// lists for each name of the service. The staleness and detection metrics
// are read from the server's Prometheus endpoint.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
)

// explainBound bounds every wait of these tests for the server to reach a
// state: leases of 1s and probes of 200ms get there in a few seconds.
const explainBound = 15 * time.Second

// explainCorefile serves the zone with the API, TTL 5s and negative TTL 3s,
// Prometheus metrics on metricsPort, and extra lines in the signpost block.
func explainCorefile(metricsPort int, extra string) string {
	return fmt.Sprintf(`svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        ttl 5s
        negative-ttl 3s
%s    }
    prometheus 127.0.0.1:%d
    errors
}
`, extra, metricsPort)
}

// explainHTTP reads GET /v1/explain/SERVICE[?tag=TAG].
func (s *server) explainHTTP(t *testing.T, service, tag string) (api.Explanation, error) {
	t.Helper()
	path := "/v1/explain/" + service
	if tag != "" {
		path += "?tag=" + tag
	}
	r, err := s.api().try(http.MethodGet, path, "")
	if err != nil {
		return api.Explanation{}, err
	}
	if r.code != http.StatusOK {
		return api.Explanation{}, fmt.Errorf("GET %s: %v", path, r)
	}
	var e api.Explanation
	if err := json.Unmarshal([]byte(r.body), &e); err != nil {
		return api.Explanation{}, fmt.Errorf("GET %s: %v in %s", path, err, r.body)
	}
	return e, nil
}

// waitExplain reads the explanation until cond holds, within explainBound.
func (s *server) waitExplain(t *testing.T, what, service, tag string, cond func(api.Explanation) bool) api.Explanation {
	t.Helper()
	deadline := time.Now().Add(explainBound)
	for {
		e, err := s.explainHTTP(t, service, tag)
		if err == nil && cond(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last explanation %+v, error %v", what, explainBound, e, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// explainCLI runs signpostctl explain with --json and decodes its output.
func (s *server) explainCLI(t *testing.T, service string, args ...string) api.Explanation {
	t.Helper()
	out := s.ctl(t, append([]string{"explain", service, "--json"}, args...)...)
	var e api.Explanation
	if err := json.Unmarshal([]byte(out), &e); err != nil {
		t.Fatalf("signpostctl explain %s --json: %v in %s", service, err, out)
	}
	return e
}

// ctl runs signpostctl against the server and returns its output.
func (s *server) ctl(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	all := append([]string{"--server", s.apiURL}, args...)
	out, err := exec.CommandContext(ctx, ctlBin, all...).CombinedOutput()
	if err != nil {
		t.Fatalf("signpostctl %s: %v\n%s", strings.Join(all, " "), err, out)
	}
	return string(out)
}

// explainQuestionsOf are the questions that name the service explained:
// those explain lists records for, and the service's own names, A, AAAA
// and SRV, and its RFC 2782 SRV name (which may answer nothing).
func explainQuestionsOf(e api.Explanation) []string {
	name, rfc := e.Service+"."+zone, "_"+e.Service+"._tcp."+zone
	if e.Tag != "" {
		name, rfc = e.Tag+"."+e.Service+"."+zone, "_"+e.Service+"._"+e.Tag+"."+zone
	}
	qs := []string{name + " A", name + " AAAA", name + " SRV", rfc + " SRV"}
	for _, r := range e.Records {
		if !slices.Contains(qs, r.Question) {
			qs = append(qs, r.Question)
		}
	}
	return qs
}

// checkDigAgrees asks dig every question of e and checks that the records
// of its answer and additional sections are those that e lists for the
// question. With maxAnswers, an answer holds that many of the answer
// records explain lists (and their glue), picked at random.
func (s *server) checkDigAgrees(t *testing.T, e api.Explanation, maxAnswers int) {
	t.Helper()
	for _, q := range explainQuestionsOf(e) {
		name, qtype, _ := strings.Cut(q, " ")
		var answer, extra []string
		for _, r := range e.Records {
			if r.Question != q {
				continue
			}
			rr := strings.Join(strings.Fields(r.RR), " ")
			if r.Section == "additional" {
				extra = append(extra, rr)
			} else {
				answer = append(answer, rr)
			}
		}
		m := s.dig(t, name, qtype)
		gotAnswer, gotExtra := rrStrings(m.Answer), rrStrings(m.Extra)
		if maxAnswers > 0 && len(answer) > maxAnswers {
			if len(gotAnswer) != maxAnswers || len(missing(gotAnswer, answer)) > 0 || len(missing(gotExtra, extra)) > 0 {
				t.Errorf("dig %s: answered %q + %q, want %d of explain's %q + glue", q, gotAnswer, gotExtra, maxAnswers, answer)
			}
			continue
		}
		if !slices.Equal(gotAnswer, sorted(answer)) || !slices.Equal(gotExtra, sorted(extra)) {
			t.Errorf("dig %s answers\n  %q\n  additional %q\nexplain lists\n  %q\n  additional %q", q, gotAnswer, gotExtra, sorted(answer), sorted(extra))
		}
	}
}

// instanceIn returns the instance of e with the given id.
func instanceIn(t *testing.T, e api.Explanation, id string) api.InstanceReport {
	t.Helper()
	for _, in := range e.Instances {
		if in.ID == id {
			return in
		}
	}
	t.Fatalf("explain %s: no instance %s in %+v", e.Service, id, e.Instances)
	return api.InstanceReport{}
}

// reasonText returns the text of the reason with code, and false when rs
// holds none.
func reasonText(rs []api.Reason, code string) (string, bool) {
	for _, r := range rs {
		if r.Code == code {
			return r.Text, true
		}
	}
	return "", false
}

func wantReason(t *testing.T, what string, rs []api.Reason, code string, words ...string) {
	t.Helper()
	text, ok := reasonText(rs, code)
	if !ok {
		t.Errorf("%s: no reason %s in %+v", what, code, rs)
		return
	}
	for _, w := range words {
		if !strings.Contains(text, w) {
			t.Errorf("%s: reason %s %q does not say %q", what, code, text, w)
		}
	}
}

// scrapeMetric sums the samples of metric name whose labels contain every
// string of match, and counts them.
func scrapeMetric(t *testing.T, port int, name string, match ...string) (float64, int) {
	t.Helper()
	url := fmt.Sprintf("http://127.0.0.1:%d/metrics", port)
	resp, err := httpClient.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s %v", url, resp.Status, err)
	}
	var sum float64
	n := 0
lines:
	for line := range strings.Lines(string(b)) {
		series, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok || strings.HasPrefix(series, "#") {
			continue
		}
		metric, labels, _ := strings.Cut(series, "{")
		if metric != name {
			continue
		}
		for _, m := range match {
			if !strings.Contains(labels, m) {
				continue lines
			}
		}
		v, err := strconv.ParseFloat(value, 64)
		if err != nil {
			t.Fatalf("%s: %q: %v", url, line, err)
		}
		sum += v
		n++
	}
	return sum, n
}

// acceptingListener opens a loopback TCP listener that accepts and closes connections
// until it is closed.
func acceptingListener(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	t.Cleanup(func() { l.Close() })
	return l
}

func portOf(l net.Listener) int { return l.Addr().(*net.TCPAddr).Port }

// TestExplainFailingProbe: an instance whose probe fails is critical, and
// explain says which probe, its last result and output; dig agrees, the
// detection histogram counts it and the staleness gauge follows the check.
func TestExplainFailingProbe(t *testing.T) {
	t.Parallel()
	l1, l2 := acceptingListener(t), acceptingListener(t)
	metrics := freePort(t)
	s := startServer(t, explainCorefile(metrics, fmt.Sprintf(`        service db {
            instance d1 127.0.0.1:%d
            instance d2 127.0.0.1:%d
            check tcp interval 300ms timeout 200ms rise 1 fall 2
        }
`, portOf(l1), portOf(l2))))
	s.api().waitReady(t)
	s.waitExplain(t, "both probes passing", "db", "", func(e api.Explanation) bool { return e.Eligible == 2 })
	l1.Close() // d1 refuses connections from now on
	e := s.waitExplain(t, "d1 critical", "db", "", func(e api.Explanation) bool { return e.Eligible == 1 })

	e = s.explainCLI(t, "db")
	d1 := instanceIn(t, e, "d1")
	if d1.Served || d1.Health != "critical" || d1.Source.Kind != api.SourceProbe {
		t.Errorf("d1: served %v, health %s, source %s; want critical from its probe", d1.Served, d1.Health, d1.Source.Kind)
	}
	wantReason(t, "d1", d1.Reasons, api.ReasonCritical)
	wantReason(t, "d1", d1.Reasons, api.ReasonProbe, "tcp", "127.0.0.1:"+strconv.Itoa(portOf(l1)), "critical", "refused")
	if p := d1.Source.LastProbe; p == nil || p.Status != "critical" || !strings.Contains(p.Output, "refused") || p.Time.IsZero() || p.Latency <= 0 {
		t.Errorf("d1 last probe %+v", p)
	}
	if c := d1.Source.Check; c == nil || c.Interval != 0.3 || c.Timeout != 0.2 || c.Fall != 2 {
		t.Errorf("d1 check %+v", c)
	}
	if d2 := instanceIn(t, e, "d2"); !d2.Served {
		t.Errorf("d2 not served: %+v", d2.Reasons)
	}
	s.checkDigAgrees(t, e, 0)

	// fall 2 x 300ms + 200ms, plus the 5s TTL.
	if b := e.StalenessBudget; b.Seconds != 5.8 || b.Detection != 0.8 || b.TTL != 5 {
		t.Errorf("staleness budget %+v, want 0.8s detection + 5s TTL", b)
	}
	if v, n := scrapeMetric(t, metrics, "coredns_signpost_staleness_budget_seconds", `service="db"`); n != 1 || v != 5.8 {
		t.Errorf("staleness_budget_seconds{service=db}: %d series, %g; want 5.8", n, v)
	}
	sum, n := scrapeMetric(t, metrics, "coredns_signpost_detection_seconds_sum", `source="probe"`)
	count, _ := scrapeMetric(t, metrics, "coredns_signpost_detection_seconds_count", `source="probe"`)
	// From d1's last passing probe to the second failing one: about
	// fall x interval, never less than one interval.
	if n != 1 || count != 1 || sum < 0.3 || sum > 5 {
		t.Errorf("detection_seconds{source=probe}: count %g, sum %g; want one sample near 0.6s", count, sum)
	}
}

// TestExplainLeaseRanOut: an instance whose lease ran out is critical, and
// explain says when; dig no longer answers it; the detection histogram
// counts the lease's TTL.
func TestExplainLeaseRanOut(t *testing.T) {
	t.Parallel()
	metrics := freePort(t)
	s := startServer(t, explainCorefile(metrics, ""))
	c := s.api()
	c.waitReady(t)
	c.expect(t, http.StatusOK, http.MethodPut, instPath("api", "quiet"), regBody("10.0.0.1", 80, `, "ttl": "1s"`))
	c.expect(t, http.StatusOK, http.MethodPut, instPath("api", "static"), regBody("10.0.0.2", 80, ""))
	e := s.waitExplain(t, "the lease of quiet ran out", "api", "", func(e api.Explanation) bool { return e.Eligible == 1 })
	e = s.explainCLI(t, "api")
	q := instanceIn(t, e, "quiet")
	if q.Served || !q.Source.Expired || q.Source.LeaseTTL != 1 || q.Source.LeaseDeadline.IsZero() {
		t.Errorf("quiet: served %v, source %+v", q.Served, q.Source)
	}
	wantReason(t, "quiet", q.Reasons, api.ReasonLeaseExpired, "ran out", "1s")
	if st := instanceIn(t, e, "static"); !st.Served || st.Source.Kind != api.SourceStatic {
		t.Errorf("static: %+v", st)
	}
	s.checkDigAgrees(t, e, 0)
	if b := e.StalenessBudget; b.Seconds != 6 || b.Detection != 1 {
		t.Errorf("staleness budget %+v, want 1s lease + 5s TTL", b)
	}
	// From the registration to the sweep that found the lease out: its
	// TTL, and one sweep (1s) more at most, but for a loaded machine.
	sum, n := scrapeMetric(t, metrics, "coredns_signpost_detection_seconds_sum", `source="lease"`)
	if n != 1 || sum < 1 || sum > 4 {
		t.Errorf("detection_seconds_sum{source=lease} = %g (%d series), want one sample of 1s to 2s", sum, n)
	}

	// A sidecar's report of critical is a reason of its own.
	c.expect(t, http.StatusOK, http.MethodPut, instPath("api", "sick"), regBody("10.0.0.3", 80, `, "ttl": "30s"`))
	c.expect(t, http.StatusOK, http.MethodPut, instPath("api", "sick")+"/health", `{"status": "critical", "output": "disk full"}`)
	e = s.explainCLI(t, "api")
	sick := instanceIn(t, e, "sick")
	if sick.Served || sick.Source.Kind != api.SourceReport {
		t.Errorf("sick: served %v, source %s", sick.Served, sick.Source.Kind)
	}
	wantReason(t, "sick", sick.Reasons, api.ReasonReported, "critical")
	if b := e.StalenessBudget; b.Detection != 30 {
		t.Errorf("staleness budget %+v, want the 30s lease", b)
	}
	if _, n := scrapeMetric(t, metrics, "coredns_signpost_detection_seconds_count", `source="report"`); n != 1 {
		t.Errorf("no detection_seconds series for the report")
	}
}

// TestExplainTagFilter: with a tag, explain names the instances without it,
// and dig agrees on both tag forms of the name.
func TestExplainTagFilter(t *testing.T) {
	t.Parallel()
	s := startServer(t, explainCorefile(freePort(t), ""))
	c := s.api()
	c.waitReady(t)
	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w1"), regBody("10.0.1.1", 8080, `, "tags": ["blue"]`))
	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w2"), regBody("10.0.1.2", 8081, `, "tags": ["green"]`))
	c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "w3"), regBody("2001:db8::3", 8082, `, "tags": ["blue"]`))
	e := s.explainCLI(t, "web", "--tag", "blue")
	for id, served := range map[string]bool{"w1": true, "w2": false, "w3": true} {
		if in := instanceIn(t, e, id); in.Served != served {
			t.Errorf("%s: served %v, want %v (%+v)", id, in.Served, served, in.Reasons)
		}
	}
	wantReason(t, "w2", instanceIn(t, e, "w2").Reasons, api.ReasonTagFilter, "blue")
	s.checkDigAgrees(t, e, 0)
	s.checkDigAgrees(t, s.explainCLI(t, "web"), 0)

	// A tag that no instance carries: the name does not exist.
	e = s.explainCLI(t, "web", "--tag", "red")
	wantReason(t, "web tag red", e.Reasons, api.ReasonTagFilter, "NXDOMAIN")
	s.checkDigAgrees(t, e, 0)
}

// TestExplainMaxAnswers: with max-answers, explain says that each answer
// holds a few of the eligible instances, shuffled, and lists them all; dig
// gets that many of them.
func TestExplainMaxAnswers(t *testing.T) {
	t.Parallel()
	s := startServer(t, explainCorefile(freePort(t), "        max-answers 2\n"))
	c := s.api()
	c.waitReady(t)
	for i := 1; i <= 5; i++ {
		c.expect(t, http.StatusOK, http.MethodPut, instPath("web", fmt.Sprintf("w%d", i)), regBody(fmt.Sprintf("10.0.1.%d", i), 8080, ""))
	}
	e := s.explainCLI(t, "web")
	if e.Eligible != 5 || e.Answered != 2 || e.Settings.MaxAnswers != 2 {
		t.Errorf("eligible %d, answered %d, max-answers %d; want 5, 2, 2", e.Eligible, e.Answered, e.Settings.MaxAnswers)
	}
	wantReason(t, "web", e.Reasons, api.ReasonMaxAnswers, "2 of the 5", "shuffled")
	wantReason(t, "w3", instanceIn(t, e, "w3").Reasons, api.ReasonMaxAnswers, "random")
	s.checkDigAgrees(t, e, 2)
}

// TestExplainServeWarning: an instance reported warning is not answered,
// and explain says serve-warning is off; with serve-warning it is.
func TestExplainServeWarning(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{false, true} {
		t.Run(fmt.Sprintf("serve-warning %v", on), func(t *testing.T) {
			t.Parallel()
			extra := ""
			if on {
				extra = "        serve-warning\n"
			}
			s := startServer(t, explainCorefile(freePort(t), extra))
			c := s.api()
			c.waitReady(t)
			c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "ok"), regBody("10.0.1.1", 8080, `, "ttl": "30s"`))
			c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "slow"), regBody("10.0.1.2", 8080, `, "ttl": "30s"`))
			c.expect(t, http.StatusOK, http.MethodPut, instPath("web", "slow")+"/health", `{"status": "warning", "output": "p99 over 1s"}`)
			e := s.explainCLI(t, "web")
			slow := instanceIn(t, e, "slow")
			if slow.Served != on || slow.Health != "warning" || e.Settings.ServeWarning != on {
				t.Errorf("slow: served %v, health %s, serve-warning %v", slow.Served, slow.Health, e.Settings.ServeWarning)
			}
			if on {
				wantReason(t, "slow", slow.Reasons, api.ReasonWarningServed, "serve-warning is on")
			} else {
				wantReason(t, "slow", slow.Reasons, api.ReasonWarning, "serve-warning is off")
			}
			s.checkDigAgrees(t, e, 0)
		})
	}
}

// TestExplainSelfPreservation: when many short leases run out at once,
// self-preservation holds them, and explain says that the instances are
// served because of it; dig still answers them all.
func TestExplainSelfPreservation(t *testing.T) {
	t.Parallel()
	s := startServer(t, explainCorefile(freePort(t), "        self-preservation 0.5\n"))
	c := s.api()
	c.waitReady(t)
	for i := 1; i <= 6; i++ {
		c.expect(t, http.StatusOK, http.MethodPut, instPath("web", fmt.Sprintf("w%d", i)), regBody(fmt.Sprintf("10.0.1.%d", i), 8080, `, "ttl": "1s"`))
	}
	// No heartbeat: every lease runs out in the same sweep.
	e := s.waitExplain(t, "self-preservation holding the leases", "web", "", func(e api.Explanation) bool { return e.SelfPreservation })
	e = s.explainCLI(t, "web")
	wantReason(t, "web", e.Reasons, api.ReasonSelfPreservation, "paused")
	for i := 1; i <= 6; i++ {
		in := instanceIn(t, e, fmt.Sprintf("w%d", i))
		if !in.Served || !in.Source.Held {
			t.Errorf("%s: served %v, held %v", in.ID, in.Served, in.Source.Held)
		}
		wantReason(t, in.ID, in.Reasons, api.ReasonSelfPreservation, "holds")
	}
	s.checkDigAgrees(t, e, 0)
}

// TestExplainFailover: with fewer eligible instances than min-healthy, the
// failover is answered instead, and explain says so for the service and for
// each instance that is healthy but not answered.
func TestExplainFailover(t *testing.T) {
	t.Parallel()
	up := acceptingListener(t)
	closed := acceptingListener(t)
	closedPort := portOf(closed)
	closed.Close()
	s := startServer(t, explainCorefile(freePort(t), fmt.Sprintf(`        service pay {
            instance p1 127.0.0.1:%d
            instance p2 127.0.0.1:%d
            check tcp interval 300ms timeout 200ms rise 1 fall 2
            failover 10.0.0.100
            min-healthy 2
        }
`, portOf(up), closedPort)))
	s.api().waitReady(t)
	e := s.waitExplain(t, "p1 passing, p2 critical", "pay", "", func(e api.Explanation) bool {
		return e.Eligible == 1 && len(e.Instances) == 2 && e.Instances[1].Source.LastProbe != nil
	})
	e = s.explainCLI(t, "pay")
	if f := e.Failover; !f.Active || f.Target != "10.0.0.100" || f.MinHealthy != 2 || f.Healthy != 1 || e.Answered != 0 {
		t.Errorf("failover %+v, answered %d", f, e.Answered)
	}
	wantReason(t, "pay", e.Reasons, api.ReasonMinHealthy, "fewer than min-healthy 2")
	wantReason(t, "pay", e.Reasons, api.ReasonFailover, "10.0.0.100")
	p1 := instanceIn(t, e, "p1")
	if p1.Served || p1.Health != "passing" {
		t.Errorf("p1: served %v, health %s; want passing and not served", p1.Served, p1.Health)
	}
	wantReason(t, "p1", p1.Reasons, api.ReasonFailover, "min-healthy 2", "10.0.0.100")
	s.checkDigAgrees(t, e, 0)
	if m := s.dig(t, "pay."+zone, "A"); !slices.Equal(rrStrings(m.Answer), []string{"pay." + zone + " 5 IN A 10.0.0.100"}) {
		t.Errorf("dig A pay: %q, want the failover", rrStrings(m.Answer))
	}
}

// TestExplainUnknownService: 404 from the API, exit status 1 from the CLI.
func TestExplainUnknownService(t *testing.T) {
	t.Parallel()
	s := startServer(t, explainCorefile(freePort(t), ""))
	c := s.api()
	c.waitReady(t)
	r := c.expect(t, http.StatusNotFound, http.MethodGet, "/v1/explain/nosuch", "")
	if !strings.Contains(r.errorText(), "nosuch") {
		t.Errorf("404 body %q", r.body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, ctlBin, "--server", s.apiURL, "explain", "nosuch").CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "nosuch") {
		t.Errorf("signpostctl explain nosuch: %v\n%s", err, out)
	}
}
