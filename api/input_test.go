package api

import (
	"net/http"
	"testing"
)

// TestRegisterRefusesAddressAndMeta checks the answers to a broadcast
// address and to control characters in meta: 400 naming the field, and
// nothing registered.
func TestRegisterRefusesAddressAndMeta(t *testing.T) {
	const path = "/v1/services/web/instances/w1"
	tests := []struct {
		name, body, msg string
	}{
		{"broadcast", `{"address":"255.255.255.255","port":80}`,
			`address: "255.255.255.255" must be the address of one host, not unspecified, broadcast or multicast`},
		{"unspecified", `{"address":"0.0.0.0","port":80}`,
			`address: "0.0.0.0" must be the address of one host, not unspecified, broadcast or multicast`},
		{"multicast", `{"address":"ff02::1","port":80}`,
			`address: "ff02::1" must be the address of one host, not unspecified, broadcast or multicast`},
		{"newline in meta value", `{"address":"10.0.0.5","port":80,"meta":{"note":"a\nb"}}`,
			`meta: "note" values must not hold control characters, has U+000A at byte 1`},
		{"escape in meta value", `{"address":"10.0.0.5","port":80,"meta":{"note":"\u001b]0;pwned\u0007"}}`,
			`meta: "note" values must not hold control characters, has U+001B at byte 0`},
		{"NUL in meta key", `{"address":"10.0.0.5","port":80,"meta":{"a\u0000":"v"}}`,
			`meta: "a\x00" keys must not hold control characters, has U+0000 at byte 1`},
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

// TestDuplicateKeysInEveryBody checks that each JSON body the API reads
// refuses a key given twice, at any depth, naming it: the registration,
// the check object within it (and the check's header), and the health
// report.
func TestDuplicateKeysInEveryBody(t *testing.T) {
	const inst = "/v1/services/web/instances/w1"
	tests := []struct {
		name, path, body, msg string
	}{
		{"registration", inst, `{"address":"10.0.0.5","port":80,"ttl":"15s","ttl":"1h"}`,
			`ttl: is given more than once`},
		{"registration meta", inst, `{"address":"10.0.0.5","port":80,"meta":{"a":"1","b":"2","a":"3"}}`,
			`meta: "a" is given more than once`},
		{"check", inst, `{"address":"10.0.0.5","port":80,"check":{"type":"tcp","interval":"5s","interval":"1h"}}`,
			`check: "interval" is given more than once`},
		{"check type", inst, `{"address":"10.0.0.5","port":80,"check":{"type":"tcp","type":"http"}}`,
			`check: "type" is given more than once`},
		{"check header", inst, `{"address":"10.0.0.5","port":80,"check":{"type":"http","header":{"X-A":"1","X-A":"2"}}}`,
			`check: "header.X-A" is given more than once`},
		{"health report", inst + "/health", `{"status":"passing","output":"a","output":"b"}`,
			`output: is given more than once`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Options{})
			f.register("web", "w1", `{"address":"10.0.0.5","port":80,"ttl":"15s"}`)
			before := f.reg.Snapshot()
			wantError(t, f.do("PUT", tc.path, tc.body), http.StatusBadRequest, tc.msg)
			if f.reg.Snapshot() != before {
				t.Error("a refused body changed the registry")
			}
		})
	}
}
