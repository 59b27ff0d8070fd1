package signpost

import (
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strings"

	"github.com/coredns/caddy"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

func newAPIHandler(reg *registry.Registry, cfg apiConfig) http.Handler {
	return api.NewHandler(reg, api.Options{
		Token: cfg.token, TokenRead: cfg.tokenRead, CheckTargets: cfg.checkTargets, Logger: log,
		Explain: cfg.explain,
		Consul:  cfg.consul,
	})
}

// explainFunc is what the API calls to explain a service's answers; the
// plugin's explainer provides it.
type explainFunc = api.ExplainFunc

// consulOptions configures the Consul-compatible API (consul-api).
type consulOptions = api.ConsulOptions

// parseConsulAPI reads "consul-api [DATACENTER]". The node is the server:
// its host name, and the api address when that is one IP.
func parseConsulAPI(c *caddy.Controller, prev *consulOptions) (*consulOptions, error) {
	if prev != nil {
		return nil, c.Err("consul-api is given twice")
	}
	args := c.RemainingArgs()
	if len(args) > 1 {
		return nil, c.ArgErr()
	}
	opts := &consulOptions{NodeName: consulNodeName()}
	if len(args) == 1 {
		dc := strings.ToLower(args[0])
		if err := registry.ValidateLabel("datacenter", dc); err != nil {
			return nil, c.Errf("invalid consul-api datacenter: %v", err)
		}
		if slices.Contains(consulTypeLabels, dc) {
			return nil, c.Errf("invalid consul-api datacenter %q: a label Consul's names use for a lookup type", dc)
		}
		opts.Datacenter = dc
	}
	return opts, nil
}

// consulNodeName is the name of the node the Consul API reports: the
// server's host name.
func consulNodeName() string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return api.DefaultConsulNodeName
}

// finishConsulAPI completes the consul-api settings once the block is
// read: it needs the api address, takes the node's address from it, and
// shares its datacenter with consul-names.
func (cfg *config) finishConsulAPI(c *caddy.Controller) error {
	opts := cfg.api.consul
	if opts == nil {
		return nil
	}
	if cfg.api.addr == "" {
		return c.Err("consul-api needs an api address: it is served on the api listener")
	}
	if host, _, err := net.SplitHostPort(cfg.api.addr); err == nil {
		if a, err := netip.ParseAddr(host); err == nil && !a.IsUnspecified() {
			opts.NodeAddress = a.Unmap()
		}
	}
	if cn := cfg.opts.consul; cn != nil {
		switch {
		case opts.Datacenter == "":
			opts.Datacenter = cn.dc
		case opts.Datacenter != cn.dc:
			return c.Errf("consul-api datacenter %q differs from consul-names datacenter %q: the server stands for one datacenter",
				opts.Datacenter, cn.dc)
		}
	}
	return nil
}
