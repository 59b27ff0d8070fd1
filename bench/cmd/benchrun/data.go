package main

import (
	"bytes"
	"fmt"
	"net/netip"
	"strings"
)

const (
	zone = "svc.internal."
	port = 8080
	ttl  = 5 // the TTL of every record, Signpost's default
)

// dataset is the registry every system serves: services svc1..svcN, each
// with the same number of IPv4 instances on port 8080.
type dataset struct {
	services []service
}

type service struct {
	name  string       // "svc1"
	addrs []netip.Addr // one per instance
}

// validateSize checks that addrFor can give every instance its own address.
func validateSize(services, instances int) error {
	if services < 1 || services > 250*256 {
		return fmt.Errorf("-services must be 1 to %d", 250*256)
	}
	if instances < 1 || instances > 256 {
		return fmt.Errorf("-instances must be 1 to 256")
	}
	return nil
}

func newDataset(services, instances int) dataset {
	d := dataset{services: make([]service, services)}
	for s := range d.services {
		svc := service{name: fmt.Sprintf("svc%d", s+1)}
		for k := range instances {
			svc.addrs = append(svc.addrs, addrFor(s, k))
		}
		d.services[s] = svc
	}
	return d
}

// addrFor is the address of instance k of service s (both from 0):
// 10.k.(s/250).(s%250+1), unique and never ending in .0.
func addrFor(s, k int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(k), byte(s / 250), byte(s%250 + 1)})
}

// fqdn is the service's name in the zone, as Signpost serves it.
func (s service) fqdn() string { return s.name + "." + zone }

// target is the SRV target Signpost gives an address: 10-0-0-5.addr.<zone>.
func target(a netip.Addr) string {
	return strings.ReplaceAll(a.String(), ".", "-") + ".addr." + zone
}

// hostsFile is the data set in /etc/hosts form, for CoreDNS's hosts plugin.
func (d dataset) hostsFile() []byte {
	var b bytes.Buffer
	for _, s := range d.services {
		for _, a := range s.addrs {
			fmt.Fprintf(&b, "%s %s\n", a, s.fqdn())
		}
	}
	return b.Bytes()
}

// zoneFile is the data set as a zone for CoreDNS's file plugin, with the
// names and records Signpost answers with: A at the service name, SRV at
// the service name and at its RFC 2782 name, and A for every SRV target.
func (d dataset) zoneFile() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "$ORIGIN %s\n$TTL %d\n", zone, ttl)
	fmt.Fprintf(&b, "@ IN SOA ns.%s hostmaster.%s 1 3600 600 86400 %d\n", zone, zone, ttl)
	fmt.Fprintf(&b, "@ IN NS ns.%s\nns IN A 127.0.0.1\n", zone)
	for _, s := range d.services {
		for _, a := range s.addrs {
			fmt.Fprintf(&b, "%s IN A %s\n", s.fqdn(), a)
			fmt.Fprintf(&b, "%s IN SRV 0 1 %d %s\n", s.fqdn(), port, target(a))
			fmt.Fprintf(&b, "_%s._tcp.%s IN SRV 0 1 %d %s\n", s.name, zone, port, target(a))
			fmt.Fprintf(&b, "%s IN A %s\n", target(a), a)
		}
	}
	return b.Bytes()
}

// queryFile is a dnsperf input that asks qtype of every service in turn.
func (d dataset) queryFile(qtype string) []byte {
	var b bytes.Buffer
	for _, s := range d.services {
		fmt.Fprintf(&b, "%s %s\n", strings.TrimSuffix(s.fqdn(), "."), qtype)
	}
	return b.Bytes()
}
