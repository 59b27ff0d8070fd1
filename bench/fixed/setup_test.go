package fixed

import (
	"testing"

	"github.com/coredns/caddy"
)

func TestParse(t *testing.T) {
	tests := []struct {
		input   string
		want    string
		wantErr bool
	}{
		{"fixed", "10.0.0.1", false},
		{"fixed 192.0.2.7", "192.0.2.7", false},
		{"fixed 2001:db8::1", "", true},
		{"fixed nonsense", "", true},
		{"fixed 192.0.2.7 192.0.2.8", "", true},
	}
	for _, tc := range tests {
		ip, err := parse(caddy.NewTestController("dns", tc.input))
		if (err != nil) != tc.wantErr {
			t.Errorf("%q: err %v, want error %v", tc.input, err, tc.wantErr)
			continue
		}
		if err == nil && ip.String() != tc.want {
			t.Errorf("%q: ip %s, want %s", tc.input, ip, tc.want)
		}
	}
}

func TestSetup(t *testing.T) {
	if err := setup(caddy.NewTestController("dns", "fixed 192.0.2.7")); err != nil {
		t.Fatal(err)
	}
	if err := setup(caddy.NewTestController("dns", "fixed x")); err == nil {
		t.Fatal("want an error for a bad address")
	}
}
