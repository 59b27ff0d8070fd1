package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"

	"github.com/signpost-dns/signpost/client"
)

// listFlag is a repeatable flag whose values may also be comma-separated.
// Values given on the command line replace the initial ones (from the
// environment or a default) rather than adding to them.
type listFlag struct {
	values []string
	set    bool
}

func (l *listFlag) String() string { return strings.Join(l.values, ",") }

func (l *listFlag) Set(s string) error {
	if !l.set {
		l.values, l.set = nil, true
	}
	for v := range strings.SplitSeq(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			l.values = append(l.values, v)
		}
	}
	return nil
}

// metaFlag is a repeatable key=value flag.
type metaFlag map[string]string

func (m metaFlag) String() string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(m)) {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}

func (m metaFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" {
		return fmt.Errorf("%q is not KEY=VALUE", s)
	}
	m[k] = v
	return nil
}

// weightFlag is an optional integer: unset leaves the server's default.
type weightFlag struct{ v *int }

func (w *weightFlag) String() string {
	if w.v == nil {
		return ""
	}
	return strconv.Itoa(*w.v)
}

func (w *weightFlag) Set(s string) error {
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q is not a number from 0 to 65535", s)
	}
	w.v = &n
	return nil
}

// checkFlag is a health check given as a JSON object, checked as it is
// parsed so that a typo is a usage error.
type checkFlag struct{ spec *client.CheckSpec }

func (c *checkFlag) String() string {
	if c.spec == nil {
		return ""
	}
	b, _ := json.Marshal(c.spec)
	return string(b)
}

func (c *checkFlag) Set(s string) error {
	spec, err := client.ParseCheck(s)
	if err != nil {
		return err
	}
	c.spec = spec
	return nil
}

// parseArgs parses flags wherever they stand among the positional
// arguments, as users of most command lines expect ("register web w1
// 10.0.0.5:80 --tag v2"), and returns the positional ones. Everything after
// "--" is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if n := len(args) - len(rest); n > 0 && args[n-1] == "--" {
			return append(pos, rest...), nil
		}
		pos, args = append(pos, rest[0]), rest[1:]
	}
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

func isUsage(err error) bool {
	var u *usageError
	return errors.As(err, &u)
}

// flagError rewrites an error of package flag for a program whose flags are
// written with two dashes.
func flagError(err error) error {
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		return usagef("unknown flag --%s", strings.TrimPrefix(name, "-"))
	}
	if rest, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		return usagef("flag --%s needs a value", strings.TrimPrefix(rest, "-"))
	}
	if rest, ok := strings.CutPrefix(msg, "invalid value "); ok {
		return usagef("invalid value %s", strings.Replace(rest, "for flag -", "for --", 1))
	}
	return usagef("%s", msg)
}
