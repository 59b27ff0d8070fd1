package signpost

import (
	"encoding/hex"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	"github.com/coredns/caddy"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/registry"
)

// Consul's DNS names, served from the same registry by the same engine:
// in the Consul domain (consul. by default) a name is parsed into the same
// query as a name in a Signpost zone, and from there on nothing tells them
// apart but the SRV targets, which are Consul's own <hex>.addr.<dc>.<domain>.
// An application that resolves Consul names moves to Signpost by changing
// its resolver address only.
//
//	[<tag>.]<service>.service[.<dc>].<domain>
//	_<service>._tcp|_udp|_<tag>[.service][.<dc>].<domain>   (RFC 2782)
//	<hex-address>.addr[.<dc>].<domain>                       (SRV targets)
//
// where the datacenter may also be written <dc>.dc, as Consul allows. A
// datacenter other than the configured one, Consul's node and
// prepared-query names, and anything else is NXDOMAIN.

// Defaults of the consul-names option.
const (
	defaultConsulDomain     = "consul."
	defaultConsulDatacenter = "dc1"
)

// The labels Consul gives a meaning to below its domain; a datacenter
// named like one of them could not be told apart from it.
var consulTypeLabels = []string{"service", "node", "query", "addr", "connect", "ingress", "virtual", "dc", "peer", "ns", "ap", "sg"}

// consulNames is where Consul's names are answered: the domain, one of the
// plugin's zones, and the datacenter this server stands for.
type consulNames struct {
	domain string // fully qualified, lowercased
	dc     string // lowercased
}

// newConsulNames checks a domain, already one of the plugin's zones, and
// a datacenter name.
func newConsulNames(domain, dc string) (*consulNames, error) {
	dc, err := consulDatacenter(dc)
	if err != nil {
		return nil, err
	}
	return &consulNames{domain: domain, dc: dc}, nil
}

// consulDatacenter checks a datacenter name and returns it lowercased: a
// DNS label that Consul's names do not use for something else.
func consulDatacenter(dc string) (string, error) {
	dc = strings.ToLower(dc)
	if err := registry.ValidateLabel("datacenter", dc); err != nil {
		return "", err
	}
	if slices.Contains(consulTypeLabels, dc) {
		return "", fmt.Errorf("datacenter %q is a label Consul's names use for a lookup type", dc)
	}
	return dc, nil
}

// parseConsulNames reads "consul-names [DOMAIN [DATACENTER]]". DOMAIN must
// be one of zones, the plugin's zones, so that its queries reach the plugin.
// Without DATACENTER the datacenter is settled once the block is read (see
// finishConsulNames).
func parseConsulNames(c *caddy.Controller, zones []string) (*consulNames, error) {
	args := c.RemainingArgs()
	if len(args) > 2 {
		return nil, c.ArgErr()
	}
	cn := &consulNames{domain: defaultConsulDomain}
	if len(args) > 0 {
		cn.domain = dns.Fqdn(strings.ToLower(args[0]))
		if _, ok := dns.IsDomainName(cn.domain); !ok {
			return nil, c.Errf("invalid consul-names domain %q", args[0])
		}
	}
	if !slices.Contains(zones, cn.domain) {
		return nil, c.Errf("consul-names domain %s is not a zone of this server block (it serves %s): add it to the block's zones, as in \"svc.internal:53 %s:53 {\"",
			cn.domain, strings.Join(zones, " "), strings.TrimSuffix(cn.domain, "."))
	}
	if len(args) > 1 {
		dc, err := consulDatacenter(args[1])
		if err != nil {
			return nil, c.Errf("invalid consul-names datacenter: %v", err)
		}
		cn.dc = dc
	}
	return cn, nil
}

// finishConsulNames settles the datacenter of consul-names given without
// one: consul-api's, so that the server stands for one datacenter in DNS
// and over HTTP, else dc1. (finishConsulAPI, after it, refuses two that
// differ.)
func (cfg *config) finishConsulNames() {
	cn := cfg.opts.consul
	if cn == nil || cn.dc != "" {
		return
	}
	cn.dc = defaultConsulDatacenter
	if a := cfg.api.consul; a != nil && a.Datacenter != "" {
		cn.dc = a.Datacenter
	}
}

// parse maps a lowercased query name inside the Consul domain to what it
// asks for, as parseName does for a Signpost zone.
func (cn *consulNames) parse(name string) (query, error) {
	rest := strings.TrimSuffix(strings.TrimSuffix(name, cn.domain), ".")
	if rest == "" {
		return query{kind: kindApex}, nil
	}
	// The datacenter: <dc>, or Consul's explicit <dc>.dc.
	switch r, last := cutLastLabel(rest); {
	case rest == "dc" || rest == cn.dc || rest == cn.dc+".dc":
		return query{kind: kindENT}, nil // names are below them
	case last == cn.dc:
		rest = r
	case last == "dc":
		if r, dc := cutLastLabel(r); dc == cn.dc {
			rest = r
		}
	}
	r, last := cutLastLabel(rest)
	switch {
	case last == "service":
		if r == "" {
			return query{kind: kindENT}, nil
		}
		return parseServiceLabels(r)
	case last == addrLabel:
		if r == "" {
			return query{kind: kindENT}, nil
		}
		addr, ok := parseConsulAddrLabel(r)
		if !ok {
			return query{}, errNameNotFound
		}
		return query{kind: kindAddr, addr: addr}, nil
	case strings.HasPrefix(last, "_"):
		// Consul's RFC 2782 form may leave the service label out:
		// _<service>._tcp[.<dc>].<domain>, and _tcp[.<dc>].<domain> above it.
		return parseServiceLabels(rest)
	}
	// An unknown datacenter, a node or prepared-query name, or nothing
	// Consul would answer either.
	return query{}, errNameNotFound
}

// target is the SRV target and glue owner for address a:
// <hex>.addr.<dc>.<domain>, as Consul writes it.
func (cn *consulNames) target(a netip.Addr) string {
	return consulAddrLabel(a) + "." + addrLabel + "." + cn.dc + "." + cn.domain
}

// cutLastLabel splits the rightmost label off a relative name.
func cutLastLabel(s string) (rest, last string) {
	i := strings.LastIndexByte(s, '.')
	if i < 0 {
		return "", s
	}
	return s[:i], s[i+1:]
}

// consulAddrLabel is Consul's label for an address: its bytes in
// lowercase hex, 0a000005 for 10.0.0.5, 32 digits for an IPv6 address.
func consulAddrLabel(a netip.Addr) string {
	return hex.EncodeToString(a.AsSlice())
}

// parseConsulAddrLabel is the inverse of consulAddrLabel. An IPv4 address
// mapped into IPv6 has only its IPv4 label, so that one address has one
// name.
func parseConsulAddrLabel(l string) (netip.Addr, bool) {
	if len(l) != 2*4 && len(l) != 2*16 {
		return netip.Addr{}, false
	}
	b, err := hex.DecodeString(l)
	if err != nil {
		return netip.Addr{}, false
	}
	a, _ := netip.AddrFromSlice(b)
	return a, !a.Is4In6()
}

// parse maps a lowercased query name inside zone to what it asks for: in
// Consul's names where zone is the Consul domain, else in Signpost's.
func (sp *Signpost) parse(name, zone string) (query, error) {
	if cn := sp.opts.consul; cn != nil && zone == cn.domain {
		return cn.parse(name)
	}
	return parseName(name, zone)
}

// target is the SRV target and glue owner for address a in zone.
func (sp *Signpost) target(a netip.Addr, zone string) string {
	if cn := sp.opts.consul; cn != nil && zone == cn.domain {
		return cn.target(a)
	}
	return targetName(a, zone)
}
