package client_test

import (
	"testing"

	"github.com/signpost-dns/signpost/client"
)

// A check written with the Corefile's spelling of an option is refused with
// the JSON name to use instead.
func TestParseCheckSuggestsJSONName(t *testing.T) {
	tests := []struct{ in, want string }{
		{`{"type":"https","tls-skip-verify":true}`, `check: unknown field "tls-skip-verify" (did you mean "tls_skip_verify"?)`},
		{`{"type":"https","TLS-Skip-Verify":true}`, `check: unknown field "TLS-Skip-Verify" (did you mean "tls_skip_verify"?)`},
		{`{"type":"tcp","re-try":1}`, `check: unknown field "re-try"`},
		{`{"type":"tcp","colour":"red"}`, `check: unknown field "colour"`},
	}
	for _, tt := range tests {
		if _, err := client.ParseCheck(tt.in); err == nil || err.Error() != tt.want {
			t.Errorf("ParseCheck(%s) = %v, want %q", tt.in, err, tt.want)
		}
	}
	if c, err := client.ParseCheck(`{"type":"https","tls_skip_verify":true}`); err != nil || !c.TLSSkipVerify {
		t.Errorf("tls_skip_verify: %+v, %v", c, err)
	}
}
