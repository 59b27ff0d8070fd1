package signpost

import (
	"errors"
	"net/netip"
	"testing"
)

func TestParseName(t *testing.T) {
	const zone = "svc.internal."
	tests := []struct {
		name string
		want query
		err  error
	}{
		{"svc.internal.", query{kind: kindApex}, nil},
		{"mysql.svc.internal.", query{kind: kindService, service: "mysql"}, nil},
		{"primary.mysql.svc.internal.", query{kind: kindService, service: "mysql", tag: "primary"}, nil},
		{"_mysql._tcp.svc.internal.", query{kind: kindService, service: "mysql"}, nil},
		{"_mysql._udp.svc.internal.", query{kind: kindService, service: "mysql"}, nil},
		{"_mysql._primary.svc.internal.", query{kind: kindService, service: "mysql", tag: "primary"}, nil},
		{"_mysql.svc.internal.", query{kind: kindENT, service: "mysql"}, nil},
		{"addr.svc.internal.", query{kind: kindENT}, nil},
		{"10-0-0-5.addr.svc.internal.", query{kind: kindAddr, addr: netip.MustParseAddr("10.0.0.5")}, nil},
		{"2001-db8--1.addr.svc.internal.", query{kind: kindAddr, addr: netip.MustParseAddr("2001:db8::1")}, nil},
		{"10-0-0-05.addr.svc.internal.", query{}, errNameNotFound},    // not canonical
		{"2001-0db8--1.addr.svc.internal.", query{}, errNameNotFound}, // not canonical
		{"nonsense.addr.svc.internal.", query{}, errNameNotFound},
		{"_mysql.tcp.svc.internal.", query{}, errNameNotFound},
		{"mysql._tcp.svc.internal.", query{}, errNameNotFound},
		{"a.b.mysql.svc.internal.", query{}, errNameNotFound},
		{"_x._mysql._tcp.svc.internal.", query{}, errNameNotFound},
	}
	for _, tc := range tests {
		got, err := parseName(tc.name, zone)
		if !errors.Is(err, tc.err) {
			t.Errorf("parseName(%q) error = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if got != tc.want {
			t.Errorf("parseName(%q) = %+v, want %+v", tc.name, got, tc.want)
		}
	}
}

func TestAddrLabelRoundTrip(t *testing.T) {
	for _, s := range []string{"10.0.0.5", "192.168.255.1", "2001:db8::1", "::1", "fe80::1:2", "2001:db8:0:1:2:3:4:5"} {
		a := netip.MustParseAddr(s)
		l := addrToLabel(a)
		got, ok := parseAddrLabel(l)
		if !ok || got != a {
			t.Errorf("parseAddrLabel(addrToLabel(%s) = %q) = %v, %v", s, l, got, ok)
		}
	}
	if l := addrToLabel(netip.MustParseAddr("2001:db8::1")); l != "2001-db8--1" {
		t.Errorf("addrToLabel(2001:db8::1) = %q, want 2001-db8--1", l)
	}
}

func TestMatchZone(t *testing.T) {
	zones := []string{"svc.internal.", "eu.svc.internal.", "example.org."}
	for name, want := range map[string]string{
		"svc.internal.":          "svc.internal.",
		"web.svc.internal.":      "svc.internal.",
		"web.eu.svc.internal.":   "eu.svc.internal.",
		"eu.svc.internal.":       "eu.svc.internal.",
		"xsvc.internal.":         "",
		"internal.":              "",
		"a.example.org.":         "example.org.",
		"web.svc.internal.evil.": "",
	} {
		if got := matchZone(zones, name); got != want {
			t.Errorf("matchZone(%q) = %q, want %q", name, got, want)
		}
	}
	if got := matchZone([]string{"."}, "anything.at.all."); got != "." {
		t.Errorf("root zone: %q", got)
	}
}
