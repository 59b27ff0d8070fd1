package healthcheck

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// probeGRPC asks the standard grpc.health.v1 Health service of the target
// about c.Service (the whole server when empty) over plaintext HTTP/2;
// SERVING passes, any other answer or error fails. The connection lives for
// one probe only, so a removed check leaves nothing open.
func probeGRPC(ctx context.Context, c Check) error {
	conn, err := grpc.NewClient("passthrough:///"+c.Target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUserAgent(userAgent))
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
