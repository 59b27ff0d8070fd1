package main

import (
	"net"
	"testing"
	"time"

	"github.com/miekg/dns"
)

func TestHandlerAnswersAnything(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ip := net.IPv4(192, 0, 2, 7).To4()
	started := make(chan struct{})
	srv := &dns.Server{PacketConn: pc, Handler: handler(ip), NotifyStartedFunc: func() { close(started) }}
	go srv.ActivateAndServe()
	defer srv.Shutdown()
	<-started

	c := &dns.Client{Timeout: 2 * time.Second}
	for _, qtype := range []uint16{dns.TypeA, dns.TypeSRV} {
		m := new(dns.Msg)
		m.SetQuestion("Svc7.svc.internal.", qtype)
		r, _, err := c.Exchange(m, pc.LocalAddr().String())
		if err != nil {
			t.Fatal(err)
		}
		if r.Id != m.Id || len(r.Answer) != 1 {
			t.Fatalf("qtype %d: reply %v", qtype, r)
		}
		if a, ok := r.Answer[0].(*dns.A); !ok || !a.A.Equal(ip) || a.Hdr.Name != "Svc7.svc.internal." {
			t.Errorf("qtype %d: answer %v", qtype, r.Answer[0])
		}
	}
}
