package healthcheck

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080/healthz":                      "http://127.0.0.1:8080/healthz",
		"http://user:pw@127.0.0.1/h?api_key=s3cret&x=1&flag": "http://user:xxxxx@127.0.0.1/h?api_key=xxxxx&x=xxxxx&xxxxx",
		"https://127.0.0.1/h?token=abc":                      "https://127.0.0.1/h?token=xxxxx",
		"::not a url":                                        "xxxxx",
		"":                                                   "",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

// A failed http probe's error quotes the URL it asked for; what reaches the
// log must not carry its secrets.
func TestProbeErrorsAreRedactedForLogs(t *testing.T) {
	c := Check{Type: "http", Target: "http://user:pw@127.0.0.1:1/h?api_key=s3cret", Interval: time.Second, Timeout: time.Second}
	_, err := Probe(context.Background(), c.withDefaults())
	if err == nil {
		t.Fatal("probe of a closed port passed")
	}
	for _, s := range []string{redactError(err).Error(), c.redacted()} {
		if strings.Contains(s, "s3cret") || strings.Contains(s, ":pw@") {
			t.Errorf("log text %q holds a secret", s)
		}
	}
	if err := validateURL("http", "ftp://127.0.0.1/h?api_key=s3cret"); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("validation error %v holds the secret", err)
	}
}
