package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

func TestAddrFor(t *testing.T) {
	tests := []struct {
		s, k int
		want string
	}{
		{0, 0, "10.0.0.1"},
		{249, 0, "10.0.0.250"},
		{250, 2, "10.2.1.1"},
		{999, 1, "10.1.3.250"},
	}
	for _, tc := range tests {
		if got := addrFor(tc.s, tc.k).String(); got != tc.want {
			t.Errorf("addrFor(%d, %d) = %s, want %s", tc.s, tc.k, got, tc.want)
		}
	}
}

func TestDatasetUniqueAddresses(t *testing.T) {
	d := newDataset(1000, 3)
	seen := map[netip.Addr]bool{}
	for _, s := range d.services {
		for _, a := range s.addrs {
			if seen[a] {
				t.Fatalf("address %s given twice", a)
			}
			seen[a] = true
		}
	}
	if len(seen) != 3000 || d.services[0].name != "svc1" || d.services[999].name != "svc1000" {
		t.Fatalf("%d addresses, first %s, last %s", len(seen), d.services[0].name, d.services[999].name)
	}
}

func TestTarget(t *testing.T) {
	if got := target(netip.MustParseAddr("10.0.0.5")); got != "10-0-0-5.addr.svc.internal." {
		t.Errorf("target = %s", got)
	}
}

func TestHostsFile(t *testing.T) {
	got := string(newDataset(2, 2).hostsFile())
	want := "10.0.0.1 svc1.svc.internal.\n10.1.0.1 svc1.svc.internal.\n" +
		"10.0.0.2 svc2.svc.internal.\n10.1.0.2 svc2.svc.internal.\n"
	if got != want {
		t.Errorf("hosts file\n%s\nwant\n%s", got, want)
	}
}

func TestQueryFile(t *testing.T) {
	got := string(newDataset(2, 1).queryFile("SRV"))
	if want := "svc1.svc.internal SRV\nsvc2.svc.internal SRV\n"; got != want {
		t.Errorf("query file %q, want %q", got, want)
	}
}

// TestZoneFile parses the zone as the file plugin would and checks the
// records of one service.
func TestZoneFile(t *testing.T) {
	zp := dns.NewZoneParser(bytes.NewReader(newDataset(2, 3).zoneFile()), zone, "db")
	count := map[string]int{}
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		h := rr.Header()
		count[strings.ToLower(h.Name)+" "+dns.TypeToString[h.Rrtype]]++
		if h.Ttl != ttl {
			t.Errorf("TTL %d in %s", h.Ttl, rr)
		}
	}
	if err := zp.Err(); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{
		"svc.internal. SOA":             1,
		"svc.internal. NS":              1,
		"svc1.svc.internal. A":          3,
		"svc1.svc.internal. SRV":        3,
		"_svc1._tcp.svc.internal. SRV":  3,
		"10-2-0-1.addr.svc.internal. A": 1,
		"10-0-0-2.addr.svc.internal. A": 1,
	}
	for k, n := range want {
		if count[k] != n {
			t.Errorf("%s: %d records, want %d", k, count[k], n)
		}
	}
}

func TestValidateSize(t *testing.T) {
	for _, tc := range []struct{ s, i int }{{0, 3}, {64001, 1}, {10, 0}, {10, 257}} {
		if validateSize(tc.s, tc.i) == nil {
			t.Errorf("validateSize(%d, %d): want an error", tc.s, tc.i)
		}
	}
	if err := validateSize(64000, 256); err != nil {
		t.Error(err)
	}
}

func TestRegistrations(t *testing.T) {
	regs := registrations(newDataset(2, 3))
	if len(regs) != 6 {
		t.Fatalf("%d registrations, want 6", len(regs))
	}
	r := regs[5]
	if r.service != "svc2" || r.id != "i3" || string(r.body) != `{"address":"10.2.0.2","port":8080}` {
		t.Errorf("registration %+v body %s", r, r.body)
	}
}
