package api

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

// TestConcurrentClients has many clients register, re-register and renew
// their instances at once, over HTTP, while others follow the service with
// blocking queries. Every instance must end as its last write left it.
func TestConcurrentClients(t *testing.T) {
	const clients, rounds = 32, 20
	reg := registry.New(registry.Config{})
	srv := httptest.NewServer(NewHandler(reg, Options{Token: "t"}))
	defer srv.Close()

	ctx, stopWatchers := context.WithCancel(context.Background())
	var watchers sync.WaitGroup
	for range 4 {
		watchers.Go(func() { watch(ctx, srv.URL) })
	}

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for c := range clients {
		wg.Go(func() {
			if err := churn(srv.URL, c, rounds); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	stopWatchers()
	watchers.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	svc := reg.Snapshot().Service("web")
	if svc == nil || svc.Len() != clients {
		t.Fatalf("service web has %v instances, want %d", svc, clients)
	}
	for c := range clients {
		in, _ := svc.Instance(fmt.Sprintf("w%d", c))
		if want := uint16(1000 + rounds - 1); in.Port != want || in.Health != registry.Passing {
			t.Errorf("w%d: port %d health %s, want port %d passing", c, in.Port, in.Health, want)
		}
	}
}

// churn registers instance w<c> rounds times with a new port each time,
// renewing its lease after each registration.
func churn(base string, c, rounds int) error {
	path := fmt.Sprintf("%s/v1/services/web/instances/w%d", base, c)
	for r := range rounds {
		body := fmt.Sprintf(`{"address":"10.0.%d.%d","port":%d,"ttl":"30s"}`, c/250, c%250+1, 1000+r)
		if err := send("PUT", path, body); err != nil {
			return err
		}
		if err := send("PUT", path+"/heartbeat", ""); err != nil {
			return err
		}
	}
	return nil
}

func send(method, url, body string) error {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer t")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return nil
}

// watch follows service web with blocking queries until ctx is done.
func watch(ctx context.Context, base string) {
	index := "0"
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, "GET", base+"/v1/services/web?wait=1s&index="+index, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		index = resp.Header.Get(IndexHeader)
	}
}
