package signpost

import (
	"errors"
	"net/netip"
	"strings"
)

// kind is what a query name inside a zone refers to.
type kind uint8

const (
	kindApex    kind = iota // the zone itself
	kindService             // <service>, <tag>.<service>, _<service>._tcp, _<service>._<tag>
	kindAddr                // <addr-label>.addr
	kindENT                 // an empty non-terminal: addr, _<service>
)

// query is a parsed query name.
type query struct {
	kind    kind
	service string // kindService; for kindENT the label after '_' (a service, tcp, udp or a tag)
	tag     string // kindService, empty for all instances
	addr    netip.Addr
}

var (
	errNameNotFound = errors.New("name not found")
	errNoData       = errors.New("no data")
)

// parseName maps a lowercased query name inside zone to what it asks for. It
// returns errNameNotFound for a name that no registry content can make exist.
func parseName(name, zone string) (query, error) {
	rest := strings.TrimSuffix(strings.TrimSuffix(name, zone), ".")
	if rest == "" {
		return query{kind: kindApex}, nil
	}
	first, second, two := strings.Cut(rest, ".")
	if strings.Contains(second, ".") {
		return query{}, errNameNotFound
	}
	if !two {
		return parseOne(first)
	}
	return parseTwo(first, second)
}

func parseOne(l string) (query, error) {
	switch {
	case l == addrLabel:
		return query{kind: kindENT}, nil
	case strings.HasPrefix(l, "_"):
		return query{kind: kindENT, service: l[1:]}, nil
	default:
		return query{kind: kindService, service: l}, nil
	}
}

func parseTwo(a, b string) (query, error) {
	if b == addrLabel {
		addr, ok := parseAddrLabel(a)
		if !ok {
			return query{}, errNameNotFound
		}
		return query{kind: kindAddr, addr: addr}, nil
	}
	svc, isSRV := strings.CutPrefix(a, "_")
	proto, isProto := strings.CutPrefix(b, "_")
	switch {
	case isSRV && isProto: // RFC 2782: _service._proto, or _service._tag
		if proto == "tcp" || proto == "udp" {
			proto = ""
		}
		return query{kind: kindService, service: svc, tag: proto}, nil
	case !isSRV && !isProto: // tag.service
		return query{kind: kindService, service: b, tag: a}, nil
	}
	return query{}, errNameNotFound
}

// addrLabel is the label below the zone that holds instance addresses.
const addrLabel = "addr"

// addrToLabel returns the DNS label for an address: 10.0.0.5 is 10-0-0-5 and
// 2001:db8::1 is 2001-db8--1.
func addrToLabel(a netip.Addr) string {
	s := a.String()
	if a.Is4() {
		return strings.ReplaceAll(s, ".", "-")
	}
	return strings.ReplaceAll(s, ":", "-")
}

// parseAddrLabel is the inverse of addrToLabel. Only the canonical form is
// accepted, so that one address has exactly one name.
func parseAddrLabel(l string) (netip.Addr, bool) {
	if a, err := netip.ParseAddr(strings.ReplaceAll(l, "-", ".")); err == nil && a.Is4() {
		return a, addrToLabel(a) == l
	}
	a, err := netip.ParseAddr(strings.ReplaceAll(l, "-", ":"))
	if err != nil || !a.Is6() || a.Zone() != "" || a.Is4In6() {
		return netip.Addr{}, false
	}
	return a, addrToLabel(a) == l
}
