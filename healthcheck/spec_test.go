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
