package signpost

import (
	"context"
	"testing"

	"github.com/coredns/coredns/plugin"
	"github.com/coredns/coredns/plugin/loadbalance"
	"github.com/coredns/coredns/plugin/metrics"
	"github.com/coredns/coredns/plugin/pkg/dnstest"
	"github.com/coredns/coredns/plugin/test"
	"github.com/coredns/coredns/request"
	"github.com/miekg/dns"
)

// nextWriter returns the writer a plugin sees when the plugin before it
// calls it through plugin.NextOrFailure with w.
func nextWriter(t *testing.T, w dns.ResponseWriter) dns.ResponseWriter {
	t.Helper()
	var seen dns.ResponseWriter
	plugin.NextOrFailure("before", plugin.HandlerFunc(func(_ context.Context, w dns.ResponseWriter, _ *dns.Msg) (int, error) {
		seen = w
		return dns.RcodeSuccess, nil
	}), context.Background(), w, new(dns.Msg))
	if seen == nil {
		t.Fatal("NextOrFailure did not call the next plugin")
	}
	return seen
}

func TestRawWriter(t *testing.T) {
	if pluginWriterType == nil {
		t.Fatal("the writer of plugin.NextOrFailure was not recognised: every plugin before signpost turns the fast path off")
	}
	r := new(dns.Msg).SetQuestion("a.", dns.TypeA)
	scrub := request.NewScrubWriter(r, &test.ResponseWriter{})
	for name, tc := range map[string]struct {
		w    dns.ResponseWriter
		want bool
	}{
		"server":                      {scrub, true},
		"after a plugin":              {nextWriter(t, scrub), true},
		"after three plugins":         {nextWriter(t, nextWriter(t, nextWriter(t, scrub))), true},
		"prometheus":                  {metrics.NewRecorder(scrub), true},
		"prometheus, errors":          {nextWriter(t, nextWriter(t, metrics.NewRecorder(scrub))), true},
		"log":                         {nextWriter(t, dnstest.NewRecorder(nextWriter(t, scrub))), false},
		"loadbalance":                 {nextWriter(t, &loadbalance.LoadBalanceResponseWriter{ResponseWriter: scrub}), false},
		"prometheus over loadbalance": {nextWriter(t, metrics.NewRecorder(&loadbalance.LoadBalanceResponseWriter{ResponseWriter: scrub})), false},
		"no server writer":            {nextWriter(t, &test.ResponseWriter{}), false},
		"test writer":                 {&test.ResponseWriter{}, false},
	} {
		if got := rawWriter(tc.w); got != tc.want {
			t.Errorf("%s: rawWriter = %v, want %v", name, got, tc.want)
		}
	}
}

// A chain of writers deeper than any Corefile makes is refused rather than
// walked without end.
func TestRawWriterDepth(t *testing.T) {
	r := new(dns.Msg).SetQuestion("a.", dns.TypeA)
	w := dns.ResponseWriter(request.NewScrubWriter(r, &test.ResponseWriter{}))
	for range maxWriterDepth - 1 {
		w = nextWriter(t, w)
	}
	if !rawWriter(w) {
		t.Errorf("%d wrappers: rawWriter = false, want true", maxWriterDepth-1)
	}
	if rawWriter(nextWriter(t, w)) {
		t.Errorf("%d wrappers: rawWriter = true, want false", maxWriterDepth)
	}
}

func BenchmarkRawWriter(b *testing.B) {
	r := new(dns.Msg).SetQuestion("a.", dns.TypeA)
	// Corefile.example's chain: prometheus, then errors, then signpost.
	var w dns.ResponseWriter = metrics.NewRecorder(request.NewScrubWriter(r, &test.ResponseWriter{}))
	for range 2 {
		plugin.NextOrFailure("x", plugin.HandlerFunc(func(_ context.Context, next dns.ResponseWriter, _ *dns.Msg) (int, error) {
			w = next
			return 0, nil
		}), context.Background(), w, r)
	}
	b.ReportAllocs()
	for b.Loop() {
		if !rawWriter(w) {
			b.Fatal("not raw")
		}
	}
}
