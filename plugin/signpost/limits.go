package signpost

import (
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Limits of the API's connections and requests. The connection limits come
// from the process's open-file limit (see apiConnLimits), so that the API
// can never take every descriptor: DNS over TCP, the data directory and
// the probes keep theirs.
const (
	// apiReadHeaderTimeout bounds the reading of a request's head, and of
	// a TLS handshake.
	apiReadHeaderTimeout = 10 * time.Second
	// apiReadTimeout bounds the reading of a whole request, head and body.
	// A restore, whose body may be large, extends its own deadline.
	apiReadTimeout = 20 * time.Second
	// apiIdleTimeout closes a kept-alive connection with no request.
	apiIdleTimeout = 2 * time.Minute
	// apiMaxHeaderBytes bounds a request's head.
	apiMaxHeaderBytes = 16 << 10
	// apiMaxConns caps the connections of the API however high the
	// open-file limit: each takes some 20 KiB of memory.
	apiMaxConns = 1 << 16
	// apiAddrShare is the share of the API's connections one client
	// address may hold: one eighth.
	apiAddrShare = 8
	// refusalLogEvery spaces out the warnings about refused connections.
	refusalLogEvery = 10 * time.Second
)

// openFileLimit returns the process's open-file limit (the soft limit,
// which the signpost command raises to the hard one at start), or 1024
// when it cannot be read.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 1024
	}
	return lim.Cur
}

// apiConnLimits returns how many connections the API holds open at once,
// and how many of them one client address may hold, for an open-file
// limit of nofile: half of the descriptors, leaving the other half to DNS
// over TCP and the rest of the server, and an eighth of that per address,
// so that it takes eight addresses to fill the API. The limits never fall
// below 16 and 2.
func apiConnLimits(nofile uint64) (total, perAddr int) {
	total = int(min(max(nofile/2, 16), apiMaxConns))
	return total, max(total/apiAddrShare, 2)
}

// limitListener caps the connections a listener hands out: at most total
// at once, and at most perAddr from one client address (an IPv4 address,
// or an IPv6 /64, which one host may hold whole). At the total cap Accept
// waits for a connection to close, leaving new ones in the kernel's
// backlog, where they take no descriptor. A connection from an address at
// its cap is closed as soon as it is accepted, so that one client cannot
// take the slots of the others.
type limitListener struct {
	net.Listener
	slots   chan struct{} // one token per connection handed out
	perAddr int
	warn    func(format string, args ...any)

	mu   sync.Mutex
	open map[netip.Prefix]int

	closeOnce sync.Once
	done      chan struct{}
	lastWarn  atomic.Int64 // unix nanoseconds of the last warning
}

func newLimitListener(ln net.Listener, total, perAddr int, warn func(string, ...any)) *limitListener {
	return &limitListener{
		Listener: ln, slots: make(chan struct{}, total), perAddr: perAddr, warn: warn,
		open: make(map[netip.Prefix]int), done: make(chan struct{}),
	}
}

// Accept waits for a free slot, then for a connection from an address
// below its cap.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		if err := l.acquire(); err != nil {
			return nil, err
		}
		c, err := l.Listener.Accept()
		if err != nil {
			<-l.slots
			return nil, err
		}
		client := clientPrefix(c.RemoteAddr())
		if n, ok := l.admit(client); !ok {
			<-l.slots
			c.Close()
			l.warnf("api: closed a connection from %s, which holds %d already, the most one client address may hold", client, n)
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.release(client) }}, nil
	}
}

// acquire takes a slot, waiting while every slot is taken.
func (l *limitListener) acquire() error {
	select {
	case l.slots <- struct{}{}:
		return nil
	default:
	}
	l.warnf("api: %d connections open, the most it takes at once: new ones wait", cap(l.slots))
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-l.done:
		return net.ErrClosed
	}
}

func (l *limitListener) admit(client netip.Prefix) (int, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := l.open[client]
	if n >= l.perAddr {
		return n, false
	}
	l.open[client] = n + 1
	return n, true
}

func (l *limitListener) release(client netip.Prefix) {
	l.mu.Lock()
	if l.open[client] <= 1 {
		delete(l.open, client)
	} else {
		l.open[client]--
	}
	l.mu.Unlock()
	<-l.slots
}

// warnf logs at most once every refusalLogEvery, so that a flood of
// connections does not become a flood of log lines.
func (l *limitListener) warnf(format string, args ...any) {
	now := time.Now().UnixNano()
	last := l.lastWarn.Load()
	if now-last < int64(refusalLogEvery) || !l.lastWarn.CompareAndSwap(last, now) {
		return
	}
	l.warn(format, args...)
}

// Close closes the listener and ends an Accept waiting for a slot.
func (l *limitListener) Close() error {
	l.closeOnce.Do(func() { close(l.done) })
	return l.Listener.Close()
}

// clientPrefix is the address a connection's limit is counted by.
func clientPrefix(addr net.Addr) netip.Prefix {
	ap, err := netip.ParseAddrPort(addr.String())
	if err != nil {
		return netip.Prefix{} // not IP: all such count as one client
	}
	ip := ap.Addr().Unmap()
	if ip.Is4() {
		return netip.PrefixFrom(ip, 32)
	}
	p, _ := ip.WithZone("").Prefix(64)
	return p
}

// limitedConn gives its slot back when closed, once however often it is
// closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// CloseWrite shuts the sending side, as net/http does after answering a
// request whose body it will not read, so that the answer is not lost to
// a reset.
func (c *limitedConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}
