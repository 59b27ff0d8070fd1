package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/signpost-dns/signpost/client"
)

var eventsCmd = &command{
	name:     "events",
	synopsis: "[--follow] [--service SERVICE] [--index N] [--json]",
	summary:  "Print the server's recent events: registrations, health changes and why, expiries, failover.",
	details: `A server keeps its newest events (1000 unless its Corefile sets "events N"),
numbered from 1 since it started. Each line shows the time, the event's
number, its type, the instance or service, its health after the event and
the reason: a probe's or a sidecar's output, a lease that ran out, the counts
that moved a failover.

With --follow it keeps printing events as they happen, until interrupted.
When events were dropped before they could be printed (the server keeps a
bounded number, or it restarted), a warning on stderr says so.`,
	maxArgs: 0,
	examples: `  signpostctl events
  signpostctl events --follow --service web
  # One JSON object per event, for scripts.
  signpostctl events --follow --json | jq -c 'select(.type == "expired")'
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		follow := fs.Bool("follow", false, "keep printing events as they happen, until interrupted")
		service := fs.String("service", "", "only the events of `SERVICE` (and those of the whole registry)")
		index := fs.Uint64("index", 0, "only events after number `N`")
		asJSON := fs.Bool("json", false, "print one JSON object per event")
		return func(ctx context.Context, _ []string) error {
			c, err := a.client(a.timeout)
			if err != nil {
				return err
			}
			printPage := func(p client.EventPage) error { return a.printEvents(p, *asJSON) }
			if !*follow {
				page, err := c.Events(ctx, *index, *service)
				if err != nil {
					return err
				}
				return printPage(page)
			}
			err = c.FollowEvents(ctx, *index, *service, printPage)
			if ctx.Err() != nil {
				return nil // interrupted: the normal way out
			}
			return err
		}
	},
}

// printEvents prints a page of events, warning on stderr when events before
// them were missed.
func (a *app) printEvents(p client.EventPage, asJSON bool) error {
	if p.Missed {
		first := "none kept"
		if len(p.Events) > 0 {
			first = fmt.Sprintf("going on from #%d", p.Events[0].Index)
		}
		fmt.Fprintf(a.stderr, "signpostctl: events: some events are no longer kept by the server "+
			"(it keeps a bounded number, or it restarted): %s\n", first)
	}
	for _, e := range p.Events {
		if asJSON {
			if err := printJSON(a.stdout, e); err != nil {
				return err
			}
			continue
		}
		printEvent(a.stdout, e)
	}
	return nil
}

// printEvent prints one event as one line: time, number, type, subject,
// health, reason.
func printEvent(w io.Writer, e client.Event) {
	subject := e.Service
	if e.Instance != "" {
		subject += "/" + e.Instance
	}
	fields := []string{e.Time.UTC().Format(time.RFC3339), fmt.Sprintf("#%d", e.Index), e.Type}
	if subject != "" {
		fields = append(fields, subject)
	}
	if e.Health != "" {
		fields = append(fields, string(e.Health))
	}
	line := strings.Join(fields, " ")
	if e.Reason != "" {
		line += ": " + e.Reason
	}
	fmt.Fprintln(w, line)
}
