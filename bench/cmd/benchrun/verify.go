package main

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// verify checks, before anything is measured, that every system answers
// every query of its dnsperf input correctly.
func (h *harness) verify(ctx context.Context) error {
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
	return nil
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
