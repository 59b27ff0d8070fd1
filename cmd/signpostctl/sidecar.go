package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/url"
	"time"

	"github.com/signpost-dns/signpost/client"
)

var sidecarCmd = &command{
	name:     "sidecar",
	synopsis: "--service SERVICE --id ID --address ADDR --port PORT [--ttl DURATION] [--health-url URL] [--tag TAG]...",
	args:     "no arguments",
	summary:  "Keep an instance registered while it runs, renewing its lease.",
	details: `Run beside a service, the sidecar registers it, renews its lease at a third of
the ttl, and stops renewing while the local health URL fails, so that DNS drops
the instance when the lease runs out. It registers again when a server no
longer knows the instance (after a restart), keeps trying with backoff while no
server answers, and deregisters on SIGTERM or SIGINT, then exits 0.

Each request times out after --timeout or half the renewal interval, whichever
is shorter, so that another server is tried in time.`,
	minArgs: 0, maxArgs: 0,
	examples: `  signpostctl sidecar --service web --id web-1 --address 10.0.0.5 --port 8080 \
      --tag v2 --ttl 15s --health-url http://127.0.0.1:8080/healthz

  # Two servers, token from the environment (e.g. a systemd EnvironmentFile).
  SIGNPOST_TOKEN=... signpostctl sidecar --server http://10.0.0.2:8053,http://10.0.0.3:8053 \
      --service mysql --id db-1 --address 10.0.0.5 --port 3306
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		var (
			r                 regFlags
			service, id, addr string
			port              int
			healthURL         string
			healthTimeout     time.Duration
		)
		fs.StringVar(&service, "service", "", "`name` of the service (required)")
		fs.StringVar(&id, "id", "", "`id` of this instance, unique in the service (required)")
		fs.StringVar(&addr, "address", "", "IP `address` DNS answers with (required)")
		fs.IntVar(&port, "port", 0, "`port` of the service (required)")
		fs.StringVar(&healthURL, "health-url", "", "renew only while a GET of this `URL` answers 2xx or 3xx")
		fs.DurationVar(&healthTimeout, "health-timeout", 2*time.Second, "timeout of the local health check")
		r.add(fs, 15*time.Second)
		return func(ctx context.Context, _ []string) error {
			if err := checkSidecarFlags(service, id, addr, port, r.ttl, healthURL); err != nil {
				return err
			}
			interval := r.ttl / 3
			c, err := a.client(max(min(a.timeout, interval/2), time.Second))
			if err != nil {
				return err
			}
			s := newSidecar(c, r.registration(service, id, addr, port), a.stderr)
			if healthURL != "" {
				s.health = httpCheck(healthURL, min(healthTimeout, interval))
			}
			return s.run(ctx)
		}
	},
}

func checkSidecarFlags(service, id, addr string, port int, ttl time.Duration, healthURL string) error {
	switch {
	case service == "" || id == "" || addr == "" || port == 0:
		return usagef("--service, --id, --address and --port are required")
	case port < 0 || port > 65535:
		return usagef("--port %d: want 1 to 65535", port)
	case ttl < time.Second:
		return usagef("--ttl %s: the sidecar needs a lease of at least 1s", ttl)
	}
	if healthURL != "" {
		u, err := url.Parse(healthURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return usagef("--health-url %q: want an http:// or https:// URL", healthURL)
		}
	}
	return nil
}

// httpCheck returns a health check that GETs url and passes on a 2xx or 3xx
// answer within timeout.
func httpCheck(url string, timeout time.Duration) func(context.Context) error {
	hc := &http.Client{Timeout: timeout}
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		if resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// registrar is the part of the API client the sidecar uses.
type registrar interface {
	Register(context.Context, client.Registration) (client.Instance, error)
	Heartbeat(ctx context.Context, service, id string) (client.Instance, error)
	Deregister(ctx context.Context, service, id string) error
}

// sidecar keeps one instance registered while it is healthy.
type sidecar struct {
	api      registrar
	reg      client.Registration
	health   func(context.Context) error // nil: always healthy
	interval time.Duration               // between renewals
	backoff  time.Duration               // first retry delay while servers fail
	maxBack  time.Duration
	stopWait time.Duration // bound on the deregistration at exit
	log      *log.Logger

	registered bool
	// maybeRegistered: a registration whose answer was lost may have
	// taken effect, so shutdown deregisters it too.
	maybeRegistered bool
	healthy         bool
	failing         int // renewals failed in a row on network or server errors
}

func newSidecar(api registrar, reg client.Registration, logOut io.Writer) *sidecar {
	interval := reg.TTL / 3
	return &sidecar{
		api:      api,
		reg:      reg,
		interval: interval,
		backoff:  min(time.Second, interval),
		maxBack:  min(30*time.Second, interval),
		stopWait: 5 * time.Second,
		log:      log.New(logOut, "signpostctl: sidecar: ", log.LstdFlags|log.Lmsgprefix),
		healthy:  true,
	}
}

// run keeps the instance registered until ctx is done, then deregisters it
// and returns nil. It returns early with an error only when a server refuses
// the registration (a 4xx answer other than 404), which retrying cannot fix.
func (s *sidecar) run(ctx context.Context) error {
	s.log.Printf("keeping instance %s of service %s at %s registered, ttl %s, renewing every %s",
		s.reg.ID, s.reg.Service, s.addr(), s.reg.TTL, s.interval)
	for {
		if ctx.Err() != nil {
			s.shutdown()
			return nil
		}
		delay, err := s.step(ctx)
		if err != nil {
			return err
		}
		if sleep(ctx, delay) != nil {
			s.shutdown()
			return nil
		}
	}
}

// step runs one round: the local health check, then a renewal (or
// registration) when it passes. It returns the delay until the next round.
func (s *sidecar) step(ctx context.Context) (time.Duration, error) {
	if !s.checkHealth(ctx) {
		return s.interval, nil
	}
	rctx, cancel := context.WithTimeout(ctx, s.interval)
	err := s.renew(rctx)
	cancel()
	switch {
	case err == nil:
		if s.failing > 0 {
			s.log.Printf("servers reachable again after %d failed attempt(s)", s.failing)
		}
		s.failing = 0
		return s.interval, nil
	case ctx.Err() != nil:
		return 0, nil
	case client.StatusCode(err) != 0 && client.StatusCode(err) < 500:
		return 0, fmt.Errorf("registering instance %s of service %s: %w", s.reg.ID, s.reg.Service, err)
	}
	if s.failing++; s.failing == 1 {
		s.log.Printf("cannot renew, retrying with backoff: %v", err)
	}
	return s.backoffDelay(), nil
}

// checkHealth runs the local health check and logs when its result changes.
func (s *sidecar) checkHealth(ctx context.Context) bool {
	if s.health == nil {
		return true
	}
	err := s.health(ctx)
	switch {
	case err != nil && s.healthy:
		s.log.Printf("local health check failing, no longer renewing the lease: DNS drops the instance within %s: %v", s.reg.TTL, err)
	case err == nil && !s.healthy:
		s.log.Printf("local health check passing again, renewing the lease")
	}
	s.healthy = err == nil
	return s.healthy
}

// renew renews the lease, registering the instance first when it is not
// registered yet or the server no longer knows it.
func (s *sidecar) renew(ctx context.Context) error {
	if s.registered {
		_, err := s.api.Heartbeat(ctx, s.reg.Service, s.reg.ID)
		if !client.IsNotFound(err) && client.StatusCode(err) != http.StatusConflict {
			return err
		}
		s.log.Printf("server does not hold the lease of the instance (%v), registering again", err)
		s.registered = false
	}
	in, err := s.api.Register(ctx, s.reg)
	if err != nil {
		// The server may have registered it before its answer was lost:
		// shutdown deregisters all the same.
		s.maybeRegistered = true
		return err
	}
	s.registered = true
	s.log.Printf("registered instance %s of service %s at %s (%s)", in.ID, in.Service, s.addr(), in.Health)
	return nil
}

// shutdown deregisters the instance, so that DNS drops it at once rather
// than when its lease runs out.
func (s *sidecar) shutdown() {
	if !s.registered && !s.maybeRegistered {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.stopWait)
	defer cancel()
	err := s.api.Deregister(ctx, s.reg.Service, s.reg.ID)
	switch {
	case err == nil:
		s.log.Printf("deregistered instance %s of service %s", s.reg.ID, s.reg.Service)
	case client.IsNotFound(err):
		s.log.Printf("instance %s of service %s was already gone", s.reg.ID, s.reg.Service)
	default:
		s.log.Printf("could not deregister, the lease runs out within %s: %v", s.reg.TTL, err)
	}
	s.registered, s.maybeRegistered = false, false
}

// backoffDelay grows exponentially with the failures in a row, up to
// maxBack, with jitter so that sidecars cut off together spread out.
func (s *sidecar) backoffDelay() time.Duration {
	d := s.maxBack
	if s.failing < 32 && s.backoff<<(s.failing-1) < d {
		d = s.backoff << (s.failing - 1)
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

func (s *sidecar) addr() string {
	return hostPort(client.Instance{Address: s.reg.Address, Port: s.reg.Port})
}

// sleep waits d or until ctx is done, and returns ctx's error then.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
