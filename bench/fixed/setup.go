package fixed

import (
	"net"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
)

// defaultIP is the address answered when the Corefile names none.
var defaultIP = net.IPv4(10, 0, 0, 1).To4()

func init() { plugin.Register("fixed", setup) }

func setup(c *caddy.Controller) error {
	ip, err := parse(c)
	if err != nil {
		return plugin.Error("fixed", err)
	}
	dnsserver.GetConfig(c).AddPlugin(func(plugin.Handler) plugin.Handler {
		return &Fixed{IP: ip}
	})
	return nil
}

// parse reads `fixed [ADDRESS]`, ADDRESS an IPv4 address.
func parse(c *caddy.Controller) (net.IP, error) {
	c.Next() // "fixed"
	args := c.RemainingArgs()
	switch len(args) {
	case 0:
		return defaultIP, nil
	case 1:
		ip := net.ParseIP(args[0]).To4()
		if ip == nil {
			return nil, c.Errf("not an IPv4 address: %q", args[0])
		}
		return ip, nil
	default:
		return nil, c.ArgErr()
	}
}
