// Package client is a Go client of Signpost's HTTP registration API: register
// an instance, renew its lease (or the leases of many instances in one call,
// Heartbeats), deregister it, list services and follow one with blocking
// queries, and save or restore a backup of the registrations.
//
// A Client knows one or more servers. A call goes to the server that last
// answered; on a network error or a 5xx answer it moves on to the next one,
// and after trying each it waits with exponential backoff and jitter before
// the next round. A 4xx answer is final and comes back as an *Error. Calls
// reuse their connections (HTTP keep-alive): every answer is read to its
// end, so that a sidecar renewing a lease every few seconds keeps one
// connection open.
//
// The package imports no server package, so a service embedding it pulls in
// nothing but the standard library.
package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Defaults of the options.
const (
	DefaultServer     = "http://127.0.0.1:8053"
	DefaultTimeout    = 10 * time.Second
	DefaultWatchWait  = 5 * time.Minute
	DefaultBackoff    = 100 * time.Millisecond
	DefaultMaxBackoff = 2 * time.Second
)

// Client calls the API of a set of Signpost servers. It is safe for
// concurrent use.
type Client struct {
	servers   []string // base URLs without a trailing slash
	token     string
	hc        *http.Client
	tlsConfig *tls.Config
	timeout   time.Duration
	watchWait time.Duration
	attempts  int
	backoff   time.Duration
	maxBack   time.Duration
	preferred atomic.Uint32 // index of the server that answered last
}

// Option configures a Client.
type Option func(*Client)

// WithToken sends "Authorization: Bearer token" with every call.
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithTimeout bounds each attempt of a call; a blocking query gets its wait
// on top. The default is DefaultTimeout.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithHTTPClient makes calls through hc instead of a client of the package's
// own. Its Timeout, if any, must leave room for blocking queries.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTLSConfig sets the TLS configuration of the package's own HTTP client,
// and makes https the scheme of server addresses given without one. It
// cannot be combined with WithHTTPClient.
func WithTLSConfig(cfg *tls.Config) Option { return func(c *Client) { c.tlsConfig = cfg } }

// WithRetry sets how many attempts a call makes in all, across servers, and
// the backoff between rounds over the servers: it starts at base, doubles
// each round and stays below maxDelay, with random jitter.
func WithRetry(attempts int, base, maxDelay time.Duration) Option {
	return func(c *Client) { c.attempts, c.backoff, c.maxBack = attempts, base, maxDelay }
}

// WithWatchWait sets how long each blocking query of Watch may wait on the
// server; the server caps it too. The default is DefaultWatchWait.
func WithWatchWait(d time.Duration) Option { return func(c *Client) { c.watchWait = d } }

// New returns a client of the given servers, tried in order. An address is
// a URL such as "http://10.0.0.2:8053" or just "10.0.0.2:8053". With no
// servers, it uses DefaultServer.
func New(servers []string, opts ...Option) (*Client, error) {
	c := &Client{timeout: DefaultTimeout, watchWait: DefaultWatchWait, backoff: DefaultBackoff, maxBack: DefaultMaxBackoff}
	for _, o := range opts {
		o(c)
	}
	if c.hc != nil && c.tlsConfig != nil {
		return nil, errors.New("client: WithTLSConfig and WithHTTPClient cannot be combined; set the TLS config on the HTTP client's transport")
	}
	if len(servers) == 0 {
		servers = []string{DefaultServer}
	}
	for _, s := range servers {
		base, err := c.parseServer(s)
		if err != nil {
			return nil, err
		}
		c.servers = append(c.servers, base)
	}
	if c.attempts <= 0 {
		c.attempts = max(4, 2*len(c.servers))
	}
	if c.hc == nil {
		c.hc = &http.Client{Transport: newTransport(c.tlsConfig)}
	}
	return c, nil
}

// parseServer checks a server address and returns it as a base URL.
func (c *Client) parseServer(s string) (string, error) {
	raw := strings.TrimSpace(s)
	if !strings.Contains(raw, "://") {
		scheme := "http://"
		if c.tlsConfig != nil {
			scheme = "https://"
		}
		raw = scheme + raw
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("client: server %q: %w", s, err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("client: server %q: want http://HOST:PORT or https://HOST:PORT", s)
	}
	return strings.TrimSuffix(u.String(), "/"), nil
}

// newTransport returns the transport of the package's own HTTP client. The
// client itself has no overall timeout, because blocking queries run for
// minutes: each attempt of a call carries its own deadline instead, and
// dials and TLS handshakes have theirs.
func newTransport(cfg *tls.Config) *http.Transport {
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       cfg,
		TLSHandshakeTimeout:   5 * time.Second,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   8,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
}

// Servers returns the base URLs of the servers, in the order they are tried.
func (c *Client) Servers() []string { return append([]string(nil), c.servers...) }
