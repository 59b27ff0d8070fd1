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
	switch {
	case rest == "":
		return query{kind: kindApex}, nil
	case rest == addrLabel:
		return query{kind: kindENT}, nil
	}
	if l, ok := strings.CutSuffix(rest, "."+addrLabel); ok {
		addr, ok := parseAddrLabel(l)
		if !ok || strings.Contains(l, ".") {
			return query{}, errNameNotFound
		}
		return query{kind: kindAddr, addr: addr}, nil
	}
	return parseServiceLabels(rest)
}

// parseServiceLabels maps the labels that name a service, below a zone or
// below Consul's service label, to a query: <service>, <tag>.<service>,
// _<service>._tcp or ._udp (RFC 2782), _<service>._<tag>, and the empty
// non-terminal _<label>.
func parseServiceLabels(rest string) (query, error) {
	first, second, two := strings.Cut(rest, ".")
	if strings.Contains(second, ".") {
		return query{}, errNameNotFound
	}
	if !two {
		if l, ok := strings.CutPrefix(first, "_"); ok {
			return query{kind: kindENT, service: l}, nil
		}
		return query{kind: kindService, service: first}, nil
	}
	svc, isSRV := strings.CutPrefix(first, "_")
	proto, isProto := strings.CutPrefix(second, "_")
	switch {
	case isSRV && isProto: // RFC 2782: _service._proto, or _service._tag
		if proto == "tcp" || proto == "udp" {
			proto = ""
		}
		return query{kind: kindService, service: svc, tag: proto}, nil
	case !isSRV && !isProto: // tag.service
		return query{kind: kindService, service: second, tag: first}, nil
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
