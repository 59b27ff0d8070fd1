package signpost

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

// apiServer runs the HTTP registration API beside the DNS server, with the
// lifecycle of the health and ready plugins: started on startup, stopped
// before a reload and started again by the new instance, which binds the
// same address once the old listener is closed. The listener is exclusive
// (no SO_REUSEPORT): a second process on the address fails to start instead
// of taking a share of the registrations. Its connections are capped, in
// all and per client address (limitListener), and every request is read
// within a deadline, so that no client can hold the descriptors that DNS
// over TCP and the other clients need.
type apiServer struct {
	cfg apiConfig
	reg *registry.Registry
	// maxConns and maxConnsPerAddr override apiConnLimits where set.
	maxConns, maxConnsPerAddr int

	mu     sync.Mutex
	srv    *http.Server
	addr   net.Addr           // where it listens, once started
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
	tcp, err := net.Listen("tcp", a.cfg.addr)
	if err != nil {
		return fmt.Errorf("api %s: cannot listen, is another Signpost (or another program) using the address? %w", a.cfg.addr, err)
	}
	total, perAddr := apiConnLimits(openFileLimit())
	if a.maxConns > 0 {
		total, perAddr = a.maxConns, a.maxConnsPerAddr
	}
	ln := newLimitListener(tcp, total, perAddr, log.Warningf)
	base, cancel := context.WithCancel(context.Background())
	srv := newHTTPServer(newAPIHandler(a.reg, a.cfg), a.cfg.tls, base)
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
	a.srv, a.cancel, a.done, a.addr = srv, cancel, done, ln.Addr()
	log.Infof("registration API listening on %s (at most %d connections, %d per client address)", listenURL(a.cfg, ln.Addr()), total, perAddr)
	return nil
}

// newHTTPServer returns the API's server. Every request is read within a
// deadline, head and body, so a slow or silent client cannot hold a
// connection; answers are written within one, too, long enough for a
// blocking query that waits its longest.
func newHTTPServer(h http.Handler, tlsCfg *tls.Config, base context.Context) *http.Server {
	return &http.Server{
		BaseContext:       func(net.Listener) context.Context { return base },
		Handler:           h,
		TLSConfig:         tlsCfg,
		ReadHeaderTimeout: apiReadHeaderTimeout,
		ReadTimeout:       apiReadTimeout,
		WriteTimeout:      api.DefaultMaxWait + time.Minute,
		IdleTimeout:       apiIdleTimeout,
		MaxHeaderBytes:    apiMaxHeaderBytes,
	}
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
	a.srv, a.cancel, a.done, a.addr = nil, nil, nil, nil
	return nil
}

func listenURL(cfg apiConfig, addr net.Addr) string {
	if cfg.tls != nil {
		return "https://" + addr.String()
	}
	return "http://" + addr.String()
}
