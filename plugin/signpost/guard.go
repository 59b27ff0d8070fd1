package signpost

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/coredns/caddy"
)

// One API address serves one registry. Two server blocks of a Corefile that
// name the same address are a Corefile error, found while the Corefile is
// read; a second process on the address fails at start-up, because the API
// listener, unlike CoreDNS's DNS listeners, is opened without SO_REUSEPORT:
// with it the kernel would split registrations between two registries.

// apiClaim is where a server block of the Corefile being loaded put its API.
type apiClaim struct {
	addr string
	pos  string // file:line of the api line
}

// apiClaimsKey keys the claims in the caddy instance's storage, which lives
// as long as one load of the Corefile: a reload starts with none.
type apiClaimsKey struct{}

// claimAPI records the API address of the server block being set up, and
// refuses it when another block of the same Corefile already serves an API
// there.
func claimAPI(c *caddy.Controller, claim apiClaim) error {
	if claim.addr == "" {
		return nil
	}
	claims, _ := c.Get(apiClaimsKey{}).([]apiClaim)
	for _, prev := range claims {
		if sameListenAddr(prev.addr, claim.addr) {
			return fmt.Errorf("%s: api %s is already the API of the signpost block at %s: "+
				"one address serves one registry, give each server block its own api address or one signpost block",
				claim.pos, claim.addr, prev.pos)
		}
	}
	c.Set(apiClaimsKey{}, append(claims, claim))
	return nil
}

// sameListenAddr reports whether listeners on a and b would take the same
// port: the same port on the same host, or on a wildcard host.
func sameListenAddr(a, b string) bool {
	ha, pa, errA := net.SplitHostPort(a)
	hb, pb, errB := net.SplitHostPort(b)
	if errA != nil || errB != nil || pa != pb {
		return a == b
	}
	return strings.EqualFold(ha, hb) || wildcardHost(ha) || wildcardHost(hb)
}

func wildcardHost(h string) bool {
	if h == "" {
		return true
	}
	a, err := netip.ParseAddr(h)
	return err == nil && a.IsUnspecified()
}

// registryKey names the registry that a signpost block serves, so that a
// reload finds it again whatever else changed in the Corefile. Its etcd
// endpoints and path name a shared registry. A data directory is the registry's identity when there is one (the file can be
// opened once); otherwise the API address is, since everything registered
// came through it. A block with neither holds only Corefile services, which a
// reload declares again, and is keyed by its zones.
func registryKey(cfg *config) string {
	switch {
	case cfg.etcd != nil:
		endpoints := cfg.etcd.Endpoints
		if len(endpoints) == 0 {
			endpoints = []string{"default"}
		}
		return "etcd:" + strings.Join(endpoints, ",") + cfg.etcd.Prefix
	case cfg.dataDir != "":
		return "data:" + filepath.Clean(cfg.dataDir)
	case cfg.api.addr != "":
		return "api:" + cfg.api.addr
	}
	return "zones:" + strings.Join(cfg.zones, ",")
}
