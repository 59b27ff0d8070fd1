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
	"strings"
	"time"
	"unicode"

	"github.com/signpost-dns/signpost/client"
)

var sidecarCmd = &command{
	name:     "sidecar",
	synopsis: "--service SERVICE --id ID --address ADDR --port PORT [--ttl DURATION] [--health-url URL [--check-interval DURATION]] [--tag TAG]...",
	args:     "no arguments",
	summary:  "Keep an instance registered while it runs, renewing its lease and reporting its health.",
	details: `Run beside a service, the sidecar registers it and renews its lease at a third
of the ttl. With --health-url it GETs that URL every --check-interval (2s, or a
third of the ttl when shorter): when the check starts failing it reports the
instance critical at once, so that DNS drops it within a check interval, and
passing again as soon as the check passes. A failing instance keeps its lease
and its registration, critical; one whose check fails at start is registered
only once the check passes.

It registers again when a server no longer knows the instance (after a
restart), keeps trying with backoff while no server answers, and deregisters
on SIGTERM or SIGINT, then exits 0.

Each request times out after --timeout or half the renewal interval, whichever
is shorter, so that another server is tried in time.`,
	minArgs: 0, maxArgs: 0,
	examples: `  signpostctl sidecar --service web --id web-1 --address 10.0.0.5 --port 8080 \
      --tag v2 --ttl 15s --health-url http://127.0.0.1:8080/healthz --check-interval 1s

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
			checkEvery        time.Duration
		)
		fs.StringVar(&service, "service", "", "`name` of the service (required)")
		fs.StringVar(&id, "id", "", "`id` of this instance, unique in the service (required)")
		fs.StringVar(&addr, "address", "", "IP `address` DNS answers with (required)")
		fs.IntVar(&port, "port", 0, "`port` of the service (required)")
		fs.StringVar(&healthURL, "health-url", "", "serve the instance only while a GET of this `URL` answers 2xx or 3xx")
		durationVar(fs, &checkEvery, "check-interval", 0, "time between GETs of the health URL (default 2s, or a third of --ttl when shorter)")
		durationVar(fs, &healthTimeout, "health-timeout", 2*time.Second, "timeout of the local health check, at most the check interval")
		r.add(fs, 15*time.Second)
		return func(ctx context.Context, _ []string) error {
			if err := checkSidecarFlags(service, id, addr, port, r.ttl, healthURL); err != nil {
				return err
			}
			interval := r.ttl / 3
			checkEvery, err := checkInterval(checkEvery, interval, healthURL)
			if err != nil {
				return err
			}
			c, err := a.client(max(min(a.timeout, interval/2), time.Second))
			if err != nil {
				return err
			}
			s := newSidecar(c, r.registration(service, id, addr, port), a.stderr)
			if healthURL != "" {
				s.health = httpCheck(healthURL, min(healthTimeout, checkEvery))
				s.checkEvery = checkEvery
			}
			return s.run(ctx)
		}
	},
}

// Bounds of --check-interval.
const (
	defaultCheckInterval = 2 * time.Second
	minCheckInterval     = 100 * time.Millisecond
)

// checkInterval returns the time between local health checks: the flag's
// value, checked, or its default. A check is never less frequent than a
// renewal, which carries the health the last check found.
func checkInterval(flagValue, renewal time.Duration, healthURL string) (time.Duration, error) {
	switch {
	case flagValue == 0:
		return min(defaultCheckInterval, renewal), nil
	case healthURL == "":
		return 0, usagef("--check-interval: there is nothing to check without --health-url")
	case flagValue < minCheckInterval:
		return 0, usagef("--check-interval %s: want at least %s", flagValue, minCheckInterval)
	case flagValue > renewal:
		return 0, usagef("--check-interval %s: want at most the renewal interval, %s (a third of --ttl)", flagValue, renewal)
	}
	return flagValue, nil
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
	Report(ctx context.Context, service, id string, status client.Health, output string) (client.Instance, error)
	Deregister(ctx context.Context, service, id string) error
}

// clock is the sidecar's time. Tests give it a fake one whose Sleep tells
// them that the sidecar is idle and returns when they move time on, so
// that they wait on events rather than on the wall clock.
type clock interface {
	Now() time.Time
	// Sleep waits d or until ctx is done, and returns ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

type wallClock struct{}

func (wallClock) Now() time.Time                                   { return time.Now() }
func (wallClock) Sleep(ctx context.Context, d time.Duration) error { return sleep(ctx, d) }

// sidecar keeps one instance registered, with the health its local check
// finds.
type sidecar struct {
	api        registrar
	reg        client.Registration
	health     func(context.Context) error // nil: always healthy
	interval   time.Duration               // between renewals
	checkEvery time.Duration               // between local health checks
	backoff    time.Duration               // first retry delay while servers fail
	maxBack    time.Duration
	reqWait    time.Duration // bound on one renewal, report or registration
	stopWait   time.Duration // bound on the deregistration at exit
	clock      clock
	log        *log.Logger

	registered bool
	// maybeRegistered: a registration whose answer was lost may have
	// taken effect, so shutdown deregisters it too.
	maybeRegistered bool
	status          client.Health // what the local check found last
	output          string        // its error, sent with a report
	reported        client.Health // the health the server holds, as last answered
	failing         int           // renewals failed in a row on network or server errors
}

func newSidecar(api registrar, reg client.Registration, logOut io.Writer) *sidecar {
	interval := reg.TTL / 3
	return &sidecar{
		api:        api,
		reg:        reg,
		interval:   interval,
		checkEvery: min(defaultCheckInterval, interval),
		backoff:    min(time.Second, interval),
		maxBack:    min(30*time.Second, interval),
		reqWait:    interval,
		stopWait:   5 * time.Second,
		clock:      wallClock{},
		log:        log.New(logOut, "signpostctl: sidecar: ", log.LstdFlags|log.Lmsgprefix),
		status:     client.Passing,
		reported:   client.Passing,
	}
}

// run keeps the instance registered until ctx is done, then deregisters it
// and returns nil. It returns early with an error only when a server refuses
// a call (a 4xx answer other than 404 and 409), which retrying cannot fix.
//
// One loop does everything, so that nothing runs concurrently: the local
// check every checkEvery, the renewal every interval, and a report at once
// when the check's result changes.
func (s *sidecar) run(ctx context.Context) error {
	s.logStart()
	now := s.clock.Now()
	nextCheck, nextRenew := now, now
	for {
		if ctx.Err() != nil {
			s.shutdown()
			return nil
		}
		if s.health != nil && !now.Before(nextCheck) {
			if s.check(ctx) {
				nextRenew = now // report the change at once
			}
			nextCheck = now.Add(s.checkEvery)
		}
		if !now.Before(nextRenew) {
			delay, err := s.step(ctx)
			if err != nil {
				return err
			}
			nextRenew = s.clock.Now().Add(delay)
		}
		wake := nextRenew
		if s.health != nil && nextCheck.Before(wake) {
			wake = nextCheck
		}
		if s.clock.Sleep(ctx, wake.Sub(s.clock.Now())) != nil {
			s.shutdown()
			return nil
		}
		now = s.clock.Now()
	}
}

func (s *sidecar) logStart() {
	check := ""
	if s.health != nil {
		check = fmt.Sprintf(", checking its health every %s", s.checkEvery)
	}
	s.log.Printf("keeping instance %s of service %s at %s registered, ttl %s, renewing every %s%s",
		s.reg.ID, s.reg.Service, s.addr(), s.reg.TTL, s.interval, check)
}

// step renews the lease (or registers the instance) with the health the
// local check found. It returns the delay until the next renewal.
func (s *sidecar) step(ctx context.Context) (time.Duration, error) {
	rctx, cancel := context.WithTimeout(ctx, s.reqWait)
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

// check runs the local health check and reports whether its result
// changed, logging the change.
func (s *sidecar) check(ctx context.Context) bool {
	err := s.health(ctx)
	if ctx.Err() != nil {
		return false // shutting down: the failure is ours, not the service's
	}
	status, output := client.Passing, ""
	if err != nil {
		status, output = client.Critical, reportOutput(err)
	}
	s.output = output
	if status == s.status {
		return false
	}
	s.status = status
	switch {
	case !s.registered && !s.maybeRegistered && status == client.Passing:
		s.log.Printf("local health check passing, registering the instance")
	case !s.registered && !s.maybeRegistered:
		s.log.Printf("local health check failing, not registering the instance until it passes: %v", err)
	case status == client.Passing:
		s.log.Printf("local health check passing again, reporting the instance passing")
	default:
		s.log.Printf("local health check failing, reporting the instance critical: %v", err)
	}
	return true
}

// reportOutput makes a check's error fit a report: one line of at most
// client.MaxOutputBytes.
func reportOutput(err error) string {
	out := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, err.Error())
	if len(out) > client.MaxOutputBytes {
		out = strings.ToValidUTF8(out[:client.MaxOutputBytes], "")
	}
	return out
}

// renew renews the lease with the health the local check found,
// registering the instance first when it is not registered yet or the
// server no longer knows it. An instance whose check fails is not
// registered: a registration would serve it until the report that follows.
func (s *sidecar) renew(ctx context.Context) error {
	if s.registered || (s.maybeRegistered && s.status != client.Passing) {
		err := s.send(ctx)
		if !client.IsNotFound(err) && client.StatusCode(err) != http.StatusConflict {
			if err == nil {
				s.registered = true
			}
			return err
		}
		// 409: an instance of that id without a lease, which shutdown
		// deregisters all the same.
		s.registered, s.maybeRegistered = false, client.StatusCode(err) == http.StatusConflict
		if s.status != client.Passing {
			s.log.Printf("server does not hold the lease of the instance (%v), registering again once the local health check passes", err)
			return nil
		}
		s.log.Printf("server does not hold the lease of the instance (%v), registering again", err)
	}
	if s.status != client.Passing {
		return nil
	}
	in, err := s.api.Register(ctx, s.reg)
	if err != nil {
		// The server may have registered it before its answer was lost:
		// shutdown deregisters all the same.
		s.maybeRegistered = true
		return err
	}
	s.registered, s.reported = true, in.Health
	s.log.Printf("registered instance %s of service %s at %s (%s)", in.ID, in.Service, s.addr(), in.Health)
	if s.reported != s.status {
		// A registration that replaced one keeps its health.
		return s.send(ctx)
	}
	return nil
}

// send renews the lease: a plain heartbeat while the service passes, a
// report of its health when it fails or has just recovered.
func (s *sidecar) send(ctx context.Context) error {
	if s.status == client.Passing && s.reported == client.Passing {
		_, err := s.api.Heartbeat(ctx, s.reg.Service, s.reg.ID)
		return err
	}
	in, err := s.api.Report(ctx, s.reg.Service, s.reg.ID, s.status, s.output)
	if err == nil {
		s.reported = in.Health
	}
	return err
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
