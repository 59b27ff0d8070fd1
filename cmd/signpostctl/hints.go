package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/signpost-dns/signpost/client"
)

// tokenError is a request the server refused for its token (HTTP 401),
// told in terms of the command line: where the token comes from.
type tokenError struct {
	err   error // the server's answer
	given bool  // a token was sent
}

func (e *tokenError) Error() string {
	if !e.given {
		return fmt.Sprintf("%v: the server wants a token; give it with --token or SIGNPOST_TOKEN", e.err)
	}
	return fmt.Sprintf("%v: the server refused the token from --token or SIGNPOST_TOKEN", e.err)
}

func (e *tokenError) Unwrap() error { return e.err }

// withHints adds to err what the user can do about it on this command line.
func (a *app) withHints(err error) error {
	if client.StatusCode(err) == http.StatusUnauthorized {
		return &tokenError{err: err, given: a.token != ""}
	}
	return err
}

// durationFlag is a time.Duration flag whose error for a bad value shows
// the form it wants: "30" is a common mistake for "30s".
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil {
		return "0s"
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return errNotDuration
	}
	*f.d = d
	return nil
}

// errNotDuration is the reason a duration flag gives for a bad value.
var errNotDuration = errors.New("not a duration such as 30s, 1m or 500ms")

// durationVar defines a duration flag as flag.DurationVar does.
func durationVar(fs *flag.FlagSet, p *time.Duration, name string, value time.Duration, usage string) {
	*p = value
	fs.Var(durationFlag{p}, name, usage)
}

// noInstances is what watch prints while a service has no instance: "yet"
// until one was registered during the watch.
func noInstances(service string, seen bool) string {
	if seen {
		return "no instances of " + service + " registered; waiting"
	}
	return "no instances of " + service + " registered yet; waiting"
}
