package grpcresolver

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/signpost-dns/signpost/client"
	"google.golang.org/grpc/resolver"
)

// signpostResolver follows one service with blocking queries and hands
// each change to the ClientConn. One goroutine, run, does all the work; it
// ends when Close cancels ctx.
type signpostResolver struct {
	cc         resolver.ClientConn
	c          *client.Client
	transport  *http.Transport // c's, closed with the resolver
	service    string
	filter     filter
	wait       time.Duration // of each blocking query
	backoff    time.Duration
	maxBackoff time.Duration

	ctx    context.Context
	cancel context.CancelFunc
	now    chan struct{} // ResolveNow's wake-up, buffered by one
	done   chan struct{} // closed when run returns

	// Owned by run.
	lastKey string
	pushed  bool // lastKey is what the ClientConn holds
}

// run asks for the service at once, then waits on it with blocking queries
// from the index of each answer. The client behind it fails over between
// the servers; an error that outlasts its retries is reported to the
// ClientConn, and after a pause the next question is asked at once again,
// since it may go to another server whose indexes are not comparable.
//
// The loop is client.Watch's, over the same calls, with what a resolver
// needs besides: Watch retries server errors silently, where a resolver
// must report them to gRPC, and its backoff cannot be cut short by
// ResolveNow.
func (r *signpostResolver) run() {
	defer close(r.done)
	var (
		index uint64
		seen  bool
		fails int
	)
	for {
		info, err := r.poll(index, seen)
		if r.ctx.Err() != nil {
			return
		}
		if err != nil && !client.IsNotFound(err) {
			fails++
			r.fail(err)
			seen = false
			if !r.pause(r.delay(fails)) {
				return
			}
			continue
		}
		// A service that is not registered, or no longer is, has no
		// instances; the answer still carries the index to wait from.
		fails = 0
		r.update(info)
		index, seen = info.Index, true
	}
}

// poll asks for the service's state: at once, or by a blocking query that
// returns when it changed after index.
func (r *signpostResolver) poll(index uint64, seen bool) (client.ServiceInfo, error) {
	if !seen {
		return r.c.Service(r.ctx, r.service)
	}
	return r.c.WaitService(r.ctx, r.service, index, r.wait)
}

// update pushes the instances of info that get traffic, unless the
// ClientConn holds them already. An error from UpdateState asks a
// resolver to resolve again; a watching resolver hears of every change
// anyway, so it has nothing to do about one. With no instance left, the
// balancer gets the empty list, so it stops sending to the old ones, and
// then the reason as an error, which pick_first hands on to the RPCs it
// fails (round_robin fails them with its own).
func (r *signpostResolver) update(info client.ServiceInfo) {
	st, key := newState(info, r.filter)
	if r.pushed && key == r.lastKey {
		return
	}
	_ = r.cc.UpdateState(st)
	r.lastKey, r.pushed = key, true
	if len(st.Endpoints) == 0 {
		r.cc.ReportError(fmt.Errorf("signpost resolver: service %q has no healthy instance%s", r.service, r.filter))
	}
}

// fail reports an error that outlasted the client's retries. A balancer
// with instances keeps them; one without fails RPCs with the error rather
// than holding them until the servers answer.
func (r *signpostResolver) fail(err error) {
	r.cc.ReportError(fmt.Errorf("signpost resolver: service %q: %w", r.service, err))
	r.pushed = false
}

// delay is the pause after the fails-th failure in a row: exponential
// from r.backoff, below r.maxBackoff, with jitter in its upper half.
func (r *signpostResolver) delay(fails int) time.Duration {
	d := r.maxBackoff
	if fails < 32 && r.backoff<<(fails-1) < d {
		d = r.backoff << (fails - 1)
	}
	if d <= 0 {
		return 0
	}
	return d/2 + rand.N(d/2+1)
}

// pause waits d, or less when ResolveNow asks. It reports false when the
// resolver is closed.
func (r *signpostResolver) pause(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.now:
		return true
	case <-r.ctx.Done():
		return false
	}
}

// ResolveNow cuts short the pause after an error, so the servers are asked
// again at once. While a blocking query is out, the resolver already hears
// of every change as it happens, and there is nothing to do.
func (r *signpostResolver) ResolveNow(resolver.ResolveNowOptions) {
	select {
	case r.now <- struct{}{}:
	default:
	}
}

// Close stops the resolver and returns once its goroutine has ended. It
// cancels the query in flight, so it does not wait on the servers, and
// closes the connections to them.
func (r *signpostResolver) Close() {
	r.cancel()
	<-r.done
	r.transport.CloseIdleConnections()
}
