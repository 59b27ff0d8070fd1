package main

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/api"
	"github.com/signpost-dns/signpost/registry"
)

// A 401 says where the token comes from on this command line.
func TestTokenHint(t *testing.T) {
	_, srv := newServer(t, api.Options{Token: "s3cret"})
	ctx := context.Background()
	env := []string{"SIGNPOST_SERVER=" + srv.URL}
	ctl(ctx, env, "register", "web", "w1", "10.0.0.5:80").
		check(t, 1, "", "(HTTP 401): the server wants a token; give it with --token or SIGNPOST_TOKEN\n")
	ctl(ctx, env, "deregister", "web", "w1", "--token", "wrong").
		check(t, 1, "", "(HTTP 401): the server refused the token from --token or SIGNPOST_TOKEN\n")
	ctl(ctx, append(env, "SIGNPOST_TOKEN=wrong"), "heartbeat", "web", "w1").
		check(t, 1, "", "the server refused the token from --token or SIGNPOST_TOKEN\n")
	// Other refusals are told as the server tells them.
	ctl(ctx, append(env, "SIGNPOST_TOKEN=s3cret"), "heartbeat", "web", "w1").
		check(t, 1, "", "signpostctl: heartbeat: instance w1 of service web not found (HTTP 404)\n")
}

// A duration without a unit is a usage error that shows the form wanted.
func TestDurationFlags(t *testing.T) {
	ctx := context.Background()
	const want = "not a duration such as 30s, 1m or 500ms"
	tests := []struct {
		args []string
		msg  string
	}{
		{[]string{"register", "web", "w1", "10.0.0.5:80", "--ttl", "30"}, `signpostctl: register: invalid value "30" for --ttl: ` + want + ` (see 'signpostctl register --help')`},
		{[]string{"--timeout", "5", "ls"}, `signpostctl: invalid value "5" for --timeout: ` + want},
		{[]string{"ls", "--timeout", "five"}, `signpostctl: ls: invalid value "five" for --timeout: ` + want},
		{[]string{"sidecar", "--service", "web", "--id", "w1", "--address", "10.0.0.5", "--port", "80", "--check-interval", "1"}, `invalid value "1" for --check-interval: ` + want},
		{[]string{"sidecar", "--service", "web", "--id", "w1", "--address", "10.0.0.5", "--port", "80", "--health-timeout", "2"}, `invalid value "2" for --health-timeout: ` + want},
	}
	for _, tc := range tests {
		ctl(ctx, nil, tc.args...).check(t, 2, "", tc.msg)
	}
	// Good values still parse, and --help names the kind of value.
	_, srv := newServer(t, api.Options{})
	ctl(ctx, []string{"SIGNPOST_SERVER=" + srv.URL}, "register", "web", "w1", "10.0.0.5:80", "--ttl", "1m30s", "--timeout", "2s").
		check(t, 0, "(passing, ttl 1m30s)", "")
	ctl(ctx, nil, "register", "--help").check(t, 0, "  --ttl duration\n", "")
}

// watch of a service nobody registered yet waits for it, saying so, rather
// than failing or printing an empty table; when its last instance goes, it
// says so too and keeps waiting.
func TestWatchUnknownService(t *testing.T) {
	timeNow = func() time.Time { return testNow }
	t.Cleanup(func() { timeNow = time.Now })
	reg, srv := newServer(t, api.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	var stdout, stderr syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"watch", "web", "--server", srv.URL}, func(string) string { return "" }, &stdout, &stderr)
	}()
	eventually(t, "the first report", func() bool {
		return strings.Contains(stdout.String(), "03:04:05 no instances of web registered yet; waiting\n")
	})
	if _, err := reg.Register(registry.Instance{Service: "web", ID: "w1", Address: netip.MustParseAddr("10.0.0.5"), Port: 80, Weight: 1}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the registration", func() bool { return strings.Contains(stdout.String(), "w1  10.0.0.5:80") })
	if err := reg.Deregister("web", "w1"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deregistration", func() bool {
		return strings.Contains(stdout.String(), "03:04:05 no instances of web registered; waiting\n")
	})
	cancel()
	select {
	case code := <-done:
		if code != 0 || stderr.String() != "" {
			t.Errorf("exit %d, stderr %q", code, stderr.String())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watch did not stop")
	}
}
