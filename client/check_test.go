package client_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/client"
	"github.com/signpost-dns/signpost/healthcheck"
	"github.com/signpost-dns/signpost/registry"
)

// TestRegisterCheckRoundTrip registers an instance with a check through the
// real API and reads it back: the server stores the check the probes run,
// answers with it (defaults filled in, secrets masked), and the instance
// starts critical.
func TestRegisterCheckRoundTrip(t *testing.T) {
	reg, srv := newServer(t, api.Options{})
	c := newClient(t, srv.URL)
	ctx := context.Background()
	sent := &client.CheckSpec{
		Type: "http", Path: "/healthz", Interval: 5 * time.Second, Fall: 4,
		Header: map[string]string{"X-Probe": "signpost"}, Expect: "ok",
	}
	in, err := c.Register(ctx, client.Registration{Service: "web", ID: "w1", Address: "10.0.0.5", Port: 8080, Check: sent})
	if err != nil {
		t.Fatal(err)
	}
	want := &client.CheckSpec{
		Type: "http", Path: "/healthz", Interval: 5 * time.Second, Timeout: 2 * time.Second, Rise: 2, Fall: 4,
		Method: "GET", Header: map[string]string{"X-Probe": "***"}, Expect: "ok",
	}
	if !reflect.DeepEqual(in.Check, want) || in.Health != client.Critical || in.TTL != 0 {
		t.Errorf("registered %+v with check %+v\nwant critical with check %+v", in, in.Check, want)
	}
	stored, _ := reg.Snapshot().Service("web").Instance("w1")
	hc, err := healthcheck.DecodeSpec(stored.Check)
	if err != nil || hc.Path != "/healthz" || hc.Interval != 5*time.Second || hc.Fall != 4 || hc.Expect != "ok" || hc.Header.Get("X-Probe") != "signpost" {
		t.Errorf("the registry holds %q (%+v, %v)", stored.Check, hc, err)
	}

	// A redis password reaches the probes but never comes back.
	in, err = c.Register(ctx, client.Registration{Service: "cache", ID: "c1", Address: "10.0.0.7", Port: 6379,
		Check: &client.CheckSpec{Type: "redis", Password: "s3cret"}})
	if err != nil {
		t.Fatal(err)
	}
	if in.Check == nil || in.Check.Password != "***" {
		t.Errorf("check %+v, want the password shown as ***", in.Check)
	}
	if err := reg.SetHealth("cache", "c1", registry.Passing); err != nil {
		t.Fatal(err)
	}
	info, err := c.Service(ctx, "cache")
	if err != nil || len(info.Instances) != 1 || info.Instances[0].Check == nil || info.Instances[0].Check.Type != "redis" ||
		info.Instances[0].Health != client.Passing {
		t.Errorf("service: %+v, %v", info, err)
	}

	// The server refuses what it cannot probe, with its reason.
	_, err = c.Register(ctx, client.Registration{Service: "web", ID: "w2", Address: "10.0.0.6", Port: 80,
		TTL: 15 * time.Second, Check: &client.CheckSpec{Type: "tcp"}})
	if err == nil || !strings.Contains(err.Error(), "check: cannot be combined with ttl") {
		t.Errorf("ttl and check: %v", err)
	}
	_, err = c.Register(ctx, client.Registration{Service: "web", ID: "w2", Address: "10.0.0.6", Port: 80,
		Check: &client.CheckSpec{Type: "tcp", Interval: time.Second, Timeout: 2 * time.Second}})
	if err == nil || !strings.Contains(err.Error(), "check: timeout 2s: must be less than interval 1s") {
		t.Errorf("bad check: %v", err)
	}
}

func TestCheckSpecJSON(t *testing.T) {
	c := client.CheckSpec{Type: "tcp", Interval: 1500 * time.Millisecond}
	b, err := json.Marshal(c)
	if err != nil || string(b) != `{"type":"tcp","interval":"1.5s"}` {
		t.Errorf("marshal: %s, %v", b, err)
	}
	var back client.CheckSpec
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, c) {
		t.Errorf("unmarshal: %+v, %v", back, err)
	}
	// Answers of a newer server with fields this client does not know.
	if err := json.Unmarshal([]byte(`{"type":"tcp","jitter":"1s"}`), &back); err != nil || back.Type != "tcp" {
		t.Errorf("unknown field in an answer: %+v, %v", back, err)
	}
	if err := json.Unmarshal([]byte(`{"type":"tcp","interval":"soon"}`), &back); err == nil {
		t.Error("bad interval in an answer: no error")
	}
}

func TestParseCheck(t *testing.T) {
	c, err := client.ParseCheck(` {"type":"http","path":"/healthz","interval":"5s","header":{"X-A":"b"},"tls_skip_verify":true} `)
	want := &client.CheckSpec{Type: "http", Path: "/healthz", Interval: 5 * time.Second, Header: map[string]string{"X-A": "b"}, TLSSkipVerify: true}
	if err != nil || !reflect.DeepEqual(c, want) {
		t.Errorf("got %+v, %v; want %+v", c, err, want)
	}
	for in, msg := range map[string]string{
		``:                                     `check: empty, want a JSON object`,
		`http`:                                 `check: invalid character 'h'`,
		`"http"`:                               `check: want a JSON object such as`,
		`{"type":"tcp","colour":"red"}`:        `check: unknown field "colour"`,
		`{"type":"tcp","interval":5}`:          `check: interval: want a string, not number`,
		`{"type":"tcp","rise":"2"}`:            `check: rise: want a whole number, not string`,
		`{"type":"tcp","interval":"soon"}`:     `check: interval "soon": want a duration such as "5s"`,
		`{"type":"tcp"} {"type":"http"}`:       `check: want one JSON object and nothing after it`,
		`{"interval":"5s"}`:                    `check: "type" is required`,
		`{"type":"http","header":{"X-A":1}}`:   `check: header: want an object with string values, not number`,
		`{"type":"https","tls_skip_verify":1}`: `check: tls_skip_verify: want true or false, not number`,
	} {
		if _, err := client.ParseCheck(in); err == nil || !strings.HasPrefix(err.Error(), msg) {
			t.Errorf("ParseCheck(%s) = %v, want %s...", in, err, msg)
		}
	}
}
