package grpcresolver

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// grpcServer starts a real gRPC server on loopback serving the standard
// health service and returns its port.
func grpcServer(t *testing.T) (addr string, port int) {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String(), ln.Addr().(*net.TCPAddr).Port
}

// check makes one RPC and returns who answered, or the error.
func check(hc healthpb.HealthClient, waitForReady bool) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var p peer.Peer
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(waitForReady))
	if err != nil {
		return "", err
	}
	return p.Addr.String(), nil
}

// TestWithGRPC runs the resolver inside real gRPC clients: round robin
// over two real servers follows the instances, RPCs fail at once when
// none is left, and closing the clients ends the resolvers.
func TestWithGRPC(t *testing.T) {
	before := goroutineIDs()
	a, aPort := grpcServer(t)
	b, bPort := grpcServer(t)
	f := newFakeAPI(t)
	f.set(inst("a", "127.0.0.1", aPort), inst("b", "127.0.0.1", bPort))

	conn, err := grpc.NewClient("signpost:///web",
		grpc.WithResolvers(NewBuilder(WithServers(f.URL))),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(`{"loadBalancingConfig":[{"round_robin":{}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	hc := healthpb.NewHealthClient(conn)

	seen := map[string]bool{}
	for deadline := time.Now().Add(waitTimeout); !seen[a] || !seen[b]; {
		addr, err := check(hc, true)
		if err != nil || time.Now().After(deadline) {
			t.Fatalf("answered by %v, then %v", seen, err)
		}
		seen[addr] = true
	}

	// b leaves: once an RPC reached a again, none reaches b.
	f.set(inst("a", "127.0.0.1", aPort))
	for n, deadline := 0, time.Now().Add(waitTimeout); n < 20; {
		addr, err := check(hc, true)
		switch {
		case err != nil:
			t.Fatal(err)
		case time.Now().After(deadline):
			t.Fatal("b still gets traffic")
		case addr == b:
			n = 0
		default:
			n++
		}
	}

	// None left: RPCs fail at once. Round robin says it has no children;
	// pick_first, gRPC's default, passes on the resolver's reason.
	f.set()
	pf, err := grpc.NewClient("signpost:///web",
		grpc.WithResolvers(NewBuilder(WithServers(f.URL))),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer pf.Close()
	for name, c := range map[string]healthpb.HealthClient{"round_robin": hc, "pick_first": healthpb.NewHealthClient(pf)} {
		for deadline := time.Now().Add(waitTimeout); ; {
			_, err := check(c, false)
			if status.Code(err) == codes.Unavailable && (name == "round_robin" || strings.Contains(err.Error(), `service "web" has no healthy instance`)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: RPC with no instance left: %v", name, err)
			}
		}
	}

	pf.Close()
	conn.Close()
	if left := leftovers(before); len(left) > 0 {
		t.Errorf("goroutines left after the client closed:\n%s", strings.Join(left, "\n\n"))
	}
}
