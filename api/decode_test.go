package api

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

// decodeRegistration runs decodeBody on body as a registration.
func decodeRegistration(body string) (registerBody, error) {
	var b registerBody
	req := httptest.NewRequest("PUT", "/", strings.NewReader(body))
	err := decodeBody(httptest.NewRecorder(), req, DefaultMaxBodyBytes, &b)
	return b, err
}

// TestDecodeBodyMembers checks that unknown fields and keys given twice
// come back as a *registry.FieldError naming them, found without reading
// encoding/json's messages.
func TestDecodeBodyMembers(t *testing.T) {
	tests := []struct {
		name, body string
		want       *registry.FieldError // nil: accepted
	}{
		{"known fields", `{"address":"10.0.0.5","port":80,"tags":["a"],"meta":{"k":"v"},"weight":1,"ttl":"15s"}`, nil},
		{"keys in another case, as encoding/json takes them", `{"Address":"10.0.0.5","PORT":80}`, nil},
		{"the same key in two objects", `{"address":"10.0.0.5","port":80,"meta":{"port":"80"},"check":{"port":1}}`, nil},
		{"meta keys differing in case", `{"address":"10.0.0.5","port":80,"meta":{"zone":"a","Zone":"b"}}`, nil},
		{"unknown field", `{"address":"10.0.0.5","port":80,"name":"x"}`,
			&registry.FieldError{Field: "name", Reason: "is not a known field"}},
		{"unknown field first", `{"colour":"red","address":"10.0.0.5","port":80}`,
			&registry.FieldError{Field: "colour", Reason: "is not a known field"}},
		{"unknown field spelled like a tag option", `{"address":"10.0.0.5","port":80,"omitempty":1}`,
			&registry.FieldError{Field: "omitempty", Reason: "is not a known field"}},
		{"a misspelt field among fields in other cases", `{"address":"10.0.0.5","port":80,"Check":{},"TTL":"15s","Tagz":[]}`,
			&registry.FieldError{Field: "Tagz", Reason: "is not a known field"}},
		{"key twice", `{"address":"10.0.0.5","port":80,"port":81}`,
			&registry.FieldError{Field: "port", Reason: "is given more than once"}},
		{"key twice in two cases", `{"address":"10.0.0.5","port":80,"Address":"10.0.0.6"}`,
			&registry.FieldError{Field: "Address", Reason: "is given more than once"}},
		{"null given twice", `{"address":"10.0.0.5","port":80,"ttl":null,"ttl":"15s"}`,
			&registry.FieldError{Field: "ttl", Reason: "is given more than once"}},
		{"meta key twice", `{"address":"10.0.0.5","port":80,"meta":{"zone":"a","zone":"b"}}`,
			&registry.FieldError{Field: "meta", Value: "zone", Reason: "is given more than once"}},
		{"check key twice", `{"address":"10.0.0.5","port":80,"check":{"type":"tcp","type":"http"}}`,
			&registry.FieldError{Field: "check", Value: "type", Reason: "is given more than once"}},
		{"check header twice", `{"address":"10.0.0.5","port":80,"check":{"type":"http","header":{"X-A":"1","X-A":"2"}}}`,
			&registry.FieldError{Field: "check", Value: "header.X-A", Reason: "is given more than once"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := decodeRegistration(tc.body)
			if tc.want == nil {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var fe *registry.FieldError
			if !errors.As(err, &fe) {
				t.Fatalf("error %v (%T), want a *registry.FieldError", err, err)
			}
			if *fe != *tc.want {
				t.Errorf("error %+v, want %+v", *fe, *tc.want)
			}
		})
	}
}

// TestDecodeBodyKeepsValues checks that the walk over the members leaves
// what encoding/json decoded as it was.
func TestDecodeBodyKeepsValues(t *testing.T) {
	b, err := decodeRegistration(`{"Address":"10.0.0.5","port":80,"meta":{"zone":"a","Zone":"b"},"check":{"type":"tcp"}} ` + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if b.Address == nil || *b.Address != "10.0.0.5" || b.Port == nil || *b.Port != 80 ||
		b.Meta["zone"] != "a" || b.Meta["Zone"] != "b" || string(b.Check) != `{"type":"tcp"}` {
		t.Errorf("decoded %+v", b)
	}
}

// TestRegisterRefusesDuplicateKeys checks the answer a client gets for a
// registration with a key given twice, and that nothing is registered.
func TestRegisterRefusesDuplicateKeys(t *testing.T) {
	const path = "/v1/services/web/instances/w1"
	tests := []struct {
		name, body, msg string
	}{
		{"port twice", `{"address":"10.0.0.5","port":80,"port":81}`, `port: is given more than once`},
		{"address in two cases", `{"address":"10.0.0.5","Address":"10.0.0.6","port":80}`, `Address: is given more than once`},
		{"meta key twice", `{"address":"10.0.0.5","port":80,"meta":{"zone":"a","zone":"b"}}`, `meta: "zone" is given more than once`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			wantError(t, f.do("PUT", path, tc.body), http.StatusBadRequest, tc.msg)
			if n := f.reg.Snapshot().Len(); n != 0 || f.reg.Index() != 0 {
				t.Errorf("a refused registration changed the registry: %d services, index %d", n, f.reg.Index())
			}
		})
	}
}

// TestReportRefusesUnknownAndDuplicateKeys checks the same for a health
// report, which has a body of another type.
func TestReportRefusesUnknownAndDuplicateKeys(t *testing.T) {
	const path = "/v1/services/web/instances/w1/health"
	tests := []struct {
		name, body, msg string
	}{
		{"unknown field", `{"status":"critical","health":"critical"}`, `health: is not a known field`},
		{"status twice", `{"status":"critical","status":"passing"}`, `status: is given more than once`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.register("web", "w1", `{"address":"10.0.0.5","port":80,"ttl":"15s"}`)
			before := f.reg.Snapshot()
			wantError(t, f.do("PUT", path, tc.body), http.StatusBadRequest, tc.msg)
			if f.reg.Snapshot() != before {
				t.Error("a refused report changed the registry")
			}
		})
	}
}

func TestJSONFields(t *testing.T) {
	type body struct {
		Plain   string
		Renamed string `json:"renamed,omitempty"`
		Skipped string `json:"-"`
		Options string `json:",omitempty"`
		hidden  string // unexported fields are not decoded
	}
	got := jsonFields(&body{hidden: "x"})
	want := []string{"Plain", "renamed", "Options"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("jsonFields = %q, want %q", got, want)
	}
	if again := jsonFields(&body{}); &again[0] != &got[0] {
		t.Error("jsonFields not cached")
	}
}

// FuzzDecodeBody checks that decoding never panics and never takes a body
// that encoding/json's own strict decoding refuses.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"address":"10.0.0.5","port":80}`,
		`{"address":"10.0.0.5","port":80,"port":81}`,
		`{"Address":"10.0.0.5","meta":{"a":"1","a":"2"},"check":{"type":"http","header":{"X":"1"}}}`,
		`{"address":"10.0.0.5","tags":["a",{"b":1}],"name":"x"}`,
		`null`, `[]`, `{`, `{"a" 1}`, `{} {}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		if _, err := decodeRegistration(body); err != nil {
			return
		}
		var b registerBody
		dec := json.NewDecoder(strings.NewReader(body))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&b); err != nil {
			t.Fatalf("accepted %q, which encoding/json refuses: %v", body, err)
		}
	})
}
