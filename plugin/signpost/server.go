package signpost

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// apiServer runs the HTTP registration API beside the DNS server, with the
// lifecycle of the health and ready plugins: started on startup, stopped
// before a reload and started again by the new instance, which binds the
// same address once the old listener is closed. The listener is exclusive
// (no SO_REUSEPORT): a second process on the address fails to start instead
// of taking a share of the registrations.
type apiServer struct {
	cfg apiConfig
	reg *registry.Registry

	mu     sync.Mutex
	srv    *http.Server
	cancel context.CancelFunc // ends blocking queries on stop
	done   chan struct{}
}

const apiShutdownTimeout = 5 * time.Second

func (a *apiServer) start() error {
	if a.cfg.addr == "" {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv != nil {
		return nil
	}
	ln, err := net.Listen("tcp", a.cfg.addr)
	if err != nil {
		return fmt.Errorf("api %s: cannot listen, is another Signpost (or another program) using the address? %w", a.cfg.addr, err)
	}
	base, cancel := context.WithCancel(context.Background())
	srv := &http.Server{
		BaseContext:       func(net.Listener) context.Context { return base },
		Handler:           newAPIHandler(a.reg, a.cfg),
		TLSConfig:         a.cfg.tls,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		var err error
		if a.cfg.tls != nil {
			err = srv.ServeTLS(ln, "", "")
		} else {
			err = srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Errorf("api on %s: %v", a.cfg.addr, err)
		}
	}()
	a.srv, a.cancel, a.done = srv, cancel, done
	log.Infof("registration API listening on %s", listenURL(a.cfg, ln.Addr()))
	return nil
}

// stop shuts the API down, letting requests in flight finish, and waits for
// it; blocking queries are cut short. Safe to call when not running.
func (a *apiServer) stop() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.srv == nil {
		return nil
	}
	a.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), apiShutdownTimeout)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		a.srv.Close()
	}
	<-a.done
	a.srv, a.cancel, a.done = nil, nil, nil
	return nil
}

func listenURL(cfg apiConfig, addr net.Addr) string {
	if cfg.tls != nil {
		return "https://" + addr.String()
	}
	return "http://" + addr.String()
}
