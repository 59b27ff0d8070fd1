package api

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/signpost-dns/signpost/registry"
)

// Bounds of a batch of heartbeats (PUT /v1/heartbeats).
const (
	// MaxHeartbeats is the most instances one batch may name.
	MaxHeartbeats = 5000
	// MaxHeartbeatsBodyBytes bounds the body of a batch: MaxHeartbeats
	// pairs of names of the longest kind, with room for spaces.
	MaxHeartbeatsBodyBytes = 1 << 20
)

// heartbeatsPath renews many leases in one call.
const heartbeatsPath = "/v1/heartbeats"

// heartbeats serves PUT /v1/heartbeats: a node agent serving many instances
// renews all their leases in one call. The body is a JSON list of
// {"service": ..., "id": ...} objects; the answer counts the leases renewed
// and names the instances the server does not know ("unknown"), which
// their agent should register again, and those registered without a ttl
// ("no_lease"), which have no lease to renew. A bad entry fails the whole
// batch, before anything is renewed.
func (h *handler) heartbeats(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxHeartbeatsBodyBytes))
	if err != nil {
		h.fail(w, r, bodyError(err, MaxHeartbeatsBodyBytes))
		return
	}
	refs, err := parseHeartbeats(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	res, err := h.reg.RenewBatch(refs)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header()["Content-Type"] = jsonContentType
	w.Write(appendRenewResult(make([]byte, 0, 64+48*(len(res.Unknown)+len(res.NoLease))), res))
}

// appendRenewResult appends the JSON answer of a batch. Service names and
// ids are DNS labels and need no escaping.
func appendRenewResult(b []byte, res registry.RenewResult) []byte {
	b = append(b, `{"renewed":`...)
	b = strconv.AppendInt(b, int64(res.Renewed), 10)
	b = append(b, `,"unknown":`...)
	b = appendRefs(b, res.Unknown)
	b = append(b, `,"no_lease":`...)
	b = appendRefs(b, res.NoLease)
	return append(b, "}\n"...)
}

func appendRefs(b []byte, refs []registry.Ref) []byte {
	b = append(b, '[')
	for i, ref := range refs {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"service":"`...)
		b = append(b, ref.Service...)
		b = append(b, `","id":"`...)
		b = append(b, ref.ID...)
		b = append(b, `"}`...)
	}
	return append(b, ']')
}

// parseHeartbeats reads a batch: exactly one JSON array of objects, each
// with a "service" and an "id" that are DNS labels, and nothing else. Keys
// match without regard to case, as encoding/json matches fields; unknown
// keys, keys given twice and trailing data are refused, as in every other
// body. The batch is the call a fleet of agents makes most, so it is read
// without reflection.
func parseHeartbeats(data []byte) ([]registry.Ref, error) {
	p := &hbParser{data: data}
	p.space()
	if p.i == len(data) {
		return nil, &registry.FieldError{Field: "body", Reason: `is empty, must be a JSON list of {"service", "id"} objects`}
	}
	if !p.take('[') {
		return nil, &registry.FieldError{Field: "body", Reason: `must be a JSON list of {"service", "id"} objects`}
	}
	refs := make([]registry.Ref, 0, min(len(data)/24, MaxHeartbeats))
	p.space()
	if !p.take(']') {
		for {
			if len(refs) == MaxHeartbeats {
				return nil, &registry.FieldError{Field: "body", Reason: fmt.Sprintf("names more than %d instances; send them in several calls", MaxHeartbeats)}
			}
			ref, err := p.ref(len(refs))
			if err != nil {
				return nil, err
			}
			refs = append(refs, ref)
			p.space()
			if p.take(']') {
				break
			}
			if !p.take(',') {
				return nil, p.syntax("',' or ']' after an element")
			}
			p.space()
		}
	}
	p.space()
	if p.i != len(data) {
		return nil, &registry.FieldError{Field: "body", Reason: "must hold one JSON list and nothing after it"}
	}
	return refs, nil
}

// hbParser reads the JSON of a batch of heartbeats.
type hbParser struct {
	data []byte
	i    int
}

func (p *hbParser) space() {
	for p.i < len(p.data) {
		switch p.data[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *hbParser) take(c byte) bool {
	if p.i < len(p.data) && p.data[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *hbParser) syntax(want string) error {
	if p.i >= len(p.data) {
		return &registry.FieldError{Field: "body", Reason: "ends in the middle of the JSON list"}
	}
	return &registry.FieldError{Field: "body", Reason: fmt.Sprintf("invalid JSON at byte %d: want %s", p.i, want)}
}

// ref reads the n-th element of the list (from 0): one object naming an
// instance.
func (p *hbParser) ref(n int) (registry.Ref, error) {
	at := func(field string) string { return fmt.Sprintf("[%d].%s", n, field) }
	if p.i == len(p.data) {
		return registry.Ref{}, p.syntax("an element")
	}
	if !p.take('{') {
		return registry.Ref{}, &registry.FieldError{Field: fmt.Sprintf("[%d]", n), Reason: `must be an object {"service": ..., "id": ...}`}
	}
	var (
		ref                 registry.Ref
		haveService, haveID bool
	)
	p.space()
	if !p.take('}') {
		for {
			key, err := p.str()
			if err != nil {
				return registry.Ref{}, err
			}
			p.space()
			if !p.take(':') {
				return registry.Ref{}, p.syntax("':' after a key")
			}
			p.space()
			var dst *string
			var seen *bool
			switch {
			case strings.EqualFold(key, "service"):
				dst, seen = &ref.Service, &haveService
			case strings.EqualFold(key, "id"):
				dst, seen = &ref.ID, &haveID
			default:
				return registry.Ref{}, &registry.FieldError{Field: at(strings.ToValidUTF8(key, "\uFFFD")), Reason: "is not a known field"}
			}
			if *seen {
				return registry.Ref{}, &registry.FieldError{Field: at(strings.ToLower(key)), Reason: "is given more than once"}
			}
			*seen = true
			if p.i < len(p.data) && p.data[p.i] != '"' {
				return registry.Ref{}, &registry.FieldError{Field: at(strings.ToLower(key)), Reason: "must be a string"}
			}
			if *dst, err = p.str(); err != nil {
				return registry.Ref{}, err
			}
			p.space()
			if p.take('}') {
				break
			}
			if !p.take(',') {
				return registry.Ref{}, p.syntax("',' or '}' after a member")
			}
			p.space()
		}
	}
	switch {
	case !haveService:
		return registry.Ref{}, &registry.FieldError{Field: at("service"), Reason: "is required"}
	case !haveID:
		return registry.Ref{}, &registry.FieldError{Field: at("id"), Reason: "is required"}
	}
	if err := registry.ValidateLabel(at("service"), ref.Service); err != nil {
		return registry.Ref{}, err
	}
	if err := registry.ValidateLabel(at("id"), ref.ID); err != nil {
		return registry.Ref{}, err
	}
	return ref, nil
}

// str reads a JSON string. One without escapes is taken as it is; one with
// escapes is decoded by encoding/json.
func (p *hbParser) str() (string, error) {
	if !p.take('"') {
		return "", p.syntax("a string")
	}
	start, escaped := p.i, false
	for ; p.i < len(p.data); p.i++ {
		switch c := p.data[p.i]; {
		case c == '\\':
			escaped = true
			p.i++ // the escaped character cannot end the string
		case c == '"':
			raw := p.data[start:p.i]
			p.i++
			if !escaped {
				return string(raw), nil
			}
			var s string
			if err := json.Unmarshal(p.data[start-1:p.i], &s); err != nil {
				return "", &registry.FieldError{Field: "body", Reason: fmt.Sprintf("invalid JSON string at byte %d", start-1)}
			}
			return s, nil
		case c < 0x20:
			return "", &registry.FieldError{Field: "body", Reason: fmt.Sprintf("invalid JSON at byte %d: control character in a string", p.i)}
		}
	}
	return "", p.syntax("the end of a string")
}
