package api

import (
	"encoding/json"
	"testing"
)

// FuzzRegistration feeds registration bodies through decoding and
// validation as the API does: no panic, and a body taken gives an instance
// the registry accepts as valid.
func FuzzRegistration(f *testing.F) {
	for _, seed := range []string{
		`{"address":"10.0.0.5","port":80,"ttl":"15s","tags":["blue"],"meta":{"az":"a"},"weight":3}`,
		`{"address":"2001:db8::5","port":443,"check":{"type":"https","path":"/healthz","interval":"5s"}}`,
		`{"address":"10.0.0.5","port":80,"ttl":"15s","check":{"type":"tcp"}}`,
		`{"address":"10.0.0.5","port":0}`, `{"address":"x","port":80}`, `{"port":"80"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, body string) {
		b, err := decodeRegistration(body)
		if err != nil {
			return
		}
		in, err := b.instance()
		if err != nil {
			return
		}
		in.Service, in.ID = "web", "w1"
		if err := in.Validate(); err != nil {
			t.Fatalf("%s: decoded an instance the registry refuses: %v", body, err)
		}
	})
}

// FuzzCheck feeds check objects to the check decoder: no panic, and a check
// it takes decodes again from the form it stores to the same form.
func FuzzCheck(f *testing.F) {
	for _, seed := range []string{
		`{"type":"http","path":"/healthz","interval":"5s","timeout":"1s","rise":2,"fall":3}`,
		`{"type":"https","url":"https://127.0.0.1:8443/health","header":{"X-A":"b"},"tls_skip_verify":true,"expect":"ok"}`,
		`{"type":"tcp"}`, `{"type":"redis","password":"s"}`, `{"type":"grpc","service":"x"}`, `{"type":"mysql"}`,
		`{"type":"ftp"}`, `{"interval":"5s"}`, `[]`, `{"type":"tcp","type":"http"}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		stored, err := decodeCheck(json.RawMessage(raw))
		if err != nil {
			return
		}
		again, err := decodeCheck(json.RawMessage(stored))
		if err != nil {
			t.Fatalf("%s: the stored form %s does not decode: %v", raw, stored, err)
		}
		if again != stored {
			t.Fatalf("%s: stored %s, then %s", raw, stored, again)
		}
	})
}
