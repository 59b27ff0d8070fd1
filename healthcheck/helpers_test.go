package healthcheck

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// listen opens a TCP listener on loopback, closed when the test ends.
func listen(t testing.TB) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// serve runs handle on every connection accepted by l, each on its own
// goroutine, until l is closed; the test waits for them all.
func serve(t testing.TB, l net.Listener, handle func(net.Conn)) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				handle(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
}

// acceptClose runs a TCP server on l that closes every connection at once,
// on a few accepting goroutines, so that thousands of probes need no
// goroutine each and the accept queue never overflows.
func acceptClose(t testing.TB, l net.Listener) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				c, err := l.Accept()
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if err == nil {
					c.Close()
				}
			}
		}()
	}
	t.Cleanup(func() { l.Close(); wg.Wait() })
}

// tcpServer returns the address of a server that accepts and closes.
func tcpServer(t testing.TB) string {
	l := listen(t)
	acceptClose(t, l)
	return l.Addr().String()
}

// closedAddr returns a loopback address where nothing listens.
func closedAddr(t testing.TB) string {
	l := listen(t)
	addr := l.Addr().String()
	l.Close()
	return addr
}

// hangServer accepts connections and never writes to them.
func hangServer(t testing.TB) string {
	l := listen(t)
	serve(t, l, func(c net.Conn) { io.Copy(io.Discard, c) })
	return l.Addr().String()
}

// redisServer is a fake Redis speaking enough RESP for PING and AUTH.
// password "" needs no AUTH; reply, when set, answers every command.
func redisServer(t testing.TB, password, reply string) string {
	l := listen(t)
	serve(t, l, func(c net.Conn) {
		r := bufio.NewReader(c)
		authed := password == ""
		for {
			cmd, err := readRESP(r)
			if err != nil {
				if !errors.Is(err, io.EOF) {
					fmt.Fprintf(c, "-ERR Protocol error: %v\r\n", err)
				}
				return
			}
			switch {
			case reply != "":
				io.WriteString(c, reply)
			case strings.EqualFold(cmd[0], "AUTH") && len(cmd) == 2 && password == "":
				io.WriteString(c, "-ERR AUTH <password> called without any password configured for the default user.\r\n")
			case strings.EqualFold(cmd[0], "AUTH") && len(cmd) == 2 && cmd[1] == password:
				authed = true
				io.WriteString(c, "+OK\r\n")
			case strings.EqualFold(cmd[0], "AUTH"):
				io.WriteString(c, "-WRONGPASS invalid username-password pair or user is disabled.\r\n")
			case !authed:
				io.WriteString(c, "-NOAUTH Authentication required.\r\n")
			case strings.EqualFold(cmd[0], "PING") && len(cmd) == 1:
				io.WriteString(c, "+PONG\r\n")
			default:
				io.WriteString(c, "-ERR unknown command\r\n")
			}
		}
	})
	return l.Addr().String()
}

// readRESP reads one command sent as a RESP array of bulk strings, strictly.
func readRESP(r *bufio.Reader) ([]string, error) {
	n, err := readRESPHeader(r, '*')
	if err != nil {
		return nil, err
	}
	var cmd []string
	for range n {
		size, err := readRESPHeader(r, '$')
		if err != nil {
			return nil, err
		}
		buf := make([]byte, size+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		if string(buf[size:]) != "\r\n" {
			return nil, errors.New("bulk string not ended by CRLF")
		}
		cmd = append(cmd, string(buf[:size]))
	}
	if len(cmd) == 0 {
		return nil, errors.New("empty command")
	}
	return cmd, nil
}

func readRESPHeader(r *bufio.Reader, prefix byte) (int, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 4 || line[0] != prefix || !strings.HasSuffix(line, "\r\n") {
		return 0, fmt.Errorf("bad header %q", line)
	}
	return strconv.Atoi(line[1 : len(line)-2])
}

// mysqlServer sends greeting on every connection, as a MySQL server does,
// and waits for the client to close.
func mysqlServer(t testing.TB, greeting []byte) string {
	l := listen(t)
	serve(t, l, func(c net.Conn) {
		c.Write(greeting)
		io.Copy(io.Discard, c)
	})
	return l.Addr().String()
}

// mysqlPacket frames a payload with its length and sequence number.
func mysqlPacket(seq byte, payload []byte) []byte {
	n := len(payload)
	return append([]byte{byte(n), byte(n >> 8), byte(n >> 16), seq}, payload...)
}

// mysqlGreeting is a HandshakeV10 packet as MariaDB sends it.
func mysqlGreeting(protocol byte, version string) []byte {
	p := []byte{protocol}
	p = append(p, version...)
	p = append(p, 0)
	p = append(p, 42, 0, 0, 0)      // connection id
	p = append(p, "abcdefgh"...)    // auth plugin data, part 1
	p = append(p, 0)                // filler
	p = append(p, 0xfe, 0xf7, 8)    // capabilities (low), charset
	p = append(p, 2, 0, 0xff, 0x81) // status, capabilities (high)
	p = append(p, 21)               // auth plugin data length
	p = append(p, make([]byte, 10)...)
	p = append(p, "ijklmnopqrst\x00"...)
	p = append(p, "mysql_native_password\x00"...)
	return mysqlPacket(0, p)
}

// mysqlErr is an ERR packet, with a SQL state when state is not empty.
func mysqlErr(code uint16, state, msg string) []byte {
	p := []byte{0xff, byte(code), byte(code >> 8)}
	if state != "" {
		p = append(p, '#')
		p = append(p, state...)
	}
	return mysqlPacket(0, append(p, msg...))
}
