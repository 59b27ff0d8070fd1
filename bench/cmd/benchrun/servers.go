package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/miekg/dns"
)

// server is one process under test. Several systems may share one (Signpost
// answers A and SRV from the same process).
type server struct {
	name        string
	port        int                  // DNS, UDP (and TCP for CoreDNS)
	api         bool                 // Signpost, loaded through its HTTP API
	apiPort     int                  // Signpost's HTTP API, else 0
	metrics     bool                 // runs the prometheus plugin (examplePlugins)
	metricsPort int                  // its port
	corefile    func(*server) string // nil for the miekg/dns server
	bin         string
	proc        *proc
}

// addr is the server's DNS address.
func (s *server) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port)) }

// block is a Corefile server block for the zone with one data plugin. Every
// CoreDNS system gets the same block but for that plugin, so that the plugin
// is the only difference between them.
func block(s *server, plugin string) string {
	return fmt.Sprintf("%s:%d {\n    bind 127.0.0.1\n%s}\n", zone, s.port, plugin)
}

// examplePlugins are the plugins around signpost in Corefile.example, as
// most Corefiles have them: prometheus, errors, reload. Each plugin that
// calls the next one wraps the writer it hands on, so they are what a data
// plugin's writes go through in a real server.
func examplePlugins(s *server) string {
	return fmt.Sprintf("    prometheus 127.0.0.1:%d\n    errors\n    reload\n", s.metricsPort)
}

// newServers describes the server processes.
func (h *harness) newServers() []*server {
	signpost := func(s *server) string {
		return fmt.Sprintf("    signpost {\n        api 127.0.0.1:%d\n    }\n", s.apiPort)
	}
	fixed := func(*server) string { return fmt.Sprintf("    fixed %s\n", fixedIP) }
	return []*server{
		{name: "signpost", bin: h.bin("signpost"), api: true, corefile: func(s *server) string {
			return block(s, signpost(s))
		}},
		{name: "coredns-hosts", bin: h.bin("corednsref"), corefile: func(s *server) string {
			return block(s, fmt.Sprintf("    hosts %s {\n        ttl %d\n        reload 0\n        no_reverse\n    }\n", h.path("hosts"), ttl))
		}},
		{name: "coredns-file", bin: h.bin("corednsref"), corefile: func(s *server) string {
			return block(s, fmt.Sprintf("    file %s %s {\n        reload 0\n    }\n", h.path("db.svc.internal"), zone))
		}},
		{name: "coredns-fixed", bin: h.bin("corednsref"), corefile: func(s *server) string {
			return block(s, fixed(s))
		}},
		{name: "miekg-ceiling", bin: h.bin("miekgceiling")},
		{name: "signpost-plugins", bin: h.bin("signpost"), api: true, metrics: true, corefile: func(s *server) string {
			return block(s, examplePlugins(s)+signpost(s))
		}},
		{name: "coredns-fixed-plugins", bin: h.bin("corednsref"), metrics: true, corefile: func(s *server) string {
			return block(s, examplePlugins(s)+fixed(s))
		}},
	}
}

// server returns the server named name.
func (h *harness) server(name string) *server {
	for _, s := range h.servers {
		if s.name == name {
			return s
		}
	}
	panic("no server " + name)
}

// startServers starts every server and waits until each answers DNS.
func (h *harness) startServers(ctx context.Context) error {
	h.servers = h.newServers()
	ports, err := freePorts(3 * len(h.servers))
	if err != nil {
		return err
	}
	for i, s := range h.servers {
		s.port = ports[3*i]
		if s.api {
			s.apiPort = ports[3*i+1]
		}
		if s.metrics {
			s.metricsPort = ports[3*i+2]
		}
	}
	for _, s := range h.servers {
		if err := h.startServer(ctx, s); err != nil {
			return err
		}
	}
	h.systems = h.newSystems()
	return nil
}

func (h *harness) startServer(ctx context.Context, s *server) error {
	argv := []string{s.bin, "-addr", s.addr(), "-a", fixedIP}
	if s.corefile != nil {
		conf := h.path("Corefile." + s.name)
		if err := os.WriteFile(conf, []byte(s.corefile(s)), 0o644); err != nil {
			return err
		}
		argv = []string{s.bin, "-conf", conf}
	}
	p, err := h.fleet.start(s.name, h.cfg.serverCPU, h.path(s.name+".log"), argv...)
	if err != nil {
		return err
	}
	s.proc = p
	if err := h.waitUp(ctx, s); err != nil {
		return err
	}
	logf("%s up on %s (pid %d)", s.name, s.addr(), p.cmd.Process.Pid)
	return nil
}

// waitUp waits until the server answers a DNS query, and its API answers
// where it has one.
func (h *harness) waitUp(ctx context.Context, s *server) error {
	deadline := time.Now().Add(h.cfg.startWait)
	for time.Now().Before(deadline) {
		if done, err := s.proc.exited(); done {
			return fmt.Errorf("%s %v; its log %s:\n%s", s.name, err, s.proc.log, logTail(s.proc.log))
		}
		if dnsUp(s.addr()) && (s.apiPort == 0 || apiUp(s.apiPort)) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("%s did not come up on %s within %s; its log:\n%s", s.name, s.addr(), h.cfg.startWait, logTail(s.proc.log))
}

// dnsUp reports whether any DNS reply, whatever its rcode, comes from addr.
func dnsUp(addr string) bool {
	m := new(dns.Msg)
	m.SetQuestion(zone, dns.TypeSOA)
	c := &dns.Client{Timeout: 200 * time.Millisecond}
	_, _, err := c.Exchange(m, addr)
	return err == nil
}

func apiUp(port int) bool {
	c := &http.Client{Timeout: 500 * time.Millisecond}
	resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/v1/services", port))
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func logTail(path string) string {
	b, _ := os.ReadFile(path)
	return tail(b, 4000)
}
