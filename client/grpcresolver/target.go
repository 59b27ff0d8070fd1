package grpcresolver

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"google.golang.org/grpc/resolver"
)

// target is what a signpost: dial target asks for.
type target struct {
	// servers are the Signpost API servers named in the target's
	// authority; none means the Builder's.
	servers []string
	service string
	filter  filter
}

// Errors of target parsing. A dial target that does not parse fails the
// dial with one of them.
var (
	errNoService   = errors.New("no service: want signpost:///SERVICE or signpost://HOST:PORT,.../SERVICE")
	errBadService  = errors.New("the service must be one DNS label, not a path")
	errBadQuery    = errors.New("unknown parameter")
	errBadWarning  = errors.New(`warning: want "true" or "false"`)
	errEmptyTag    = errors.New("tag: must not be empty")
	errEmptyServer = errors.New("empty server address in the authority")
)

// parseTarget reads a dial target such as signpost:///web?tag=primary or
// signpost://10.0.0.2:8053,10.0.0.3:8053/web.
func parseTarget(t resolver.Target) (target, error) {
	u := t.URL
	var tg target
	if u.Host != "" {
		for s := range strings.SplitSeq(u.Host, ",") {
			if s = strings.TrimSpace(s); s == "" {
				return tg, errEmptyServer
			}
			tg.servers = append(tg.servers, s)
		}
	}
	service := strings.TrimPrefix(u.Path, "/")
	if service == "" {
		service = u.Opaque // signpost:web
	}
	if service == "" {
		return tg, errNoService
	}
	if strings.Contains(service, "/") {
		return tg, fmt.Errorf("service %q: %w", service, errBadService)
	}
	tg.service = service
	f, err := parseFilter(u.Query())
	if err != nil {
		return tg, err
	}
	tg.filter = f
	return tg, nil
}

// parseFilter reads the query of a target: tag=TAG (repeated: every tag
// is required) and warning=true.
func parseFilter(q url.Values) (filter, error) {
	var f filter
	for key, vals := range q {
		switch key {
		case "tag":
			for _, v := range vals {
				if v == "" {
					return f, errEmptyTag
				}
				f.tags = append(f.tags, v)
			}
		case "warning":
			b, err := strconv.ParseBool(vals[len(vals)-1])
			if err != nil {
				return f, errBadWarning
			}
			f.warning = b
		default:
			return f, fmt.Errorf("%w %q: want tag or warning", errBadQuery, key)
		}
	}
	return f, nil
}
