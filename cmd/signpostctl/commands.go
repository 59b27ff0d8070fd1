package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/signpost-dns/signpost/client"
)

// runFunc runs a command with its positional arguments.
type runFunc func(ctx context.Context, args []string) error

// command is a subcommand: setup adds its flags to fs and returns the
// function that runs it.
type command struct {
	name     string
	synopsis string // arguments and flags, after the name
	args     string // the positional arguments alone, for error messages
	summary  string // one line for the list of commands
	details  string // more paragraphs for the command's help, if any
	minArgs  int
	maxArgs  int
	examples string
	setup    func(a *app, fs *flag.FlagSet) runFunc
}

var commands []*command

func init() {
	commands = []*command{registerCmd, deregisterCmd, heartbeatCmd, lsCmd, showCmd, watchCmd, eventsCmd, explainCmd, sidecarCmd, snapshotCmd, versionCmd}
}

func lookup(name string) *command {
	for _, c := range commands {
		if c.name == name {
			return c
		}
	}
	return nil
}

// usage prints the help of the whole program.
func (a *app) usage(w io.Writer, global *flag.FlagSet) {
	fmt.Fprint(w, `Usage: signpostctl [global flags] COMMAND [flags] [arguments]

signpostctl registers services with Signpost, the DNS-first service
discovery server, and looks them up through its HTTP API.

Commands:
`)
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	for _, c := range commands {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprint(w, "\nGlobal flags (also accepted after the command):\n")
	printFlags(w, global, true)
	fmt.Fprint(w, "  --version\n      print the version and exit (before the command only)\n")
	fmt.Fprint(w, `
Exit status: 0 on success, 1 when a server refused the request or none
answered, 2 when the command line is wrong.

Examples:
  signpostctl --server http://10.0.0.2:8053 ls
  signpostctl register web web-1 10.0.0.5:8080 --tag v2 --ttl 30s
  signpostctl sidecar --service web --id web-1 --address 10.0.0.5 --port 8080 \
      --health-url http://127.0.0.1:8080/healthz
  signpostctl snapshot save backup.json
  signpostctl snapshot restore backup.json

Run 'signpostctl COMMAND --help' for the flags and examples of a command.
`)
}

// usage prints the help of one command.
func (c *command) usage(w io.Writer, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: %s\n\n%s\n", strings.TrimSpace("signpostctl "+c.name+" "+c.synopsis), c.summary)
	if c.details != "" {
		fmt.Fprintf(w, "\n%s\n", c.details)
	}
	fmt.Fprint(w, "\nFlags:\n")
	printFlags(w, fs, false)
	fmt.Fprint(w, "\nGlobal flags --server, --token, --timeout and --ca-file are accepted too\n(see 'signpostctl --help').\n")
	fmt.Fprintf(w, "\nExamples:\n%s", c.examples)
}

// globalNames are the flags of every command, listed in the program's help.
var globalNames = map[string]bool{"server": true, "token": true, "timeout": true, "ca-file": true}

// printFlags lists flags GNU-style, with two dashes: the global ones or
// the others.
func printFlags(w io.Writer, fs *flag.FlagSet, global bool) {
	fs.VisitAll(func(f *flag.Flag) {
		if globalNames[f.Name] != global {
			return
		}
		name, usage := flag.UnquoteUsage(f)
		if _, ok := f.Value.(durationFlag); ok && name == "value" {
			name = "duration"
		}
		line := "  --" + f.Name
		if name != "" {
			line += " " + name
		}
		if f.DefValue != "" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "false" && f.Name != "token" {
			usage += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		fmt.Fprintf(w, "%s\n      %s\n", line, usage)
	})
}

var registerCmd = &command{
	name:     "register",
	synopsis: "SERVICE ID ADDR:PORT [--tag TAG]... [--meta KEY=VALUE]... [--weight N] [--ttl DURATION | --check JSON]",
	args:     "SERVICE ID ADDR:PORT",
	summary:  "Register (or replace) an instance of a service.",
	details: `Without --ttl or --check the instance is served until it is deregistered.
With --ttl it has a lease that 'heartbeat' must renew. With --check the
server probes it instead: it starts critical, is served once rise probes in
a row pass and dropped after fall fail. The check is a JSON object:
  {"type": "tcp|http|https|grpc|redis|mysql", "interval": "10s",
   "timeout": "2s", "rise": 2, "fall": 3,
   "path": "/", "url": "...", "method": "GET", "header": {"NAME": "VALUE"},
   "expect": "TEXT", "tls_skip_verify": false,     (http and https)
   "password": "...",                              (redis)
   "service": "NAME"}                              (grpc)
Only "type" is required; the values shown are the defaults. The probes go
to ADDR:PORT (at "path" for http), unless "url" names another target.`,
	minArgs: 3, maxArgs: 3,
	examples: `  # Register a database that cannot register itself; it stays until deregistered.
  signpostctl register mysql db-1 10.0.0.5:3306 --tag primary

  # Register with a 30s lease: it turns critical unless renewed by 'heartbeat'.
  signpostctl register web web-1 10.0.0.5:8080 --tag v2 --meta version=1.4.2 --ttl 30s

  # Let the server probe it: served while GET /healthz answers 2xx.
  signpostctl register web web-3 10.0.0.7:8080 --check '{"type":"http","path":"/healthz","interval":"5s"}'

  # A Redis the server probes with PING every 2s.
  signpostctl register redis cache-1 10.0.0.8:6379 --check '{"type":"redis","interval":"2s","password":"s3cret"}'

  # IPv6, with a lower SRV weight.
  signpostctl register web web-2 [2001:db8::5]:8080 --weight 5
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		var r regFlags
		r.add(fs, 0)
		var check checkFlag
		fs.Var(&check, "check", "active health check the server runs, as a `JSON` object such as '{\"type\":\"tcp\",\"interval\":\"5s\"}'; instead of --ttl")
		return func(ctx context.Context, args []string) error {
			addr, err := netip.ParseAddrPort(args[2])
			if err != nil {
				return usagef("ADDR:PORT %q: want an IP address and a port, such as 10.0.0.5:8080 or [2001:db8::5]:8080", args[2])
			}
			if check.spec != nil && r.ttl != 0 {
				return usagef("--ttl and --check: give one or the other (a lease that heartbeats renew, or probes by the server)")
			}
			reg := r.registration(args[0], args[1], addr.Addr().String(), int(addr.Port()))
			reg.Check = check.spec
			c, err := a.client(a.timeout)
			if err != nil {
				return err
			}
			in, err := c.Register(ctx, reg)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "registered instance %s of service %s at %s (%s%s)\n", in.ID, in.Service, hostPort(in), in.Health, ttlNote(in))
			return nil
		}
	},
}

// regFlags are the flags of a registration, shared by register and sidecar.
type regFlags struct {
	tags   listFlag
	meta   metaFlag
	weight weightFlag
	ttl    time.Duration
}

func (r *regFlags) add(fs *flag.FlagSet, ttl time.Duration) {
	r.meta = metaFlag{}
	r.ttl = ttl
	fs.Var(&r.tags, "tag", "`tag` of the instance, repeatable or comma-separated")
	fs.Var(r.meta, "meta", "metadata `KEY=VALUE`, repeatable")
	fs.Var(&r.weight, "weight", "SRV `weight` from 0 to 65535 (default 1)")
	durationVar(fs, &r.ttl, "ttl", ttl, "heartbeat lease; without it the instance stays until deregistered")
}

func (r *regFlags) registration(service, id, addr string, port int) client.Registration {
	reg := client.Registration{Service: service, ID: id, Address: addr, Port: port, Tags: r.tags.values, Weight: r.weight.v, TTL: r.ttl}
	if len(r.meta) > 0 {
		reg.Meta = r.meta
	}
	return reg
}

var deregisterCmd = &command{
	name:     "deregister",
	synopsis: "SERVICE ID",
	args:     "SERVICE ID",
	summary:  "Remove an instance; DNS stops answering with it at once.",
	minArgs:  2, maxArgs: 2,
	examples: `  signpostctl deregister web web-1
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, args []string) error {
			c, err := a.client(a.timeout)
			if err != nil {
				return err
			}
			if err := c.Deregister(ctx, args[0], args[1]); err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "deregistered instance %s of service %s\n", args[1], args[0])
			return nil
		}
	},
}

var heartbeatCmd = &command{
	name:     "heartbeat",
	synopsis: "SERVICE ID",
	args:     "SERVICE ID",
	summary:  "Renew the lease of an instance registered with a ttl.",
	minArgs:  2, maxArgs: 2,
	examples: `  # From a cron job or a script's loop; exits 1 when the instance is unknown.
  signpostctl heartbeat web web-1 || signpostctl register web web-1 10.0.0.5:8080 --ttl 30s
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, args []string) error {
			c, err := a.client(a.timeout)
			if err != nil {
				return err
			}
			in, err := c.Heartbeat(ctx, args[0], args[1])
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "renewed the lease of instance %s of service %s (%s%s)\n", in.ID, in.Service, in.Health, ttlNote(in))
			return nil
		}
	},
}

var lsCmd = &command{
	name:     "ls",
	synopsis: "[--json]",
	args:     "no arguments",
	summary:  "List the services with their counts of instances by health.",
	minArgs:  0, maxArgs: 0,
	examples: `  signpostctl ls
  signpostctl ls --json | jq -r '.[] | select(.passing == 0) | .service'
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		return func(ctx context.Context, _ []string) error {
			c, err := a.client(a.timeout)
			if err != nil {
				return err
			}
			list, err := c.Services(ctx)
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(a.stdout, list)
			}
			printServices(a.stdout, list)
			return nil
		}
	},
}

var showCmd = &command{
	name:     "show",
	synopsis: "SERVICE [--json]",
	args:     "SERVICE",
	summary:  "Show the instances of a service with their health and leases.",
	minArgs:  1, maxArgs: 1,
	examples: `  signpostctl show web
  signpostctl show web --json | jq '.instances[] | select(.health != "passing")'
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		return func(ctx context.Context, args []string) error {
			c, err := a.client(a.timeout)
			if err != nil {
				return err
			}
			info, err := c.Service(ctx, args[0])
			if err != nil {
				return err
			}
			if *asJSON {
				return printJSON(a.stdout, info)
			}
			a.printService(a.stdout, info)
			return nil
		}
	},
}

var watchCmd = &command{
	name:     "watch",
	synopsis: "SERVICE [--json]",
	args:     "SERVICE",
	summary:  "Follow a service and print it at every change, until interrupted.",
	minArgs:  1, maxArgs: 1,
	examples: `  signpostctl watch web
  # One JSON object per change, for scripts.
  signpostctl watch web --json | jq -c '[.instances[] | select(.health == "passing") | .address]'
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		asJSON := fs.Bool("json", false, "print one JSON object per change")
		return func(ctx context.Context, args []string) error {
			c, err := a.client(a.timeout)
			if err != nil {
				return err
			}
			var seen bool // an instance was registered during the watch
			err = c.Watch(ctx, args[0], func(info client.ServiceInfo) error {
				if *asJSON {
					return printJSON(a.stdout, info)
				}
				fmt.Fprintf(a.stdout, "%s ", a.now().Format("15:04:05"))
				if len(info.Instances) == 0 && info.Failover == nil {
					// The server knows no such service (404), or no longer:
					// normal for a service about to start, so keep waiting.
					fmt.Fprintf(a.stdout, "%s\n\n", noInstances(args[0], seen))
					return nil
				}
				seen = true
				a.printService(a.stdout, info)
				fmt.Fprintln(a.stdout)
				return nil
			})
			if ctx.Err() != nil {
				return nil // interrupted: the normal way out
			}
			return err
		}
	},
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	return enc.Encode(v)
}

func printServices(w io.Writer, list []client.ServiceSummary) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tINSTANCES\tPASSING\tWARNING\tCRITICAL")
	for _, s := range list {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\n", s.Name, s.Instances, s.Passing, s.Warning, s.Critical)
	}
	tw.Flush()
}

// printService prints a summary line, the failover target if any, and a
// table of the instances.
func (a *app) printService(w io.Writer, info client.ServiceInfo) {
	fmt.Fprintf(w, "service %s: %d instances, %d passing, %d warning, %d critical (index %d)\n",
		info.Name, len(info.Instances), info.Passing, info.Warning, info.Critical, info.Index)
	if f := info.Failover; f != nil {
		target := f.Name
		if target == "" {
			target = strings.Join(f.Addresses, " ")
		}
		fmt.Fprintf(w, "failover to %s below %d healthy\n", target, f.MinHealthy)
	}
	if len(info.Instances) == 0 {
		return
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tADDRESS\tHEALTH\tSOURCE\tWEIGHT\tTTL\tLEASE\tTAGS")
	for _, in := range info.Instances {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n", in.ID, hostPort(in), in.Health, in.Source,
			in.Weight, orDash(in.TTL), a.lease(in), tags(in.Tags))
	}
	tw.Flush()
}

// lease tells how long the lease of in has left, or how long ago it ran out.
func (a *app) lease(in client.Instance) string {
	if in.LeaseExpires.IsZero() {
		return "-"
	}
	left := in.LeaseExpires.Sub(a.now()).Round(time.Second)
	if left < 0 {
		return "ran out " + (-left).String() + " ago"
	}
	return left.String() + " left"
}

func hostPort(in client.Instance) string {
	return net.JoinHostPort(in.Address, strconv.Itoa(in.Port))
}

func ttlNote(in client.Instance) string {
	switch {
	case in.Check != nil:
		return fmt.Sprintf(", %s check every %s", in.Check.Type, in.Check.Interval)
	case in.TTL == 0:
		return ", no lease"
	}
	return ", ttl " + in.TTL.String()
}

func tags(t []string) string {
	if len(t) == 0 {
		return "-"
	}
	return strings.Join(t, ",")
}

func orDash(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.String()
}
