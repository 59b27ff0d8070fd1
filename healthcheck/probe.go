package healthcheck

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"syscall"
	"time"
)

// warning marks a probe error whose result is Warning rather than Critical.
type warning struct{ error }

// probers run one probe of each type; nil means passing, a warning error
// warning, any other error critical.
var probers = map[string]func(context.Context, Check) error{
	TypeTCP:   probeTCP,
	TypeHTTP:  probeHTTP,
	TypeHTTPS: probeHTTP,
	TypeGRPC:  probeGRPC,
	TypeRedis: probeRedis,
	TypeMySQL: probeMySQL,
}

// Probe runs the check once, cut at its timeout or when ctx ends, and
// returns the result. The error says why a result is not Passing; an
// invalid check is Critical with the validation error.
func Probe(ctx context.Context, c Check) (Status, error) {
	c = c.withDefaults()
	if err := c.validate(true); err != nil {
		return Critical, err
	}
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	defer cancel()
	if len(c.Confine) > 0 {
		ctx = context.WithValue(ctx, confineKey{}, c.Confine)
	}
	err := probers[c.Type](ctx, c)
	switch {
	case err == nil:
		return Passing, nil
	case errors.As(err, new(warning)):
		return Warning, err
	case errors.Is(ctx.Err(), context.Canceled):
		return Critical, fmt.Errorf("cancelled: %w", err)
	case errors.Is(ctx.Err(), context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded),
		errors.Is(err, context.DeadlineExceeded):
		return Critical, fmt.Errorf("timed out after %v: %w", c.Timeout, err)
	}
	return Critical, err
}

// probeTCP passes when a connection is accepted.
func probeTCP(ctx context.Context, c Check) error {
	return withConn(ctx, c.Target, func(net.Conn) error { return nil })
}

// withConn dials target and runs fn on the connection. Reads and writes end
// at ctx's deadline, and at once when ctx is cancelled. The connection is
// reset rather than closed (SO_LINGER 0, as EaseProbe does; kubelet shortens
// its linger for the same reason, kubernetes#115143) so that the prober
// keeps no TIME_WAIT socket per probe: thousands of checks would otherwise
// hold tens of thousands of them.
func withConn(ctx context.Context, target string, fn func(net.Conn) error) error {
	conn, err := dialer.DialContext(ctx, "tcp", target)
	if err != nil {
		return err
	}
	defer conn.Close()
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	return fn(conn)
}

// dialer opens the connections of every probe. A probe's connection lives
// for milliseconds: no keep-alives.
var dialer = net.Dialer{Timeout: 30 * time.Second, KeepAlive: -1, ControlContext: confined}

// confineKey carries a check's Confine in the context of its probe, down to
// the dialer.
type confineKey struct{}

// confined refuses, before connecting, an address outside the Confine of
// the check whose probe dials. It sees the address the connection is about
// to be made to, after any name was resolved, so neither a name nor an http
// redirect leads a probe elsewhere.
func confined(ctx context.Context, _, address string, _ syscall.RawConn) error {
	allowed, _ := ctx.Value(confineKey{}).([]netip.Prefix)
	if len(allowed) == 0 {
		return nil
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("connecting to %s: not an IP address and port", address)
	}
	addr := ap.Addr().Unmap()
	for _, p := range allowed {
		if p.Contains(addr) {
			return nil
		}
	}
	return fmt.Errorf("connecting to %s: %w", ap, errConfined)
}

// errConfined is a connection refused by the check's Confine.
var errConfined = errors.New("not an address this check may probe")
