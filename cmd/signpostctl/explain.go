package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signpost-dns/signpost/client"
)

var explainCmd = &command{
	name:     "explain",
	synopsis: "SERVICE [--tag TAG] [--json]",
	args:     "SERVICE",
	summary:  "Show why each instance of a service is or is not in its DNS answers, and the records they hold now.",
	details: `For each instance: whether a DNS query made now includes it, and every
reason that decides it: its health and where that comes from (the lease and
when it runs out or ran out, or the probe with its last result, output,
latency and time, or its sidecar's report), the tag asked for, max-answers,
serve-warning, self-preservation, min-healthy and the failover answered
instead. Then the staleness budget (how long a client may still be sent to
an instance after it failed) and the records each of the service's names
answers now, one per line as dig prints them, so that they can be compared
with 'dig +noall +answer +additional'. Under max-answers each answer holds
only some of them, picked at random.`,
	minArgs: 1, maxArgs: 1,
	examples: `  signpostctl explain web
  # Only the instances tagged canary, as canary.web.<zone> answers.
  signpostctl explain web --tag canary
  signpostctl explain web --json | jq '.instances[] | select(.served | not) | .reasons'
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		tag := fs.String("tag", "", "explain the answers for the instances carrying `TAG` (<tag>.<service>.<zone>)")
		asJSON := fs.Bool("json", false, "print the explanation as JSON")
		return func(ctx context.Context, args []string) error {
			c, err := a.client(a.timeout)
			if err != nil {
				return err
			}
			e, err := c.Explain(ctx, args[0], *tag)
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(a.stdout, e)
			}
			printExplanation(a.stdout, e)
			return nil
		}
	},
}

// printExplanation prints e for people: the service, each instance with
// its reasons, then the records.
func printExplanation(w io.Writer, e client.Explanation) {
	name := e.Service
	if e.Tag != "" {
		name += " (tag " + e.Tag + ")"
	}
	fmt.Fprintf(w, "service %s at index %d: %d instances, %d eligible, %d in each answer\n",
		name, e.Index, len(e.Instances), e.Eligible, e.Answered)
	s := e.Settings
	fmt.Fprintf(w, "settings: ttl %ds, negative-ttl %ds, max-answers %s, serve-warning %s\n",
		s.TTL, s.NegativeTTL, maxAnswers(s.MaxAnswers), onOff(s.ServeWarning))
	b := e.StalenessBudget
	fmt.Fprintf(w, "staleness budget: %s = detection %s%s + ttl %s; a name that was missing: negative-ttl %s\n",
		seconds(b.Seconds), seconds(b.Detection), parens(b.DetectionBy), seconds(b.TTL), seconds(b.NegativeTTL))
	for _, r := range e.Reasons {
		fmt.Fprintf(w, "  %s: %s\n", r.Code, r.Text)
	}
	fmt.Fprintln(w)
	for _, in := range e.Instances {
		served := "NOT SERVED"
		if in.Served {
			served = "served"
		}
		fmt.Fprintf(w, "%s %s %s, %s, health from %s\n", in.ID,
			net.JoinHostPort(in.Address, strconv.Itoa(int(in.Port))), served, in.Health, in.Source.Kind)
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, r := range in.Reasons {
			fmt.Fprintf(tw, "  %s\t%s\n", r.Code, r.Text)
		}
		tw.Flush()
	}
	printRecords(w, e.Records)
}

// printRecords prints the records of each question in dig's text form,
// under a comment line naming the question.
func printRecords(w io.Writer, records []client.Record) {
	fmt.Fprintln(w, "\nrecords answered now (dig +noall +answer +additional):")
	if len(records) == 0 {
		fmt.Fprintln(w, ";; none")
		return
	}
	question := ""
	for _, r := range records {
		if r.Question != question {
			question = r.Question
			fmt.Fprintf(w, ";; %s\n", question)
		}
		fmt.Fprintln(w, r.RR)
	}
}

func maxAnswers(n int) string {
	if n == 0 {
		return "all"
	}
	return strconv.Itoa(n)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func seconds(s float64) string {
	return (time.Duration(s * float64(time.Second))).Round(time.Millisecond).String()
}

func parens(s string) string {
	if s == "" {
		return ""
	}
	return " (" + strings.TrimSpace(s) + ")"
}
