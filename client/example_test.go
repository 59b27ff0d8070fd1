package client_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/signpost-dns/signpost/client"
)

// The examples talk to a Signpost server on 127.0.0.1:8053, so they are
// compiled but not run here; the same ones run, with their output checked,
// against the real API in the server's module (internal/clientapi).

// A service registers itself with a heartbeat lease, and anyone can then
// look it up.
func Example() {
	c, err := client.New([]string{"http://127.0.0.1:8053"})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	_, err = c.Register(ctx, client.Registration{
		Service: "web",
		ID:      "web-1",
		Address: "10.0.0.5",
		Port:    8080,
		Tags:    []string{"v2"},
		TTL:     15 * time.Second,
	})
	if err != nil {
		log.Fatal(err)
	}

	info, err := c.Service(ctx, "web")
	if err != nil {
		log.Fatal(err)
	}
	for _, in := range info.Instances {
		fmt.Println(in.ID, in.Address, in.Port, in.Health, in.TTL)
	}
	// Prints: web-1 10.0.0.5 8080 passing 15s
}

// Several servers are tried in turn: when the first one is down, the call
// goes on to the next.
func ExampleNew() {
	c, err := client.New([]string{"10.0.0.2:8053", "10.0.0.3:8053"},
		client.WithToken("s3cret-from-a-file"),
		client.WithTimeout(2*time.Second),
		client.WithRetry(4, 50*time.Millisecond, time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	services, err := c.Services(context.Background())
	fmt.Println(len(services), err)
}

// A sidecar renews the lease at a third of its TTL and registers again when
// the server no longer knows the instance, as after a restart.
func ExampleClient_Heartbeat() {
	c, _ := client.New(nil)
	ctx := context.Background()
	reg := client.Registration{Service: "web", ID: "web-1", Address: "10.0.0.5", Port: 8080, TTL: 15 * time.Second}

	_, err := c.Heartbeat(ctx, reg.Service, reg.ID)
	if client.IsNotFound(err) {
		fmt.Println("unknown to the server, registering again")
		_, err = c.Register(ctx, reg)
	}
	fmt.Println(err)
}

// Watch reports the state of a service and then every change to it, as
// soon as the server has it.
func ExampleClient_Watch() {
	c, _ := client.New(nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	err := c.Watch(ctx, "web", func(info client.ServiceInfo) error {
		fmt.Printf("web has %d instance(s), %d passing\n", len(info.Instances), info.Passing)
		return nil
	})
	fmt.Println(err)
}

// Error answers carry the server's reason, which names the bad field.
func ExampleError() {
	c, _ := client.New(nil)
	_, err := c.Register(context.Background(), client.Registration{Service: "web", ID: "web-1", Address: "db.example.com", Port: 8080})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Message)
	}
	// Prints: 400 address: "db.example.com" must be an IPv4 or IPv6 address
}

// A database cannot send heartbeats: the server probes it instead. It is
// critical, and left out of DNS answers, until its check passes.
func ExampleClient_Register_check() {
	c, _ := client.New(nil)
	in, err := c.Register(context.Background(), client.Registration{
		Service: "mysql",
		ID:      "db-1",
		Address: "10.0.0.5",
		Port:    3306,
		Check:   &client.CheckSpec{Type: "mysql", Interval: 2 * time.Second, Fall: 3},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(in.ID, in.Health, in.Check.Type, in.Check.Interval)
	// Prints: db-1 critical mysql 2s
}

// A sidecar whose service fails its own health check reports it at once,
// so that DNS stops answering with the instance now rather than when its
// lease runs out, and reports passing when the service recovers.
func ExampleClient_Report() {
	c, _ := client.New(nil)
	ctx := context.Background()
	in, err := c.Report(ctx, "web", "web-1", client.Critical, "GET http://127.0.0.1:8080/healthz: 503 Service Unavailable")
	fmt.Println(in.Health, err)
	in, err = c.Report(ctx, "web", "web-1", client.Passing, "")
	fmt.Println(in.Health, err)
}
