package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// consulCheckDef is a check of a Consul registration, with every field
// Consul's clients send.
type consulCheckDef struct {
	CheckID                        string
	Name                           string
	Notes                          string
	Status                         string
	TTL                            string
	HTTP                           string
	Method                         string
	Header                         map[string][]string
	Body                           string
	TLSServerName                  string
	TLSSkipVerify                  bool
	DisableRedirects               bool
	TCP                            string
	TCPUseTLS                      bool
	GRPC                           string
	GRPCUseTLS                     bool
	Interval                       string
	Timeout                        string
	SuccessBeforePassing           int
	FailuresBeforeWarning          int // probes have no warning step: accepted and not used
	FailuresBeforeCritical         int
	DeregisterCriticalServiceAfter string // the Corefile's deregister-after applies
	OutputMaxSize                  int    // output is not kept: accepted and not used

	ScriptArgs        []string
	Args              []string
	DockerContainerID string
	Shell             string
	UDP               string
	H2PING            string
	H2PingUseTLS      bool
	AliasNode         string
	AliasService      string
	OSService         string
}

// otherKind names a kind of check Signpost does not run, if c is one.
func (c *consulCheckDef) otherKind() string {
	switch {
	case len(c.ScriptArgs) > 0 || len(c.Args) > 0 || c.Shell != "" || c.DockerContainerID != "":
		return "script and Docker"
	case c.UDP != "":
		return "UDP"
	case c.H2PING != "" || c.H2PingUseTLS:
		return "H2PING"
	case c.AliasNode != "" || c.AliasService != "":
		return "alias"
	case c.OSService != "":
		return "OS service"
	}
	return ""
}

// planCheck maps the checks of a registration onto the instance: at most
// one, a TTL check (a heartbeat lease, renewed by check updates) or an
// HTTP, TCP or gRPC check (probed by the server).
func (c *consul) planCheck(p *consulPlan, b *consulRegistration) error {
	type given struct {
		field string
		raw   json.RawMessage
	}
	var defs []given
	if hasValue(b.Check) {
		defs = append(defs, given{"Check", b.Check})
	}
	for i, raw := range b.Checks {
		if hasValue(raw) {
			defs = append(defs, given{fmt.Sprintf("Checks[%d]", i), raw})
		}
	}
	switch len(defs) {
	case 0:
		return nil // always passing, as a Consul service without checks
	case 1:
	default:
		return &registry.FieldError{Field: "Checks", Reason: fmt.Sprintf(
			"gives %d checks: Signpost keeps one per instance, a TTL check or one HTTP, TCP or gRPC check", len(defs))}
	}
	var def consulCheckDef
	if _, err := decodeStrict(defs[0].raw, &def); err != nil {
		return consulCheckError(defs[0].field, err)
	}
	return checkFieldError(defs[0].field, c.mapCheck(p, &def))
}

// checkFieldError names the check that a field error is about: "TTL"
// becomes "Check.TTL".
func checkFieldError(field string, err error) error {
	var fe *registry.FieldError
	if !errors.As(err, &fe) {
		return err
	}
	if fe.Field == "check" || fe.Field == "" {
		return &registry.FieldError{Field: field, Value: fe.Value, Reason: fe.Reason}
	}
	return &registry.FieldError{Field: field + "." + fe.Field, Value: fe.Value, Reason: fe.Reason}
}

// consulCheckError names the offending field of a check that does not
// decode.
func consulCheckError(field string, err error) error {
	fe, ok := bodyError(err, 0).(*registry.FieldError)
	switch {
	case !ok:
		return err
	case fe.Field == "body":
		return &registry.FieldError{Field: field, Reason: "must be an object with TTL, HTTP, TCP or GRPC"}
	}
	return checkFieldError(field, fe)
}

// mapCheck maps one check onto p's instance.
func (c *consul) mapCheck(p *consulPlan, def *consulCheckDef) error {
	if kind := def.otherKind(); kind != "" {
		return unsupported("type", kind+" checks are not run by Signpost: use TTL, HTTP, TCP or GRPC")
	}
	if err := c.checkMeta(p, def); err != nil {
		return err
	}
	var err error
	if p.initial, err = initialStatus(def.Status); err != nil {
		return err
	}
	if def.DeregisterCriticalServiceAfter != "" {
		if _, err := time.ParseDuration(def.DeregisterCriticalServiceAfter); err != nil {
			return &registry.FieldError{Field: "DeregisterCriticalServiceAfter", Value: def.DeregisterCriticalServiceAfter, Reason: `must be a duration such as "90m"`}
		}
	}
	kinds := 0
	for _, s := range []string{def.TTL, def.HTTP, def.TCP, def.GRPC} {
		if s != "" {
			kinds++
		}
	}
	switch {
	case kinds == 0:
		return &registry.FieldError{Field: "TTL", Reason: "or HTTP, TCP or GRPC is required"}
	case kinds > 1:
		return &registry.FieldError{Field: "TTL", Reason: "HTTP, TCP and GRPC: give one of them, a check is of one kind"}
	case def.TTL != "":
		return mapTTL(p, def.TTL)
	}
	spec, err := c.probeSpec(p.in, def)
	if err != nil {
		return err
	}
	check, err := spec.Check()
	if err != nil {
		return &registry.FieldError{Field: "check", Reason: err.Error()}
	}
	p.in.Check = healthcheck.SpecOf(check).Encode()
	return c.h.permitCheck(p.in)
}

// checkMeta keeps the check's ID, name and notes in the instance's meta
// where they are not Consul's defaults.
func (c *consul) checkMeta(p *consulPlan, def *consulCheckDef) error {
	if def.CheckID != "" && def.CheckID != "service:"+p.in.ID {
		p.in.Meta[metaCheckID] = def.CheckID
	}
	if def.Name != "" {
		p.in.Meta[metaCheckName] = def.Name
	}
	if def.Notes != "" {
		p.in.Meta[metaCheckNotes] = def.Notes
	}
	for k, field := range map[string]string{metaCheckID: "CheckID", metaCheckName: "Name", metaCheckNotes: "Notes"} {
		if v := p.in.Meta[k]; len(v) > registry.MaxMetaValue {
			return &registry.FieldError{Field: field, Reason: fmt.Sprintf("must be at most %d bytes", registry.MaxMetaValue)}
		}
	}
	return nil
}

// initialStatus is the health a check starts in: Status, critical when
// none is given, as in Consul.
func initialStatus(status string) (registry.Health, error) {
	if status == "" {
		return registry.Critical, nil
	}
	h, err := registry.ParseHealth(status)
	if err != nil {
		return 0, &registry.FieldError{Field: "Status", Value: status, Reason: "must be passing, warning or critical"}
	}
	return h, nil
}

func mapTTL(p *consulPlan, s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return &registry.FieldError{Field: "TTL", Value: s, Reason: `must be a duration such as "15s"`}
	}
	if d < registry.MinTTL || d > registry.MaxTTL {
		return &registry.FieldError{Field: "TTL", Value: s, Reason: fmt.Sprintf("must be between %s and %s", registry.MinTTL, registry.MaxTTL)}
	}
	p.in.TTL = d
	return nil
}

// probeSpec maps an HTTP, TCP or gRPC check onto the spec of the probes
// the server runs. Consul changes a check's state at the first result
// that differs unless told otherwise, hence rise and fall of 1.
func (c *consul) probeSpec(in registry.Instance, def *consulCheckDef) (healthcheck.Spec, error) {
	var spec healthcheck.Spec
	if def.Interval == "" {
		return spec, &registry.FieldError{Field: "Interval", Reason: "is required for HTTP, TCP and GRPC checks"}
	}
	if def.SuccessBeforePassing < 0 || def.FailuresBeforeCritical < 0 || def.FailuresBeforeWarning < 0 {
		return spec, &registry.FieldError{Field: "SuccessBeforePassing", Reason: "and the Failures counts must not be negative"}
	}
	spec.Interval, spec.Timeout = def.Interval, def.Timeout
	spec.Rise, spec.Fall = max(1, def.SuccessBeforePassing), max(1, def.FailuresBeforeCritical)
	switch {
	case def.HTTP != "":
		return httpSpec(spec, def)
	case def.TCPUseTLS:
		return spec, unsupported("TCPUseTLS", "TCP checks connect without TLS")
	case def.TCP != "":
		spec.Type = healthcheck.TypeTCP
		_, err := ownTarget("TCP", def.TCP, in)
		return spec, err
	case def.GRPCUseTLS:
		return spec, unsupported("GRPCUseTLS", "gRPC checks connect without TLS")
	}
	spec.Type = healthcheck.TypeGRPC
	hostport, service, _ := strings.Cut(def.GRPC, "/")
	spec.Service = service
	_, err := ownTarget("GRPC", hostport, in)
	return spec, err
}

func httpSpec(spec healthcheck.Spec, def *consulCheckDef) (healthcheck.Spec, error) {
	switch {
	case def.Body != "":
		return spec, unsupported("Body", "HTTP checks send no body")
	case def.TLSServerName != "":
		return spec, unsupported("TLSServerName", "HTTPS checks name the host of their URL")
	case def.DisableRedirects:
		return spec, unsupported("DisableRedirects", "HTTP checks follow redirects to the addresses they may probe")
	}
	u, err := url.Parse(def.HTTP)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return spec, &registry.FieldError{Field: "HTTP", Value: def.HTTP, Reason: "must be an http:// or https:// URL"}
	}
	spec.Type, spec.URL, spec.Method, spec.TLSSkipVerify = u.Scheme, def.HTTP, def.Method, def.TLSSkipVerify
	for k, vs := range def.Header {
		if len(vs) != 1 {
			return spec, &registry.FieldError{Field: "Header", Value: k, Reason: "must have one value: Signpost's HTTP checks send each header once"}
		}
		if spec.Header == nil {
			spec.Header = make(map[string]string, len(def.Header))
		}
		spec.Header[k] = vs[0]
	}
	return spec, nil
}

// ownTarget checks that a TCP or gRPC check aims at its own instance:
// Signpost's probe of these kinds connects to the instance's address and
// port.
func ownTarget(field, hostport string, in registry.Instance) (netip.AddrPort, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return netip.AddrPort{}, &registry.FieldError{Field: field, Value: hostport, Reason: "must be host:port"}
	}
	want := netip.AddrPortFrom(in.Address.Unmap(), in.Port)
	a, aerr := netip.ParseAddr(host)
	p, perr := strconv.ParseUint(port, 10, 16)
	isLoopbackName := strings.EqualFold(host, "localhost") && in.Address.IsLoopback()
	if (aerr != nil && !isLoopbackName) || perr != nil || (aerr == nil && a.Unmap() != want.Addr()) || uint16(p) != want.Port() {
		return netip.AddrPort{}, &registry.FieldError{Field: field, Value: hostport, Reason: fmt.Sprintf(
			"must be the instance's own address and port, %s: Signpost's %s checks probe the instance they belong to", want, field)}
	}
	return want, nil
}

// checkStatus serves PUT /v1/agent/check/{pass,warn,fail}/{check_id}: the
// update of a TTL check, with ?note= as its output.
func (c *consul) checkStatus(h registry.Health) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c.updateCheck(w, r, h, r.URL.Query().Get("note"))
	}
}

// checkUpdateBody is the body of PUT /v1/agent/check/update/{check_id}.
type checkUpdateBody struct {
	Status string
	Output string
}

// checkUpdate serves PUT /v1/agent/check/update/{check_id}.
func (c *consul) checkUpdate(w http.ResponseWriter, r *http.Request) {
	var body checkUpdateBody
	if err := decodeBody(w, r, c.h.opts.MaxBodyBytes, &body); err != nil {
		c.h.fail(w, r, err)
		return
	}
	h, err := registry.ParseHealth(body.Status)
	if err != nil {
		c.h.fail(w, r, &registry.FieldError{Field: "Status", Value: body.Status, Reason: "must be passing, warning or critical"})
		return
	}
	c.updateCheck(w, r, h, body.Output)
}

// updateCheck sets the health of the TTL check a check ID names and renews
// its lease, as a health report does.
func (c *consul) updateCheck(w http.ResponseWriter, r *http.Request, h registry.Health, output string) {
	checkID := r.PathValue("check")
	in, err := c.resolveCheck(c.h.reg.Snapshot(), checkID)
	if err == nil && in.TTL == 0 {
		err = &statusError{http.StatusConflict, fmt.Sprintf("CheckID %q does not have associated TTL", checkID)}
	}
	if err == nil {
		_, _, err = c.h.reg.Report(in.Service, in.ID, h, consulOutput(output))
	}
	if err != nil {
		c.h.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// consulOutput makes the output of a check update fit for the log line the
// registry writes on a change: Consul's checks send multi-line output
// (curl's, a script's), so control characters become spaces, and, as
// Consul does, output beyond its limit is cut.
func consulOutput(s string) string {
	if len(s) > maxOutputBytes {
		cut := maxOutputBytes
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
		s = s[:cut]
	}
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, s)
}
