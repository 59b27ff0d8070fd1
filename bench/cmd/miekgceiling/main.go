// Command miekgceiling is a bare github.com/miekg/dns UDP server that answers
// every query with one fixed A record, built per query (SetReply plus one A).
// No server on this stack can answer faster, so the benchmark reports every
// other system as a share of it.
package main

import (
	"flag"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/miekg/dns"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:1053", "UDP address to listen on (loopback)")
	answer := flag.String("a", "10.0.0.1", "the IPv4 address of every answer")
	flag.Parse()

	ip := net.ParseIP(*answer).To4()
	if ip == nil {
		log.Fatalf("miekgceiling: -a %q is not an IPv4 address", *answer)
	}
	srv := &dns.Server{Addr: *addr, Net: "udp", Handler: handler(ip)}
	go stopOnSignal(srv)
	if err := srv.ListenAndServe(); err != nil {
		log.Fatalf("miekgceiling: %v", err)
	}
}

// handler answers any question with an A record for ip.
func handler(ip net.IP) dns.HandlerFunc {
	return func(w dns.ResponseWriter, r *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(r)
		m.Authoritative = true
		if len(r.Question) > 0 {
			m.Answer = []dns.RR{&dns.A{
				Hdr: dns.RR_Header{Name: r.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 5},
				A:   ip,
			}}
		}
		w.WriteMsg(m)
	}
}

func stopOnSignal(srv *dns.Server) {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	srv.Shutdown()
}
