// Command signpostctl is the command line of Signpost: it registers and
// deregisters instances, lists and shows services, follows a service as it
// changes, and runs as a sidecar that keeps a service registered while it is
// healthy.
//
// It talks to the servers' HTTP API through package client and imports no
// server package.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/signpost-dns/signpost/client"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// Exit statuses.
const (
	exitOK    = 0
	exitError = 1 // the server refused, or no server answered
	exitUsage = 2 // the command line is wrong
)

// timeNow is the clock of the output; tests stop it.
var timeNow = time.Now

// app is what every command shares: the global flags and the streams.
type app struct {
	stdout, stderr io.Writer
	servers        listFlag
	token          string
	timeout        time.Duration
	caFile         string
	now            func() time.Time
}

func newApp(getenv func(string) string, stdout, stderr io.Writer) *app {
	a := &app{stdout: stdout, stderr: stderr, timeout: client.DefaultTimeout, now: timeNow}
	a.servers.values = []string{client.DefaultServer}
	if s := getenv("SIGNPOST_SERVER"); s != "" {
		a.servers.Set(s)
		a.servers.set = false // flags replace the environment
	}
	a.token = getenv("SIGNPOST_TOKEN")
	return a
}

// globalFlags adds the flags every command takes to fs.
func (a *app) globalFlags(fs *flag.FlagSet) {
	fs.Var(&a.servers, "server", "server `URL`, repeatable or comma-separated (env SIGNPOST_SERVER)")
	fs.StringVar(&a.token, "token", a.token, "bearer `token` for the API (env SIGNPOST_TOKEN)")
	durationVar(fs, &a.timeout, "timeout", a.timeout, "timeout of each request to a server")
	fs.StringVar(&a.caFile, "ca-file", a.caFile, "PEM `file` of the CA that signed the servers' certificates, for https")
}

// client returns a client of the servers, with each request bounded by
// timeout.
func (a *app) client(timeout time.Duration) (*client.Client, error) {
	opts := []client.Option{client.WithToken(a.token), client.WithTimeout(timeout)}
	if a.caFile != "" {
		cfg, err := loadCA(a.caFile)
		if err != nil {
			return nil, usagef("--ca-file: %v", err)
		}
		opts = append(opts, client.WithTLSConfig(cfg))
	}
	c, err := client.New(a.servers.values, opts...)
	if err != nil {
		return nil, usagef("--server: %v", err)
	}
	return c, nil
}

func loadCA(file string) (*tls.Config, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}

// run is the whole program: it returns the exit status.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	a := newApp(getenv, stdout, stderr)
	fs := flag.NewFlagSet("signpostctl", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	a.globalFlags(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		a.usage(stdout, fs)
		return exitOK
	case err != nil:
		return a.fail(flagError(err), "")
	case *showVersion:
		printVersion(stdout)
		return exitOK
	case fs.NArg() == 0:
		a.usage(stderr, fs)
		return exitUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	if name == "help" {
		return a.help(rest, fs)
	}
	cmd := lookup(name)
	if cmd == nil {
		return a.fail(usagef("unknown command %q", name), "")
	}
	return a.fail(a.withHints(a.runCommand(ctx, cmd, rest)), cmd.name)
}

// help serves "signpostctl help [COMMAND]".
func (a *app) help(args []string, global *flag.FlagSet) int {
	if len(args) == 0 {
		a.usage(a.stdout, global)
		return exitOK
	}
	cmd := lookup(args[0])
	if cmd == nil {
		return a.fail(usagef("unknown command %q", args[0]), "")
	}
	fs, _ := a.commandFlags(cmd)
	cmd.usage(a.stdout, fs)
	return exitOK
}

// runCommand parses the command's flags and arguments and runs it.
func (a *app) runCommand(ctx context.Context, cmd *command, args []string) error {
	fs, run := a.commandFlags(cmd)
	pos, err := parseArgs(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		cmd.usage(a.stdout, fs)
		return nil
	}
	if err != nil {
		return flagError(err)
	}
	if len(pos) < cmd.minArgs || len(pos) > cmd.maxArgs {
		return usagef("want %s, got %d argument(s)", cmd.args, len(pos))
	}
	return run(ctx, pos)
}

func (a *app) commandFlags(cmd *command) (*flag.FlagSet, runFunc) {
	fs := flag.NewFlagSet(cmd.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	run := cmd.setup(a, fs)
	a.globalFlags(fs)
	return fs, run
}

// fail prints err, if any, as one line and returns the exit status for it.
func (a *app) fail(err error, cmd string) int {
	if err == nil {
		return exitOK
	}
	prefix := "signpostctl: "
	if cmd != "" {
		prefix += cmd + ": "
	}
	if isUsage(err) {
		hint := "signpostctl --help"
		if cmd != "" {
			hint = "signpostctl " + cmd + " --help"
		}
		fmt.Fprintf(a.stderr, "%s%v (see '%s')\n", prefix, err, hint)
		return exitUsage
	}
	fmt.Fprintf(a.stderr, "%s%v\n", prefix, err)
	return exitError
}
