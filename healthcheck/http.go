package healthcheck

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

const (
	maxBody      = 64 << 10 // bytes of body searched for Expect
	maxRedirects = 3
	userAgent    = "signpost-healthcheck"
)

// Two shared transports, verifying and not verifying certificates. Keep-alives
// are off so every probe tests a fresh connection, as a new client would
// make, and nothing idles between probes. No proxy from the environment.
var transports = [2]*http.Transport{newTransport(false), newTransport(true)}

func newTransport(skipVerify bool) *http.Transport {
	return &http.Transport{
		DialContext:            dialer.DialContext,
		TLSClientConfig:        &tls.Config{InsecureSkipVerify: skipVerify, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:    10 * time.Second,
		DisableKeepAlives:      true,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 64 << 10,
	}
}

// probeHTTP passes on a 2xx status (with Expect in the body when set), warns
// on 429 Too Many Requests, and fails on anything else.
func probeHTTP(ctx context.Context, c Check) error {
	req, err := newRequest(ctx, c)
	if err != nil {
		return err
	}
	resp, err := httpClient(c).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusTooManyRequests:
		return warning{fmt.Errorf("HTTP status %s", resp.Status)}
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		return fmt.Errorf("HTTP status %s", resp.Status)
	case c.Expect == "":
		return nil
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return fmt.Errorf("reading body: %w", err)
	}
	if !strings.Contains(string(body), c.Expect) {
		return fmt.Errorf("body does not contain %q", c.Expect)
	}
	return nil
}

func newRequest(ctx context.Context, c Check) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, c.Method, c.Target, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	for name, values := range c.Header {
		if http.CanonicalHeaderKey(name) == "Host" {
			req.Host = values[0]
			continue
		}
		req.Header[name] = values
	}
	return req, nil
}

func httpClient(c Check) *http.Client {
	t := transports[0]
	if c.TLSSkipVerify {
		t = transports[1]
	}
	return &http.Client{Transport: t, Timeout: c.Timeout, CheckRedirect: checkRedirect}
}

// checkRedirect follows a few redirects; past them the redirect response
// itself is the result, and it is not a 2xx.
func checkRedirect(_ *http.Request, via []*http.Request) error {
	if len(via) > maxRedirects {
		return http.ErrUseLastResponse
	}
	return nil
}
