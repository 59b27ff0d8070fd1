package healthcheck

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ParseArgs parses the arguments of a Corefile check line, the tokens after
// the word "check":
//
//	check TYPE [url URL] [path PATH] [interval DURATION] [timeout DURATION]
//	      [rise N] [fall N] [method METHOD] [header NAME VALUE]... [expect TEXT]
//	      [tls-skip-verify] [password PASSWORD] [service NAME]
//
// TYPE is tcp, http, https, grpc, redis or mysql. The target is not part of
// the line: ForInstance fills it from each instance, unless url gives a full
// URL (http and https). The returned check has its defaults applied and is
// valid apart from its target. Errors are one line naming the bad token.
func ParseArgs(args []string) (Check, error) {
	if len(args) == 0 {
		return Check{}, fmt.Errorf("check type missing: want one of %s", strings.Join(types, ", "))
	}
	c := Check{Type: strings.ToLower(args[0])}
	if !slices.Contains(types, c.Type) {
		return Check{}, fmt.Errorf("check type %q: want one of %s", args[0], strings.Join(types, ", "))
	}
	p := argParser{args: args[1:], seen: map[string]bool{}}
	for p.next() {
		if err := p.option(&c); err != nil {
			return Check{}, err
		}
	}
	if c.Target != "" && !c.withDefaults().isHTTP() {
		return Check{}, fmt.Errorf("check option url: only for http and https checks, not %s", c.Type)
	}
	if c.Target != "" && c.Path != "" {
		return Check{}, fmt.Errorf("check options url and path: give one or the other")
	}
	c = c.withDefaults()
	if err := c.validate(false); err != nil {
		return Check{}, fmt.Errorf("check %s", err)
	}
	return c, nil
}

// argParser walks the option tokens of a check line.
type argParser struct {
	args []string
	name string // the option being parsed
	seen map[string]bool
}

func (p *argParser) next() bool {
	if len(p.args) == 0 {
		return false
	}
	p.name, p.args = p.args[0], p.args[1:]
	return true
}

// value consumes the option's argument.
func (p *argParser) value() (string, error) {
	if len(p.args) == 0 {
		return "", fmt.Errorf("check option %q needs a value", p.name)
	}
	v := p.args[0]
	p.args = p.args[1:]
	return v, nil
}

func (p *argParser) option(c *Check) error {
	name := strings.ToLower(p.name)
	if p.seen[name] && name != "header" {
		return fmt.Errorf("check option %q given twice", p.name)
	}
	p.seen[name] = true
	switch name {
	case "tls-skip-verify":
		c.TLSSkipVerify = true
		return nil
	case "interval":
		return p.duration(&c.Interval)
	case "timeout":
		return p.duration(&c.Timeout)
	case "rise":
		return p.count(&c.Rise)
	case "fall":
		return p.count(&c.Fall)
	case "header":
		return p.header(c)
	}
	field := map[string]*string{
		"url": &c.Target, "path": &c.Path, "method": &c.Method, "expect": &c.Expect,
		"password": &c.Password, "service": &c.Service,
	}[name]
	if field == nil {
		return fmt.Errorf("check option %q unknown", p.name)
	}
	v, err := p.value()
	*field = v
	return err
}

func (p *argParser) duration(d *time.Duration) error {
	v, err := p.value()
	if err != nil {
		return err
	}
	if *d, err = time.ParseDuration(v); err != nil || *d <= 0 {
		return fmt.Errorf("check %s %q: want a positive duration such as 5s", p.name, v)
	}
	return nil
}

func (p *argParser) count(n *int) error {
	v, err := p.value()
	if err != nil {
		return err
	}
	if *n, err = strconv.Atoi(v); err != nil || *n < 1 {
		return fmt.Errorf("check %s %q: want a whole number of at least 1", p.name, v)
	}
	return nil
}

func (p *argParser) header(c *Check) error {
	if len(p.args) < 2 {
		return fmt.Errorf("check option %q needs a name and a value", p.name)
	}
	name, value := p.args[0], p.args[1]
	p.args = p.args[2:]
	if c.Header == nil {
		c.Header = http.Header{}
	}
	c.Header.Add(name, value)
	return nil
}
