package clientapi_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/http/httptest"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/registry"
)

// testServer stands in for a Signpost server on 127.0.0.1:8053. The
// examples here run against it; the client package shows the same ones.
func testServer() *httptest.Server {
	return httptest.NewServer(api.NewHandler(registry.New(registry.Config{}), api.Options{}))
}

// A service registers itself with a heartbeat lease, and anyone can then
// look it up.
func Example_register() {
	srv := testServer()
	defer srv.Close()

	c, err := client.New([]string{srv.URL})
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
	// Output: web-1 10.0.0.5 8080 passing 15s
}

// Several servers are tried in turn: the first one here is down.
func Example_failover() {
	srv := testServer()
	defer srv.Close()

	c, err := client.New([]string{"127.0.0.1:1", srv.URL},
		client.WithToken("s3cret-from-a-file"),
		client.WithTimeout(2*time.Second),
		client.WithRetry(4, 50*time.Millisecond, time.Second),
	)
	if err != nil {
		log.Fatal(err)
	}
	services, err := c.Services(context.Background())
	fmt.Println(len(services), err)
	// Output: 0 <nil>
}

// A sidecar renews the lease at a third of its TTL and registers again when
// the server no longer knows the instance, as after a restart.
func Example_heartbeat() {
	srv := testServer()
	defer srv.Close()
	c, _ := client.New([]string{srv.URL})
	ctx := context.Background()
	reg := client.Registration{Service: "web", ID: "web-1", Address: "10.0.0.5", Port: 8080, TTL: 15 * time.Second}

	_, err := c.Heartbeat(ctx, reg.Service, reg.ID)
	if client.IsNotFound(err) {
		fmt.Println("unknown to the server, registering again")
		_, err = c.Register(ctx, reg)
	}
	fmt.Println(err)
	// Output:
	// unknown to the server, registering again
	// <nil>
}

// Watch reports the state of a service and then every change to it.
func Example_watch() {
	srv := testServer()
	defer srv.Close()
	c, _ := client.New([]string{srv.URL})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	seen := 0
	err := c.Watch(ctx, "web", func(info client.ServiceInfo) error {
		fmt.Printf("web has %d instance(s), %d passing\n", len(info.Instances), info.Passing)
		if seen++; seen == 1 {
			// Someone registers an instance while we watch.
			_, err := c.Register(ctx, client.Registration{Service: "web", ID: "web-1", Address: "10.0.0.5", Port: 8080})
			return err
		}
		return errDone
	})
	fmt.Println(err)
	// Output:
	// web has 0 instance(s), 0 passing
	// web has 1 instance(s), 1 passing
	// done
}

var errDone = errors.New("done")

// Error answers carry the server's reason, which names the bad field.
func Example_errorAnswer() {
	srv := testServer()
	defer srv.Close()
	c, _ := client.New([]string{srv.URL})

	_, err := c.Register(context.Background(), client.Registration{Service: "web", ID: "web-1", Address: "db.example.com", Port: 8080})
	var e *client.Error
	if errors.As(err, &e) {
		fmt.Println(e.Status, e.Message)
	}
	// Output: 400 address: "db.example.com" must be an IPv4 or IPv6 address
}

// A database cannot send heartbeats: the server probes it instead. It is
// critical, and left out of DNS answers, until its check passes.
func Example_check() {
	srv := testServer()
	defer srv.Close()

	c, err := client.New([]string{srv.URL})
	if err != nil {
		log.Fatal(err)
	}
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
	ch := in.Check
	fmt.Println(in.ID, in.Health, ch.Type, ch.Interval, ch.Timeout, ch.Rise, ch.Fall)
	// Output: db-1 critical mysql 2s 1s 2 3
}

// A sidecar whose service fails its own health check reports it at once,
// so that DNS stops answering with the instance now rather than when its
// lease runs out, and reports passing when the service recovers.
func Example_report() {
	srv := testServer()
	defer srv.Close()
	c, _ := client.New([]string{srv.URL})
	ctx := context.Background()
	reg := client.Registration{Service: "web", ID: "web-1", Address: "10.0.0.5", Port: 8080, TTL: 15 * time.Second}
	if _, err := c.Register(ctx, reg); err != nil {
		log.Fatal(err)
	}

	in, err := c.Report(ctx, reg.Service, reg.ID, client.Critical, "GET http://127.0.0.1:8080/healthz: 503 Service Unavailable")
	fmt.Println(in.Health, err)
	in, err = c.Report(ctx, reg.Service, reg.ID, client.Passing, "")
	fmt.Println(in.Health, err)
	// Output:
	// critical <nil>
	// passing <nil>
}
