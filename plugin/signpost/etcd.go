package signpost

import (
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	mwtls "github.com/coredns/coredns/plugin/pkg/tls"

	"github.com/signpost-dns/signpost/registry"
)

// parseEtcd reads the etcd block of the signpost block, with the option
// names of CoreDNS's own etcd plugin:
//
//	etcd {
//	    endpoint URL...
//	    path PREFIX
//	    credentials USER PASSWORD
//	    tls CERT KEY CACERT
//	}
func parseEtcd(c *caddy.Controller) (*registry.EtcdConfig, error) {
	if len(c.RemainingArgs()) != 0 {
		return nil, c.ArgErr()
	}
	ec := &registry.EtcdConfig{Prefix: registry.DefaultEtcdPrefix}
	for c.NextBlock() {
		switch c.Val() {
		case "endpoint":
			args := c.RemainingArgs()
			if len(args) == 0 {
				return nil, c.ArgErr()
			}
			for _, a := range args {
				if u, err := url.Parse(a); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					return nil, c.Errf("invalid etcd endpoint %q: want a URL such as http://127.0.0.1:2379", a)
				}
			}
			ec.Endpoints = args
		case "path":
			p, err := oneArg(c)
			if err != nil {
				return nil, err
			}
			if !strings.HasPrefix(p, "/") || p == "/" {
				return nil, c.Errf("invalid etcd path %q: want a key prefix such as /signpost", p)
			}
			ec.Prefix = strings.TrimSuffix(p, "/")
		case "credentials":
			args := c.RemainingArgs()
			if len(args) != 2 {
				return nil, c.Errf("credentials takes two arguments, the user and the password")
			}
			ec.Username, ec.Password = args[0], args[1]
		case "tls": // [CERT KEY] [CACERT]; none: the system's CAs
			args := c.RemainingArgs()
			if len(args) > 3 {
				return nil, c.ArgErr()
			}
			for i := range args {
				if root := dnsserver.GetConfig(c).Root; !filepath.IsAbs(args[i]) && root != "" {
					args[i] = filepath.Join(root, args[i])
				}
			}
			cfg, err := mwtls.NewTLSConfigFromArgs(args...)
			if err != nil {
				return nil, c.Errf("etcd tls: %v", err)
			}
			ec.TLS = cfg
		default:
			return nil, c.Errf("unknown property %q in etcd", c.Val())
		}
	}
	return ec, nil
}

// serverName names this server in the probe elections.
func serverName(api string) string {
	host, _ := os.Hostname()
	if api != "" {
		if _, port, err := net.SplitHostPort(api); err == nil {
			return host + ":" + port
		}
	}
	return host
}
