package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// verify checks, before anything is measured, that every system answers
// every query of its dnsperf input correctly.
func (h *harness) verify(ctx context.Context) error {
	before, err := h.answerCounts(ctx)
	if err != nil {
		return err
	}
	c := &dns.Client{Timeout: 2 * time.Second}
	for _, sys := range h.systems {
		for _, s := range h.data.services {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if err := check(c, sys, s); err != nil {
				return fmt.Errorf("%s %s: wrong answer for %s: %w", sys.label, sys.qtype, s.fqdn(), err)
			}
		}
		logf("verified: %s %s answers all %d names correctly", sys.label, sys.qtype, len(h.data.services))
	}
	return h.checkPackedPath(ctx, before)
}

// check asks sys for service s as dnsperf will (UDP, no EDNS0) and checks
// the reply.
func check(c *dns.Client, sys *system, s service) error {
	m := new(dns.Msg)
	m.SetQuestion(s.fqdn(), dns.StringToType[sys.qtype])
	r, _, err := c.Exchange(m, sys.server.addr())
	if err != nil {
		return err
	}
	if r.Rcode != dns.RcodeSuccess || r.Truncated {
		return fmt.Errorf("rcode %s, truncated %v", dns.RcodeToString[r.Rcode], r.Truncated)
	}
	switch {
	case sys.fixed:
		return checkFixed(r)
	case sys.qtype == "SRV":
		return checkSRV(r, s)
	default:
		return checkA(r.Answer, s.fqdn(), s.addrs)
	}
}

// checkFixed expects the one fixed A record of the ceilings.
func checkFixed(r *dns.Msg) error {
	want := netip.MustParseAddr(fixedIP)
	return checkA(r.Answer, r.Question[0].Name, []netip.Addr{want})
}

// checkA expects exactly the A records of name for addrs, in any order.
func checkA(rrs []dns.RR, name string, addrs []netip.Addr) error {
	var got []string
	for _, rr := range rrs {
		a, ok := rr.(*dns.A)
		if !ok || !strings.EqualFold(a.Hdr.Name, name) {
			return fmt.Errorf("unexpected record %s", rr)
		}
		got = append(got, a.A.String())
	}
	return sameSet(got, addrStrings(addrs))
}

// checkSRV expects one SRV per instance to the instance's target and port,
// and the targets' A records as glue.
func checkSRV(r *dns.Msg, s service) error {
	var targets []string
	for _, rr := range r.Answer {
		srv, ok := rr.(*dns.SRV)
		if !ok || srv.Port != port || !strings.EqualFold(srv.Hdr.Name, s.fqdn()) {
			return fmt.Errorf("unexpected record %s", rr)
		}
		targets = append(targets, strings.ToLower(srv.Target))
	}
	var want []string
	for _, a := range s.addrs {
		want = append(want, target(a))
	}
	if err := sameSet(targets, want); err != nil {
		return fmt.Errorf("SRV targets: %w", err)
	}
	return checkGlue(r.Extra, s.addrs)
}

// checkGlue expects an A record for the target of each address in extra.
func checkGlue(extra []dns.RR, addrs []netip.Addr) error {
	glue := map[string]string{}
	for _, rr := range extra {
		if a, ok := rr.(*dns.A); ok {
			glue[strings.ToLower(a.Hdr.Name)] = a.A.String()
		}
	}
	for _, a := range addrs {
		if glue[target(a)] != a.String() {
			return fmt.Errorf("no glue A %s for %s in %v", a, target(a), extra)
		}
	}
	return nil
}

func addrStrings(addrs []netip.Addr) []string {
	var s []string
	for _, a := range addrs {
		s = append(s, a.String())
	}
	return s
}

// sameSet reports, as an error, whether got and want differ as multisets.
func sameSet(got, want []string) error {
	g, w := slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(want))
	if !slices.Equal(g, w) {
		return fmt.Errorf("got %v, want %v", g, w)
	}
	return nil
}

// pathCounts is a Signpost server's coredns_signpost_answers_total.
type pathCounts struct{ packed, general float64 }

// answerCounts reads pathCounts of every Signpost server that runs the
// prometheus plugin.
func (h *harness) answerCounts(ctx context.Context) (map[*server]pathCounts, error) {
	counts := make(map[*server]pathCounts)
	for _, s := range h.servers {
		if !s.api || !s.metrics {
			continue
		}
		packed, general, err := answersByPath(ctx, s.metricsPort)
		if err != nil {
			return nil, fmt.Errorf("%s: reading its metrics: %w", s.name, err)
		}
		counts[s] = pathCounts{packed, general}
	}
	return counts, nil
}

// checkPackedPath makes sure that the Signpost servers running the
// prometheus plugin answered every verified query (since before) by the
// packed path, as their coredns_signpost_answers_total says: the
// surrounding plugins are there to show what they cost that path, not to
// measure the general one.
func (h *harness) checkPackedPath(ctx context.Context, before map[*server]pathCounts) error {
	after, err := h.answerCounts(ctx)
	if err != nil {
		return err
	}
	for s, a := range after {
		packed, general := a.packed-before[s].packed, a.general-before[s].general
		if general > 0 || packed == 0 {
			return fmt.Errorf("%s answered %v queries by the packed path and %v by the general one: the fast path is off under its plugins", s.name, packed, general)
		}
		logf("verified: %s answered all %v queries by the packed path", s.name, packed)
	}
	return nil
}

// answersByPath reads coredns_signpost_answers_total from the prometheus
// plugin on port.
func answersByPath(ctx context.Context, port int) (packed, general float64, err error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d/metrics", port), nil)
	if err != nil {
		return 0, 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, 0, err
	}
	return parseAnswers(string(body))
}

// parseAnswers reads the two series of coredns_signpost_answers_total from
// a scrape in Prometheus's text format.
func parseAnswers(scrape string) (packed, general float64, err error) {
	found := 0
	for line := range strings.Lines(scrape) {
		name, value, ok := strings.Cut(strings.TrimSpace(line), " ")
		if !ok {
			continue
		}
		var dst *float64
		switch name {
		case `coredns_signpost_answers_total{path="packed"}`:
			dst = &packed
		case `coredns_signpost_answers_total{path="general"}`:
			dst = &general
		default:
			continue
		}
		if *dst, err = strconv.ParseFloat(value, 64); err != nil {
			return 0, 0, fmt.Errorf("%s: %w", name, err)
		}
		found++
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("no coredns_signpost_answers_total{path} in the scrape")
	}
	return packed, general, nil
}
