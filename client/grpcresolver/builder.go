// Package grpcresolver is a gRPC name resolver for Signpost: a gRPC client
// dialing "signpost:///web" gets the healthy instances of service web, and
// every change to them as soon as a Signpost server has it.
//
// Each resolver follows its service with the API's blocking queries
// (GET /v1/services/web?index=N&wait=...), so a registration, a
// deregistration or a health change reaches the balancer within one round
// trip, and no polling interval stands between a change and the traffic.
// Only instances that DNS would answer with get traffic: passing ones, and
// warning ones where the target asks for them.
//
// Targets:
//
//	signpost:///SERVICE                      the Builder's servers (WithServers)
//	signpost://HOST:PORT,HOST:PORT/SERVICE   these Signpost API servers instead
//	signpost:///SERVICE?tag=primary          only instances tagged primary
//	                                         (repeat tag to require several)
//	signpost:///SERVICE?warning=true         warning instances get traffic too
//
// The resolver asks the servers in turn: on a network error or a 5xx
// answer it moves on to the next, and after each round it waits with
// exponential backoff, bounded by the client's maximum. While no server
// answers, the balancer keeps the last instances it was given.
//
// The package is a module of its own, apart from the client module, so
// that programs using only the client do not have gRPC in their module
// graph.
package grpcresolver

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/client"
	"google.golang.org/grpc/resolver"
)

// Scheme is the URI scheme of Signpost dial targets.
const Scheme = "signpost"

// Defaults of the Builder.
const (
	// DefaultBackoff and DefaultMaxBackoff bound the pause between tries
	// after an error answer, on top of the client's own retries.
	DefaultBackoff    = 250 * time.Millisecond
	DefaultMaxBackoff = 10 * time.Second
)

// Builder builds the resolvers of signpost: targets. Pass it to
// grpc.NewClient with grpc.WithResolvers, or register it for every client
// of the process with Register.
type Builder struct {
	servers    []string
	clientOpts []client.Option
	tlsConfig  *tls.Config
	wait       time.Duration
	backoff    time.Duration
	maxBackoff time.Duration
}

// Option configures a Builder.
type Option func(*Builder)

// WithServers sets the Signpost API servers that targets without an
// authority (signpost:///SERVICE) ask, tried in order: URLs such as
// "https://10.0.0.2:8053" or just "10.0.0.2:8053". Without it they ask
// client.DefaultServer.
func WithServers(servers ...string) Option {
	return func(b *Builder) { b.servers = append([]string(nil), servers...) }
}

// WithToken sends "Authorization: Bearer token" to the servers, for
// servers that require the token for reads. A token never goes in a dial
// target, which gRPC logs.
func WithToken(token string) Option {
	return WithClientOptions(client.WithToken(token))
}

// WithTLSConfig has the resolvers reach the servers over HTTPS with cfg;
// server addresses given without a scheme then mean https.
func WithTLSConfig(cfg *tls.Config) Option { return func(b *Builder) { b.tlsConfig = cfg } }

// WithClientOptions configures the API client of every resolver: its
// timeouts and retries. Each resolver has
// an HTTP client of its own, whose connections it closes with itself; for
// TLS use WithTLSConfig rather than client.WithTLSConfig, which cannot be
// combined with it. A client.WithHTTPClient here replaces it, and its
// connections are then the caller's to close.
func WithClientOptions(opts ...client.Option) Option {
	return func(b *Builder) { b.clientOpts = append(b.clientOpts, opts...) }
}

// WithWait sets how long each blocking query may wait on the server for a
// change; the server caps it too. The default is client.DefaultWatchWait.
func WithWait(d time.Duration) Option { return func(b *Builder) { b.wait = d } }

// WithBackoff sets the pause after an answer that ends a blocking query
// with an error, such as a 401 or a 400 naming the service: it starts at
// base, doubles with each failure and stays below maxDelay, with jitter.
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(b *Builder) { b.backoff, b.maxBackoff = base, maxDelay }
}

// NewBuilder returns a Builder of resolvers for the signpost scheme.
func NewBuilder(opts ...Option) *Builder {
	b := &Builder{wait: client.DefaultWatchWait, backoff: DefaultBackoff, maxBackoff: DefaultMaxBackoff}
	for _, o := range opts {
		o(b)
	}
	if b.wait <= 0 {
		b.wait = client.DefaultWatchWait
	}
	return b
}

// Register registers a Builder with the options for the signpost scheme
// with gRPC, for every client of the process. Like resolver.Register, it
// must be called at initialization time, from an init function.
func Register(opts ...Option) { resolver.Register(NewBuilder(opts...)) }

// Scheme returns "signpost".
func (b *Builder) Scheme() string { return Scheme }

// Build starts a resolver of target, which reports the service's instances
// to cc until it is closed. A target that does not parse, or names a
// server that is no address, fails the dial.
func (b *Builder) Build(t resolver.Target, cc resolver.ClientConn, _ resolver.BuildOptions) (resolver.Resolver, error) {
	tg, err := parseTarget(t)
	if err != nil {
		return nil, fmt.Errorf("signpost resolver: target %q: %w", t.URL.String(), err)
	}
	servers := tg.servers
	if len(servers) == 0 {
		servers = b.servers
	}
	tr := newTransport(b.tlsConfig)
	opts := append([]client.Option{client.WithHTTPClient(&http.Client{Transport: tr})}, b.clientOpts...)
	c, err := client.New(b.withScheme(servers), opts...)
	if err != nil {
		return nil, fmt.Errorf("signpost resolver: target %q: %w", t.URL.String(), err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &signpostResolver{
		cc: cc, c: c, transport: tr, service: tg.service, filter: tg.filter,
		wait: b.wait, backoff: b.backoff, maxBackoff: b.maxBackoff,
		ctx: ctx, cancel: cancel,
		now:  make(chan struct{}, 1),
		done: make(chan struct{}),
	}
	go r.run()
	return r, nil
}

// withScheme gives server addresses without a scheme the one the Builder's
// TLS setting calls for.
func (b *Builder) withScheme(servers []string) []string {
	if b.tlsConfig == nil {
		return servers
	}
	out := make([]string, len(servers))
	for i, s := range servers {
		if !strings.Contains(s, "://") {
			s = "https://" + strings.TrimSpace(s)
		}
		out[i] = s
	}
	return out
}

// newTransport returns the HTTP transport of one resolver, with a timeout
// on every dial and handshake. The client gives each call its own
// deadline on top, longer for blocking queries.
func newTransport(cfg *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   5 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   2,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}
