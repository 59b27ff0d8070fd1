package main

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// fastPathCase is a Corefile snippet that puts one plugin of this build in
// the server block beside signpost, and which path signpost must answer A
// and SRV queries by: packed (bytes from the answer cache) when the plugin
// passes replies through, general (a message) when it needs the reply as a
// message.
type fastPathCase struct {
	snippet string
	packed  bool
}

// fastPathCases holds a case for every plugin of this build: a plugin added
// to directives without one fails TestFastPathUnderStockPlugins.
var fastPathCases = map[string][]fastPathCase{
	"timeouts":    {{"timeouts {\n read 10s\n}", true}},
	"multisocket": {{"multisocket 2", true}},
	"reload":      {{"reload 2s", true}},
	"bufsize":     {{"bufsize 1232", true}},
	"bind":        {{"", true}}, // every block here has bind
	"debug":       {{"debug", true}},
	"ready":       {{"ready 127.0.0.1:0", true}},
	"health":      {{"health 127.0.0.1:0", true}},
	"pprof":       {{"pprof 127.0.0.1:0", true}},
	"prometheus":  {{"prometheus 127.0.0.1:0", true}},
	"errors":      {{"errors", true}, {"errors {\n consolidate 5m \".*\"\n}", true}},
	"log":         {{"log", false}, {"log other.example.", true}},
	"any":         {{"any", true}},
	"loadbalance": {{"loadbalance", false}},
	"rewrite": {
		{"rewrite name exact alias.svc.internal. web.svc.internal. answer auto", true}, // another name
		{"rewrite name exact web.svc.internal. web.svc.internal. answer auto", false},
	},
	"cache":   {{"cache 30", false}},
	"hosts":   {{"hosts {\n 10.9.9.9 other.svc.internal\n fallthrough\n}", true}},
	"loop":    {{"loop", true}},
	"forward": {{"forward . 127.0.0.1:9", true}},
	"whoami":  {{"whoami", true}},
}

// TestFastPathUnderStockPlugins runs the real server of this build with
// each stock plugin beside signpost, as a Corefile would, and checks by the
// coredns_signpost_answers_total metric that A and SRV answers keep the
// packed path under the plugins that pass replies through, and take the
// general path under those that need the reply as a message. A CoreDNS
// upgrade that starts wrapping the writer in a plugin, or a plugin added to
// this build, fails here rather than silently slowing Signpost down.
func TestFastPathUnderStockPlugins(t *testing.T) {
	for _, d := range directives {
		if _, ok := fastPathCases[d]; !ok && d != "signpost" {
			t.Errorf("plugin %s has no case in fastPathCases", d)
		}
	}
	for name := range fastPathCases {
		if !slices.Contains(directives, name) {
			t.Errorf("fastPathCases has %s, which is not in this build", name)
		}
	}
	names := make([]string, 0, len(fastPathCases))
	for name := range fastPathCases {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		for i, c := range fastPathCases[name] {
			t.Run(fmt.Sprintf("%s/%d", name, i), func(t *testing.T) {
				checkPath(t, c.snippet, c.packed)
			})
		}
	}
	// The plugins of Corefile.example, together.
	t.Run("Corefile.example", func(t *testing.T) {
		checkPath(t, "prometheus 127.0.0.1:0\nerrors\nreload 2s", true)
	})
	// Every pass-through plugin at once; the writer is wrapped once per
	// plugin that calls the next.
	t.Run("all pass-through", func(t *testing.T) {
		var all []string
		for _, name := range names {
			for _, c := range fastPathCases[name] {
				if c.packed && name != "rewrite" && name != "log" && name != "errors" {
					all = append(all, c.snippet)
				}
			}
		}
		all = append(all, "errors", "rewrite name exact alias.svc.internal. web.svc.internal. answer auto")
		checkPath(t, strings.Join(all, "\n"), true)
	})
}

// checkPath starts the server with snippet beside signpost and asks for A
// and SRV records of web.svc.internal, over UDP and TCP, checking each
// answer and which path wrote it.
func checkPath(t *testing.T, snippet string, packed bool) {
	corefile := fmt.Sprintf(`svc.internal:0 {
    bind 127.0.0.1
    %s
    signpost {
        service web {
            instance w1 10.0.0.1:8080
            instance w2 10.0.0.2:8080
        }
    }
}
`, strings.ReplaceAll(snippet, "\n", "\n    "))
	udp, tcp := startServer(t, corefile)
	for network, addr := range map[string]string{"udp": udp, "tcp": tcp} {
		for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
			before := answers(t, "packed")
			m := new(dns.Msg).SetQuestion("web.svc.internal.", qtype)
			c := &dns.Client{Net: network, Timeout: 5 * time.Second}
			r, _, err := c.Exchange(m, addr)
			if err != nil {
				t.Fatalf("%s %s: %v", network, dns.TypeToString[qtype], err)
			}
			if r.Rcode != dns.RcodeSuccess || len(r.Answer) != 2 || r.Truncated {
				t.Fatalf("%s %s: rcode %s, %d answers, TC %v:\n%v", network, dns.TypeToString[qtype],
					dns.RcodeToString[r.Rcode], len(r.Answer), r.Truncated, r)
			}
			if qtype == dns.TypeSRV && len(r.Extra) != 2 {
				t.Fatalf("%s SRV: %d glue records, want 2:\n%v", network, len(r.Extra), r)
			}
			got := answers(t, "packed") - before
			switch {
			case packed && got != 1:
				t.Errorf("%s %s under %q: %v answers by the packed path, want 1", network, dns.TypeToString[qtype], snippet, got)
			case !packed && got != 0:
				t.Errorf("%s %s under %q: answered by the packed path, want general (the plugin needs the reply as a message)",
					network, dns.TypeToString[qtype], snippet)
			}
		}
	}
}

// startServer starts the server of this build on corefile and returns its
// UDP and TCP addresses.
func startServer(t *testing.T, corefile string) (udp, tcp string) {
	t.Helper()
	caddy.Quiet, dnsserver.Quiet = true, true
	inst, err := caddy.Start(caddy.CaddyfileInput{Contents: []byte(corefile), Filepath: "Corefile", ServerTypeName: "dns"})
	if err != nil {
		t.Fatalf("starting the server on\n%s: %v", corefile, err)
	}
	t.Cleanup(func() {
		if err := inst.Stop(); err != nil {
			t.Errorf("stopping the server: %v", err)
		}
		inst.ShutdownCallbacks()
	})
	servers := inst.Servers()
	if len(servers) == 0 || servers[0].LocalAddr() == nil || servers[0].Addr() == nil {
		t.Fatalf("no listener for\n%s", corefile)
	}
	return servers[0].LocalAddr().String(), servers[0].Addr().String()
}

// answers reads coredns_signpost_answers_total{path} from the process's
// registry, where the plugin's metrics live whether or not prometheus
// serves them.
func answers(t *testing.T, path string) float64 {
	t.Helper()
	families, err := prometheus.DefaultGatherer.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "coredns_signpost_answers_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "path" && l.GetValue() == path {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}
