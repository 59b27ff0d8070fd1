package signpost

import (
	"crypto/tls"
	"fmt"
	"math"
	"net"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/plugin"
	clog "github.com/coredns/coredns/plugin/pkg/log"
	"github.com/coredns/coredns/plugin/pkg/upstream"
	"github.com/miekg/dns"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

var log = clog.NewWithPlugin("signpost")

func init() { plugin.Register("signpost", setup) }

// Defaults of the Corefile settings.
const (
	defaultTTL         = 5 * time.Second
	defaultNegativeTTL = 5 * time.Second
	maxTTL             = 24 * time.Hour
)

// config is everything the Corefile says to the plugin.
type config struct {
	zones  []string
	opts   options
	regCfg registry.Config
	static []registry.StaticService
	api    apiConfig
	sp     Signpost // Fall
	// dataDir persists the registry; empty keeps it in memory only.
	dataDir string
	// etcd shares the registry through etcd; nil for none.
	etcd *registry.EtcdConfig
	// cacheSize is the number of packed answers kept; 0 disables the cache.
	cacheSize int
}

// apiConfig configures the HTTP registration API.
type apiConfig struct {
	addr      string
	pos       string // file:line of the api property, for errors
	token     string
	tokenRead bool
	tls       *tls.Config
	// checkTargets are where checks registered through the API may probe
	// besides their own instance's address.
	checkTargets []netip.Prefix
	// explain answers GET /v1/explain/{service}.
	explain explainFunc
	// consul serves the Consul-compatible API on the api listener; nil
	// for none.
	consul *consulOptions
}

func setup(c *caddy.Controller) error {
	cfg, err := parse(c)
	if err != nil {
		return plugin.Error("signpost", err)
	}
	if err := claimAPI(c, apiClaim{addr: cfg.api.addr, pos: cfg.api.pos}); err != nil {
		return plugin.Error("signpost", err)
	}
	key := registryKey(cfg)
	reg, err := getRegistry(key, cfg)
	if err != nil {
		return plugin.Error("signpost", err)
	}
	sp := &Signpost{Zones: cfg.zones, Fall: cfg.sp.Fall, reg: reg, upstream: upstream.New(), opts: cfg.opts}
	cfg.api.explain = newExplainer(sp, key).explain
	setAnswerTTL(key, cfg.opts.ttl)
	if cfg.cacheSize > 0 {
		sp.cache = newAnswerCache(cfg.cacheSize)
	}
	api := &apiServer{cfg: cfg.api, reg: reg}
	targets := claimCheckTargets(c, key, cfg.api.checkTargets)

	startup := func() error {
		if err := reg.ApplyStatic(cfg.static); err != nil {
			return plugin.Error("signpost", err)
		}
		if err := api.start(); err != nil {
			return plugin.Error("signpost", err)
		}
		return nil
	}
	c.OnStartup(func() error {
		setCheckTargets(key, targets.prefixes) // before the first probe
		acquireRegistry(key)
		return startup()
	})
	c.OnRestart(api.stop)
	c.OnRestartFailed(func() error {
		setCheckTargets(key, targets.prefixes)
		return startup()
	})
	c.OnShutdown(func() error {
		err := api.stop()
		releaseRegistry(key)
		return err
	})

	dnsserver.GetConfig(c).UDPDecorateWriterFunc = badversDecorator
	dnsserver.GetConfig(c).AddPlugin(func(next plugin.Handler) plugin.Handler {
		sp.Next = next
		return sp
	})
	return nil
}

func parse(c *caddy.Controller) (*config, error) {
	cfg := &config{
		opts:      options{ttl: uint32(defaultTTL.Seconds()), negativeTTL: uint32(defaultNegativeTTL.Seconds())},
		regCfg:    registry.Config{Logger: log, OnLapse: observeLapse},
		cacheSize: defaultCacheSize,
	}
	for i := 0; c.Next(); i++ {
		if i > 0 {
			return nil, plugin.ErrOnce
		}
		cfg.zones = plugin.OriginsFromArgsOrServerBlock(c.RemainingArgs(), c.ServerBlockKeys)
		for c.NextBlock() {
			if err := cfg.parseProperty(c); err != nil {
				return nil, err
			}
		}
	}
	if (cfg.api.token != "" || cfg.api.tls != nil) && cfg.api.addr == "" {
		return nil, c.Err("token and tls need an api address")
	}
	cfg.finishConsulNames()
	if err := cfg.finishConsulAPI(c); err != nil {
		return nil, err
	}
	if cfg.etcd != nil && cfg.dataDir != "" {
		return nil, c.Err("data and etcd cannot be combined: the registry lives either in a data directory or in etcd")
	}
	if cfg.etcd != nil {
		cfg.etcd.Name = serverName(cfg.api.addr)
	}
	return cfg, nil
}

func (cfg *config) parseProperty(c *caddy.Controller) error {
	var err error
	switch c.Val() {
	case "api":
		cfg.api.pos = fmt.Sprintf("%s:%d", c.File(), c.Line())
		cfg.api.addr, err = parseHostPort(c)
	case "token":
		cfg.api.token, err = oneArg(c)
	case "token-file":
		cfg.api.token, err = parseTokenFile(c)
	case "consul-api":
		cfg.api.consul, err = parseConsulAPI(c, cfg.api.consul)
	case "token-read":
		cfg.api.tokenRead, err = parseOnOff(c)
	case "tls":
		cfg.api.tls, err = parseTLS(c)
	case "check-targets":
		cfg.api.checkTargets, err = parseCheckTargets(c, cfg.api.checkTargets)
	case "ttl":
		cfg.opts.ttl, err = parseTTL(c)
	case "negative-ttl":
		cfg.opts.negativeTTL, err = parseTTL(c)
	case "max-answers":
		cfg.opts.maxAnswers, err = parseInt(c, 0, math.MaxUint16)
	case "answer-cache":
		cfg.cacheSize, err = parseInt(c, 0, 10_000_000)
	case "events":
		cfg.regCfg.Events, err = parseInt(c, 1, 1_000_000)
	case "serve-warning":
		if c.NextArg() {
			return c.ArgErr()
		}
		cfg.opts.serveWarning = true
		cfg.regCfg.ServeWarning = true
	case "data":
		cfg.dataDir, err = oneArg(c)
	case "etcd":
		cfg.etcd, err = parseEtcd(c)
	case "heartbeat-grace":
		cfg.regCfg.HeartbeatGrace, err = parseDuration(c, time.Second, 24*time.Hour)
	case "deregister-after":
		cfg.regCfg.DeregisterAfter, err = parseDuration(c, time.Second, 365*24*time.Hour)
	case "self-preservation":
		err = cfg.parseSelfPreservation(c)
	case "fallthrough":
		cfg.sp.Fall.SetZonesFromArgs(c.RemainingArgs())
	case "consul-names":
		if cfg.opts.consul != nil {
			return c.Err("consul-names is given twice")
		}
		cfg.opts.consul, err = parseConsulNames(c, cfg.zones)
	case "service":
		var s registry.StaticService
		if s, err = parseService(c, cfg.static); err == nil {
			cfg.static = append(cfg.static, s)
		}
	default:
		return c.Errf("unknown property %q", c.Val())
	}
	return err
}

func oneArg(c *caddy.Controller) (string, error) {
	args := c.RemainingArgs()
	if len(args) != 1 {
		return "", c.ArgErr()
	}
	return args[0], nil
}

func parseHostPort(c *caddy.Controller) (string, error) {
	addr, err := oneArg(c)
	if err != nil {
		return "", err
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return "", c.Errf("invalid address %q: %v", addr, err)
	}
	return addr, nil
}

func parseTokenFile(c *caddy.Controller) (string, error) {
	path, err := oneArg(c)
	if err != nil {
		return "", err
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", c.Errf("reading token-file: %v", err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" {
		return "", c.Errf("token-file %s is empty", path)
	}
	return tok, nil
}

func parseOnOff(c *caddy.Controller) (bool, error) {
	name := c.Val()
	v, err := oneArg(c)
	if err != nil {
		return false, err
	}
	switch v {
	case "on":
		return true, nil
	case "off":
		return false, nil
	}
	return false, c.Errf("%s takes on or off, not %q", name, v)
}

func parseTLS(c *caddy.Controller) (*tls.Config, error) {
	args := c.RemainingArgs()
	if len(args) != 2 {
		return nil, c.ArgErr()
	}
	cert, err := tls.LoadX509KeyPair(args[0], args[1])
	if err != nil {
		return nil, c.Errf("loading tls certificate: %v", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// parseCheckTargets reads "check-targets CIDR...", adding to the prefixes
// of earlier lines. A bare IP stands for itself.
func parseCheckTargets(c *caddy.Controller, prefixes []netip.Prefix) ([]netip.Prefix, error) {
	args := c.RemainingArgs()
	if len(args) == 0 {
		return nil, c.ArgErr()
	}
	for _, a := range args {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			addr, aerr := netip.ParseAddr(a)
			if aerr != nil || addr.Zone() != "" {
				return nil, c.Errf("invalid check-targets %q: want a CIDR prefix such as 10.0.0.0/8 or an IP address", a)
			}
			p = netip.PrefixFrom(addr, addr.BitLen())
		}
		p = p.Masked()
		if p.Addr().Is4In6() {
			// Probes connect to IPv4 addresses as IPv4: a mapped prefix would
			// never match.
			return nil, c.Errf("invalid check-targets %q: write IPv4 prefixes as IPv4, such as 10.0.0.0/8", a)
		}
		prefixes = append(prefixes, p)
	}
	return prefixes, nil
}

func parseDuration(c *caddy.Controller, min, max time.Duration) (time.Duration, error) {
	name := c.Val()
	v, err := oneArg(c)
	if err != nil {
		return 0, err
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, c.Errf("invalid %s %q: not a duration such as 5s", name, v)
	}
	if d < min || d > max {
		return 0, c.Errf("invalid %s %q: must be between %s and %s", name, v, min, max)
	}
	return d, nil
}

// parseTTL reads a DNS TTL as a duration of whole seconds.
func parseTTL(c *caddy.Controller) (uint32, error) {
	name := c.Val()
	d, err := parseDuration(c, 0, maxTTL)
	if err != nil {
		return 0, err
	}
	if d%time.Second != 0 {
		return 0, c.Errf("invalid %s %q: not a whole number of seconds (DNS TTLs are whole seconds)", name, c.Val())
	}
	return uint32(d / time.Second), nil
}

func parseInt(c *caddy.Controller, min, max int) (int, error) {
	name := c.Val()
	v, err := oneArg(c)
	if err != nil {
		return 0, err
	}
	return atoi(c, name, v, min, max)
}

func atoi(c *caddy.Controller, name, v string, min, max int) (int, error) {
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		return 0, c.Errf("invalid %s %q: must be a whole number from %d to %d", name, v, min, max)
	}
	return n, nil
}

// parseSelfPreservation reads "self-preservation SHARE [MIN]"; a share of 0
// turns self-preservation off.
func (cfg *config) parseSelfPreservation(c *caddy.Controller) error {
	args := c.RemainingArgs()
	if len(args) < 1 || len(args) > 2 {
		return c.ArgErr()
	}
	share, err := strconv.ParseFloat(args[0], 64)
	if err != nil || share < 0 || share > 1 || math.IsNaN(share) {
		return c.Errf("invalid self-preservation share %q: must be a number from 0 to 1", args[0])
	}
	if share == 0 {
		share = -1 // the registry reads 0 as "default"
	}
	cfg.regCfg.SelfPreservation = share
	if len(args) == 2 {
		cfg.regCfg.SelfPreservationMin, err = atoi(c, "self-preservation minimum", args[1], 1, math.MaxInt32)
	}
	return err
}

// parseService reads a "service NAME { ... }" block; declared are the
// services read before it.
func parseService(c *caddy.Controller, declared []registry.StaticService) (registry.StaticService, error) {
	var s registry.StaticService
	name, err := oneArg(c)
	if err != nil {
		return s, err
	}
	if err := registry.ValidateLabel("service", name); err != nil {
		return s, c.Errf("invalid service: %v", err)
	}
	if slices.ContainsFunc(declared, func(o registry.StaticService) bool { return o.Config.Name == name }) {
		return s, c.Errf("service %s is declared twice", name)
	}
	s.Config = registry.ServiceConfig{Name: name, Source: registry.SourceCorefile}
	var check string                 // the service's check, for each of its instances
	ids := make(map[string]struct{}) // the instance IDs read so far
	for c.NextBlock() {
		switch c.Val() {
		case "instance":
			in, err := parseInstance(c, name)
			if err != nil {
				return s, err
			}
			if _, dup := ids[in.ID]; dup {
				return s, c.Errf("instance %s is declared twice", in.ID)
			}
			ids[in.ID] = struct{}{}
			s.Instances = append(s.Instances, in)
		case "failover":
			if s.Config.Failover, err = parseFailover(c); err != nil {
				return s, err
			}
		case "min-healthy":
			if s.Config.MinHealthy, err = parseInt(c, 0, math.MaxInt32); err != nil {
				return s, err
			}
		case "check":
			if check != "" {
				return s, c.Errf("service %s has more than one check", name)
			}
			hc, err := healthcheck.ParseArgs(c.RemainingArgs())
			if err != nil {
				return s, c.Errf("invalid check: %v", err)
			}
			check = healthcheck.SpecOf(hc).Encode()
		default:
			return s, c.Errf("unknown property %q in service %s", c.Val(), name)
		}
	}
	for i := range s.Instances {
		s.Instances[i].Check = check
	}
	return s, nil
}

// parseInstance reads "instance ID ADDRESS:PORT [tags TAG...] [weight N]".
func parseInstance(c *caddy.Controller, service string) (registry.Instance, error) {
	args := c.RemainingArgs()
	if len(args) < 2 {
		return registry.Instance{}, c.ArgErr()
	}
	ap, err := netip.ParseAddrPort(args[1])
	if err != nil {
		return registry.Instance{}, c.Errf("invalid instance address %q: want IP:PORT, such as 10.0.0.5:3306 or [2001:db8::5]:3306", args[1])
	}
	in := registry.Instance{
		Service: service, ID: args[0], Address: ap.Addr(), Port: ap.Port(),
		Weight: registry.DefaultWeight, Source: registry.SourceCorefile,
	}
	if err := in.Validate(); err != nil {
		return in, c.Errf("invalid instance %s: %v", args[0], err)
	}
	for rest := args[2:]; len(rest) > 0; {
		switch rest[0] {
		case "tags":
			n := 1
			for n < len(rest) && rest[n] != "weight" {
				n++
			}
			in.Tags = append(in.Tags, rest[1:n]...)
			rest = rest[n:]
		case "weight":
			if len(rest) < 2 {
				return in, c.ArgErr()
			}
			w, err := atoi(c, "weight", rest[1], 0, math.MaxUint16)
			if err != nil {
				return in, err
			}
			in.Weight, rest = uint16(w), rest[2:]
		default:
			return in, c.Errf("unknown instance option %q, want tags or weight", rest[0])
		}
	}
	if err := in.Validate(); err != nil {
		return in, c.Errf("invalid instance %s: %v", in.ID, err)
	}
	return in, nil
}

// parseFailover reads "failover ADDRESS[:PORT]..." or "failover cname NAME".
func parseFailover(c *caddy.Controller) (registry.Failover, error) {
	var fo registry.Failover
	args := c.RemainingArgs()
	if len(args) == 0 {
		return fo, c.ArgErr()
	}
	if args[0] == "cname" {
		if len(args) != 2 {
			return fo, c.ArgErr()
		}
		name := dns.Fqdn(strings.ToLower(args[1]))
		if _, ok := dns.IsDomainName(name); !ok {
			return fo, c.Errf("invalid failover name %q", args[1])
		}
		fo.Name = name
		return fo, nil
	}
	for _, a := range args {
		addr, port, err := parseAddrMaybePort(a)
		if err != nil || addr.Zone() != "" {
			return fo, c.Errf("invalid failover address %q: want an IP, IP:PORT or cname NAME", a)
		}
		if port != 0 && fo.Port != 0 && port != fo.Port {
			return fo, c.Errf("failover addresses must share one port")
		}
		fo.Addrs = append(fo.Addrs, addr)
		fo.Port = max(fo.Port, port)
	}
	return fo, nil
}

func parseAddrMaybePort(s string) (netip.Addr, uint16, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Port() == 0 {
			return netip.Addr{}, 0, fmt.Errorf("port 0")
		}
		return ap.Addr(), ap.Port(), nil
	}
	a, err := netip.ParseAddr(s)
	return a, 0, err
}
