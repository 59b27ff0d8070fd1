package signpost

import (
	"errors"
	"io"
	"net"
	"net/netip"
	"testing"
	"time"
)

// limitWait bounds every wait in these tests.
const limitWait = 5 * time.Second

func TestAPIConnLimits(t *testing.T) {
	tests := []struct {
		nofile         uint64
		total, perAddr int
	}{
		{10, 16, 2},
		{256, 128, 16},
		{1024, 512, 64},
		{4096, 2048, 256},
		{20000, 10000, 1250},
		{1 << 20, 1 << 16, 1 << 13},
		{1 << 62, 1 << 16, 1 << 13},
	}
	for _, tc := range tests {
		total, perAddr := apiConnLimits(tc.nofile)
		if total != tc.total || perAddr != tc.perAddr {
			t.Errorf("apiConnLimits(%d) = %d, %d; want %d, %d", tc.nofile, total, perAddr, tc.total, tc.perAddr)
		}
	}
	if n := openFileLimit(); n < 16 {
		t.Errorf("openFileLimit() = %d", n)
	}
}

func TestClientPrefix(t *testing.T) {
	tests := []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("10.0.0.5"), Port: 4000}, "10.0.0.5/32"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:10.0.0.5"), Port: 4000}, "10.0.0.5/32"},
		{&net.TCPAddr{IP: net.ParseIP("2001:db8:1:2:3:4:5:6"), Port: 4000}, "2001:db8:1:2::/64"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 4000, Zone: "eth0"}, "fe80::/64"},
		{&net.UnixAddr{Name: "/run/signpost.sock", Net: "unix"}, "invalid Prefix"},
	}
	for _, tc := range tests {
		if got := clientPrefix(tc.addr).String(); got != tc.want {
			t.Errorf("clientPrefix(%s) = %s, want %s", tc.addr, got, tc.want)
		}
	}
}

// acceptor runs Accept on a limitListener over loopback and hands out what
// it accepts.
type acceptor struct {
	ln       *limitListener
	accepted chan net.Conn
	err      chan error
	warnings chan string
}

func newAcceptor(t *testing.T, total, perAddr int) *acceptor {
	t.Helper()
	tcp, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &acceptor{accepted: make(chan net.Conn, 64), err: make(chan error, 1), warnings: make(chan string, 64)}
	a.ln = newLimitListener(tcp, total, perAddr, func(format string, _ ...any) {
		select {
		case a.warnings <- format:
		default:
		}
	})
	go func() {
		for {
			c, err := a.ln.Accept()
			if err != nil {
				a.err <- err
				return
			}
			a.accepted <- c
		}
	}()
	t.Cleanup(func() { a.ln.Close() })
	return a
}

// dial connects from the loopback address from (127.0.0.1, 127.0.0.2 ...).
func (a *acceptor) dial(t *testing.T, from string) net.Conn {
	t.Helper()
	d := net.Dialer{Timeout: limitWait, LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", a.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// next returns the next connection accepted.
func (a *acceptor) next(t *testing.T) net.Conn {
	t.Helper()
	select {
	case c := <-a.accepted:
		t.Cleanup(func() { c.Close() })
		return c
	case <-time.After(limitWait):
		t.Fatal("no connection accepted")
		return nil
	}
}

// none checks that nothing is accepted for a while: a connection the
// listener holds back stays in the backlog.
func (a *acceptor) none(t *testing.T) {
	t.Helper()
	select {
	case c := <-a.accepted:
		t.Fatalf("accepted a connection from %s, want it held back", c.RemoteAddr())
	case <-time.After(200 * time.Millisecond):
	}
}

// closedByServer checks that the server closed c: a read sees EOF (or a
// reset), not a timeout.
func closedByServer(t *testing.T, c net.Conn) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(limitWait))
	var ne net.Error
	if _, err := c.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("read on a refused connection: %v, want it closed", err)
	}
}

func TestLimitListenerPerAddress(t *testing.T) {
	a := newAcceptor(t, 8, 2)
	a.dial(t, "127.0.0.2")
	first := a.next(t)
	a.dial(t, "127.0.0.2")
	a.next(t)
	// A third from the same address is closed at once, and logged.
	closedByServer(t, a.dial(t, "127.0.0.2"))
	select {
	case w := <-a.warnings:
		if w != "api: closed a connection from %s, which holds %d already, the most one client address may hold" {
			t.Errorf("warning %q", w)
		}
	case <-time.After(limitWait):
		t.Error("no warning about the refused connection")
	}
	// Other addresses are not held back by it.
	a.dial(t, "127.0.0.1")
	a.next(t)
	// Once one of its connections closes, the address may open another,
	// and closing a connection twice gives back one slot only.
	first.Close()
	first.Close()
	a.dial(t, "127.0.0.2")
	a.next(t)
	closedByServer(t, a.dial(t, "127.0.0.2"))
	a.ln.mu.Lock()
	defer a.ln.mu.Unlock()
	if got := a.ln.open[netip.MustParsePrefix("127.0.0.2/32")]; got != 2 {
		t.Errorf("127.0.0.2 holds %d connections, want 2", got)
	}
}

func TestLimitListenerTotal(t *testing.T) {
	a := newAcceptor(t, 2, 2)
	a.dial(t, "127.0.0.2")
	first := a.next(t)
	a.dial(t, "127.0.0.3")
	a.next(t)
	// A third waits in the backlog, open, until a slot frees.
	waiting := a.dial(t, "127.0.0.4")
	a.none(t)
	first.Close()
	c := a.next(t)
	if got := c.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.0.4" {
		t.Errorf("accepted %s, want the waiting connection from 127.0.0.4", got)
	}
	if _, err := waiting.Write([]byte("x")); err != nil {
		t.Errorf("the waiting connection: %v", err)
	}
	c.SetReadDeadline(time.Now().Add(limitWait))
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Errorf("reading from the waiting connection: %v", err)
	}
}

func TestLimitListenerCloseEndsWait(t *testing.T) {
	a := newAcceptor(t, 1, 1)
	a.dial(t, "127.0.0.2")
	a.next(t)
	a.dial(t, "127.0.0.3") // waits for the slot
	a.none(t)
	a.ln.Close()
	select {
	case err := <-a.err:
		if !errors.Is(err, net.ErrClosed) {
			t.Errorf("Accept after Close: %v, want net.ErrClosed", err)
		}
	case <-time.After(limitWait):
		t.Fatal("Close did not end an Accept waiting for a slot")
	}
}
