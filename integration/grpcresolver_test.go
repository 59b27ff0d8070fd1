package integration

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/client/grpcresolver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/peer"
)

// moveOffBound is how soon after a deregistration's 200 a gRPC client
// resolving through Signpost must stop sending to the instance.
const moveOffBound = 100 * time.Millisecond

// roundRobin is the service config of the gRPC clients of these tests.
const roundRobin = `{"loadBalancingConfig":[{"round_robin":{}}]}`

// grpcBackend is a real gRPC server on loopback serving the standard health
// service, which counts the RPCs it answers.
type grpcBackend struct {
	addr string
	port int
	mu   sync.Mutex
	rpcs int
}

func startGRPCBackend(t *testing.T) *grpcBackend {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &grpcBackend{addr: ln.Addr().String(), port: ln.Addr().(*net.TCPAddr).Port}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		b.mu.Lock()
		b.rpcs++
		b.mu.Unlock()
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return b
}

func (b *grpcBackend) served() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.rpcs
}

// dialSignpost returns a gRPC client of target, resolved through Signpost
// and balanced round robin, closed when the test ends.
func dialSignpost(t *testing.T, target string, opts ...grpcresolver.Option) healthpb.HealthClient {
	t.Helper()
	cc, err := grpc.NewClient(target,
		grpc.WithResolvers(grpcresolver.NewBuilder(opts...)),
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultServiceConfig(roundRobin))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return healthpb.NewHealthClient(cc)
}

// grpcCall makes one RPC and returns the address of the backend that
// answered it.
func grpcCall(t *testing.T, hc healthpb.HealthClient) string {
	t.Helper()
	addr, err := tryGRPCCall(hc)
	if err != nil {
		t.Fatalf("RPC: %v", err)
	}
	return addr
}

// tryGRPCCall is grpcCall returning the error, for other goroutines than
// the test's.
func tryGRPCCall(hc healthpb.HealthClient) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var p peer.Peer
	if _, err := hc.Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Peer(&p), grpc.WaitForReady(true)); err != nil {
		return "", err
	}
	return p.Addr.String(), nil
}

// grpcCallUntil makes RPCs until every address in want has answered one,
// within a bound.
func grpcCallUntil(t *testing.T, hc healthpb.HealthClient, want ...string) {
	t.Helper()
	seen := map[string]bool{}
	deadline := time.Now().Add(10 * time.Second)
	for n := 0; ; n++ {
		seen[grpcCall(t, hc)] = true
		all := true
		for _, a := range want {
			all = all && seen[a]
		}
		if all {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %d RPCs in 10s, answered by %v, want each of %v", n, seen, want)
		}
	}
}

func registerGRPCBackend(t *testing.T, api apiConn, service, id string, b *grpcBackend) {
	t.Helper()
	api.expect(t, http.StatusOK, http.MethodPut, instPath(service, id), regBody("127.0.0.1", b.port, ""))
}

// TestGRPCResolverFollowsDeregistration dials signpost:///echo with round
// robin over three real gRPC backends, deregisters one through the API
// while RPCs run back to back, and checks that no RPC started
// moveOffBound after the deregistration's answer reaches it, while the
// backend itself keeps running.
func TestGRPCResolverFollowsDeregistration(t *testing.T) {
	s := startServer(t, apiCorefile)
	api := s.api()
	api.waitReady(t)
	backends := []*grpcBackend{startGRPCBackend(t), startGRPCBackend(t), startGRPCBackend(t)}
	for i, b := range backends {
		registerGRPCBackend(t, api, "echo", "e"+strconv.Itoa(i+1), b)
	}

	hc := dialSignpost(t, "signpost:///echo", grpcresolver.WithServers(s.apiURL))
	grpcCallUntil(t, hc, backends[0].addr, backends[1].addr, backends[2].addr)

	// RPCs run back to back from before the deregistration until 50 of
	// them started past the bound; each is noted with its start and the
	// backend that answered. The deregistration goes out once the loop
	// runs and has reached the backend it removes, so that every run
	// measures traffic moving off it, whenever the loop got scheduled.
	type rpc struct {
		start time.Time
		addr  string
	}
	gone := backends[1]
	var (
		rpcs     []rpc
		rpcErr   error
		answered time.Time
		answer   = make(chan time.Time, 1)
		done     = make(chan struct{})
		warm     = make(chan struct{})
		// What the backend had served when the first RPC past the bound
		// started: the RPCs are sequential, so none was in flight.
		servedAtBound = -1
	)
	go func() {
		defer close(done)
		after, warmed := 0, false
		for deadline := time.Now().Add(20 * time.Second); after < 50 && time.Now().Before(deadline); {
			select {
			case answered = <-answer:
			default:
			}
			start := time.Now()
			pastBound := !answered.IsZero() && start.Sub(answered) > moveOffBound
			if pastBound && after == 0 {
				servedAtBound = gone.served()
			}
			addr, err := tryGRPCCall(hc)
			if err != nil {
				rpcErr = err
				return
			}
			rpcs = append(rpcs, rpc{start, addr})
			if addr == gone.addr && !warmed {
				close(warm)
				warmed = true
			}
			if pastBound {
				after++
			}
		}
	}()
	select {
	case <-warm:
	case <-done:
		t.Fatalf("the RPC loop ended before reaching %s: %v", gone.addr, rpcErr)
	}
	sent := time.Now()
	api.expect(t, http.StatusNoContent, http.MethodDelete, instPath("echo", "e2"), "")
	answer <- time.Now()
	<-done
	if rpcErr != nil {
		t.Fatalf("RPC: %v", rpcErr)
	}

	var (
		last     time.Duration // start of the last RPC it answered, from the answer
		reached  bool
		byAddr   = map[string]int{}
		after, n int
	)
	for _, r := range rpcs {
		d := r.start.Sub(answered)
		if r.addr == gone.addr {
			last, reached = d, true
		}
		if d > 0 {
			n++
		}
		if d > moveOffBound {
			after++
			byAddr[r.addr]++
		}
	}
	if reached {
		t.Logf("the DELETE took %v; the last RPC to reach the deregistered backend started %v after its answer, %v after it was sent (%d RPCs in all, %d after the answer)",
			answered.Sub(sent), last, answered.Add(last).Sub(sent), len(rpcs), n)
	} else {
		t.Logf("no RPC of the loop reached the deregistered backend (%d RPCs in all)", len(rpcs))
	}
	if last > moveOffBound {
		t.Errorf("an RPC started %v after the deregistration's answer reached the deregistered backend; want none after %v", last, moveOffBound)
	}
	if n := gone.served(); n != servedAtBound {
		t.Errorf("the deregistered backend served %d RPCs in all, %d when the first RPC past the bound started", n, servedAtBound)
	}
	if after < 50 || byAddr[gone.addr] != 0 || byAddr[backends[0].addr] == 0 || byAddr[backends[2].addr] == 0 {
		t.Errorf("the %d RPCs started after %v were answered by %v, want at least 50, by both and only %s and %s",
			after, moveOffBound, byAddr, backends[0].addr, backends[2].addr)
	}
}

// TestGRPCResolverFailover gives the resolver two Signpost servers, the
// first one unreachable, on a server whose reads need the token: RPCs
// reach the registered backend, and a backend registered after the dial
// gets traffic too, as the blocking queries go to the second server.
func TestGRPCResolverFailover(t *testing.T) {
	s := startServer(t, apiCorefileWith("        token s3cret\n        token-read on\n"))
	api := s.api().withToken("s3cret")
	api.waitReady(t)
	b1, b2 := startGRPCBackend(t), startGRPCBackend(t)
	registerGRPCBackend(t, api, "echo", "e1", b1)

	down := net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t)))
	target := fmt.Sprintf("signpost://%s,127.0.0.1:%d/echo", down, s.apiPort)
	hc := dialSignpost(t, target, grpcresolver.WithToken("s3cret"))
	if got := grpcCall(t, hc); got != b1.addr {
		t.Fatalf("answered by %s, want %s", got, b1.addr)
	}
	registerGRPCBackend(t, api, "echo", "e2", b2)
	grpcCallUntil(t, hc, b1.addr, b2.addr)
}

// TestGRPCResolverWithoutToken checks that a resolver refused by the
// server fails RPCs with the server's reason rather than holding them.
func TestGRPCResolverWithoutToken(t *testing.T) {
	s := startServer(t, apiCorefileWith("        token s3cret\n        token-read on\n"))
	s.api().waitReady(t)
	hc := dialSignpost(t, "signpost:///echo", grpcresolver.WithServers(s.apiURL))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := hc.Check(ctx, &healthpb.HealthCheckRequest{})
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "401") {
		t.Errorf("RPC without the token: %v, want it to fail at once naming the 401", err)
	}
}
