//go:build unix

package main

import (
	"sync"
	"syscall"

	"github.com/coredns/caddy"
	clog "github.com/coredns/coredns/plugin/pkg/log"
)

// lowOpenFileLimit is the open-file limit below which start-up warns: the
// registration API holds at most half as many connections, and every
// sidecar keeps one open.
const lowOpenFileLimit = 1024

// fileLimit is the open-file limit as raiseOpenFileLimit left it.
var fileLimit struct {
	cur, max uint64
	err      error
}

// Every connection takes a file descriptor, and the signpost plugin sizes
// the API's connection caps from the limit: raise the soft limit to the
// hard one before anything listens. (Go's runtime raises it to one below
// the hard limit on its own; an explicit raise also keeps it at the hard
// limit for the processes this one would start.)
func init() {
	fileLimit.cur, fileLimit.max, fileLimit.err = raiseOpenFileLimit()
	var once sync.Once
	caddy.RegisterEventHook("signpost-rlimit", func(ev caddy.EventName, _ any) error {
		if ev == caddy.InstanceStartupEvent {
			once.Do(logOpenFileLimit)
		}
		return nil
	})
}

// raiseOpenFileLimit sets the soft open-file limit to the hard limit and
// returns both as they then are.
func raiseOpenFileLimit() (cur, max uint64, err error) {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		return 0, 0, err
	}
	if lim.Cur < lim.Max {
		want := lim
		want.Cur = lim.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return uint64(lim.Cur), uint64(lim.Max), err
		}
		lim = want
	}
	return uint64(lim.Cur), uint64(lim.Max), nil
}

// logOpenFileLimit says once at start what the limit is, and warns when it
// is low or could not be raised.
func logOpenFileLimit() {
	switch {
	case fileLimit.err != nil:
		clog.Warningf("open-file limit is %d (hard limit %d), could not raise it: %v", fileLimit.cur, fileLimit.max, fileLimit.err)
	case fileLimit.cur < lowOpenFileLimit:
		clog.Warningf("open-file limit is %d, the hard limit: the registration API holds at most half as many connections; "+
			"raise it (LimitNOFILE= in a systemd unit, ulimit -Hn)", fileLimit.cur)
	default:
		clog.Infof("open-file limit is %d", fileLimit.cur)
	}
}
