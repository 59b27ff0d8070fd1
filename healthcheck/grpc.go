package healthcheck

import (
	"context"
	"fmt"
	"net"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// probeGRPC asks the standard grpc.health.v1 Health service of the target
// about c.Service (the whole server when empty) over plaintext HTTP/2;
// SERVING passes, any other answer or error fails. The connection lives for
// one probe only, so a removed check leaves nothing open.
func probeGRPC(ctx context.Context, c Check) error {
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithUserAgent(userAgent)}
	if len(c.Confine) > 0 {
		// gRPC dials with a context of its own, without the probe's values.
		opts = append(opts, grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return dialer.DialContext(context.WithValue(ctx, confineKey{}, c.Confine), "tcp", addr)
		}))
	}
	conn, err := grpc.NewClient("passthrough:///"+c.Target, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: c.Service})
	if err != nil {
		return fmt.Errorf("grpc health check: %w", err)
	}
	if s := resp.GetStatus(); s != healthpb.HealthCheckResponse_SERVING {
		return fmt.Errorf("grpc health status %s", s)
	}
	return nil
}
