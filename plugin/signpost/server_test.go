package signpost

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

func TestAPIServerLimits(t *testing.T) {
	a := &apiServer{cfg: apiConfig{addr: "127.0.0.1:0"}, reg: registry.New(registry.Config{})}
	if err := a.start(); err != nil {
		t.Fatal(err)
	}
	defer a.stop()
	srv := a.srv
	if srv.ReadHeaderTimeout != apiReadHeaderTimeout || srv.ReadTimeout != apiReadTimeout || srv.MaxHeaderBytes != apiMaxHeaderBytes || srv.IdleTimeout != apiIdleTimeout {
		t.Errorf("server read header %v, read %v, max header %d, idle %v", srv.ReadHeaderTimeout, srv.ReadTimeout, srv.MaxHeaderBytes, srv.IdleTimeout)
	}
	// Blocking queries wait up to 5 minutes and must still be answered.
	if srv.WriteTimeout <= 5*time.Minute {
		t.Errorf("write timeout %v, want more than the longest blocking query", srv.WriteTimeout)
	}
}

// TestAPIServerOneClientCannotStarveOthers holds as many connections as
// one address may, each with a registration whose body never comes, and
// checks that the address's further connections are closed while another
// client is served at once.
func TestAPIServerOneClientCannotStarveOthers(t *testing.T) {
	a := &apiServer{cfg: apiConfig{addr: "127.0.0.1:0"}, reg: registry.New(registry.Config{}), maxConns: 8, maxConnsPerAddr: 3}
	if err := a.start(); err != nil {
		t.Fatal(err)
	}
	defer a.stop()
	attacker := net.Dialer{Timeout: limitWait, LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.2")}}
	var held []net.Conn
	for range 10 {
		c, err := attacker.Dial("tcp", a.addr.String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// Without a token configured the request is taken, and its body
		// awaited until the read timeout.
		if _, err := io.WriteString(c, "PUT /v1/services/web/instances/w1 HTTP/1.1\r\nHost: signpost\r\nContent-Length: 1000\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
	}
	client := &http.Client{Timeout: limitWait}
	resp, err := client.Get("http://" + a.addr.String() + "/v1/services")
	if err != nil {
		t.Fatalf("another client: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("another client: %s", resp.Status)
	}
	// Of the attacker's ten, three are held for their body, the others
	// closed by the server.
	closed := 0
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, err := bufio.NewReader(c).ReadByte()
		if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
			closed++
		}
	}
	if closed != 7 {
		t.Errorf("%d of the attacker's 10 connections closed, want 7", closed)
	}
}
