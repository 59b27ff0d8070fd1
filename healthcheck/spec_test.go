package healthcheck

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestDecodeSpec(t *testing.T) {
	c, err := DecodeSpec(`{"type":"http","path":"/healthz","interval":"5s","timeout":"1s","rise":1,"fall":2,"header":{"x-probe":"signpost"},"expect":"ok"}`)
	if err != nil {
		t.Fatal(err)
	}
	if c.Interval != 5*time.Second || c.Timeout != time.Second || c.Rise != 1 || c.Fall != 2 || c.Header.Get("X-Probe") != "signpost" {
		t.Errorf("check %+v", c)
	}
	if got := c.ForInstance(netip.MustParseAddrPort("10.0.0.5:8080")).Target; got != "http://10.0.0.5:8080/healthz" {
		t.Errorf("target %q", got)
	}
	spec := Spec{Type: "redis", Password: "s3cret", Interval: "2s"}
	c, err = DecodeSpec(spec.Encode())
	if err != nil || c.Password != "s3cret" || c.Interval != 2*time.Second {
		t.Errorf("round trip: %+v, %v", c, err)
	}
}

func TestDecodeSpecErrors(t *testing.T) {
	for spec, want := range map[string]string{
		`{"type":"ftp"}`:                                "type",
		`{"type":"tcp","interval":"soon"}`:              `interval "soon"`,
		`{"type":"tcp","timeout":"-1s"}`:                `timeout "-1s"`,
		`{"type":"tcp","colour":"red"}`:                 "unknown field",
		`{"type":"http","url":"not a url"}`:             "url",
		`{"type":"tcp","method":"GET"}`:                 "method",
		`{"type":"tcp","interval":"1s","timeout":"2s"}`: "timeout",
		`{"interval":"1s"}`:                             "type: missing, want one of tcp, http",
		`{"type":"tcp","url":"10.0.0.5:80"}`:            "url: only for http and https checks, not tcp",
		`{"type":"http","url":"http://a/","path":"/x"}`: "url and path: give one or the other",
		`{"type":"redis","rise":-1}`:                    "rise -1",
	} {
		_, err := DecodeSpec(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("DecodeSpec(%s) = %v, want an error about %q", spec, err, want)
		}
	}
}

func TestSpecOfRoundTrip(t *testing.T) {
	c, err := ParseArgs(strings.Fields("http path /healthz interval 2s timeout 500ms rise 3 fall 4 method HEAD header X-Probe signpost tls-skip-verify"))
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeSpec(SpecOf(c).Encode())
	if err != nil {
		t.Fatal(err)
	}
	if back.Path != "/healthz" || back.Interval != 2*time.Second || back.Timeout != 500*time.Millisecond || back.Rise != 3 ||
		back.Fall != 4 || back.Method != "HEAD" || back.Header.Get("X-Probe") != "signpost" || !back.TLSSkipVerify {
		t.Errorf("round trip changed the check:\n%+v\n%+v", c, back)
	}
}

// TestSpecDefaults checks that a spec's check has its defaults applied, so
// that SpecOf spells out what the probes use, and that the spelled-out form
// reads back as the same check.
func TestSpecDefaults(t *testing.T) {
	c, err := Spec{Type: "TCP", Interval: "200ms"}.Check()
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"type":"tcp","interval":"200ms","timeout":"100ms","rise":2,"fall":3}`
	if got := SpecOf(c).Encode(); got != want {
		t.Errorf("spec %s, want %s", got, want)
	}
	back, err := DecodeSpec(want)
	if err != nil || !back.equal(c) {
		t.Errorf("read back %+v, %v; want %+v", back, err, c)
	}
	c, err = Spec{Type: "http", Header: map[string]string{"x-probe": "1"}}.Check()
	if err != nil {
		t.Fatal(err)
	}
	const wantHTTP = `{"type":"http","interval":"10s","timeout":"2s","rise":2,"fall":3,"method":"GET","header":{"X-Probe":"1"}}`
	if got := SpecOf(c).Encode(); got != wantHTTP {
		t.Errorf("spec %s, want %s", got, wantHTTP)
	}
}
