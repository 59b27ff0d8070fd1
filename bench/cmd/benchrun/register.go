package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// registerWorkers bounds the registrations in flight.
const registerWorkers = 16

// registration is one PUT of the data set.
type registration struct {
	service, id string
	body        []byte
}

// loadSignpost registers the data set into each Signpost server through its
// HTTP API.
func (h *harness) loadSignpost(ctx context.Context) error {
	regs := registrations(h.data)
	for _, sp := range h.servers {
		if !sp.api {
			continue
		}
		base := fmt.Sprintf("http://127.0.0.1:%d", sp.apiPort)
		start := time.Now()
		if err := registerAll(ctx, base, regs); err != nil {
			return fmt.Errorf("registering into %s: %w", sp.name, err)
		}
		logf("registered %d instances into %s in %s", len(regs), sp.name, time.Since(start).Round(time.Millisecond))
	}
	return nil
}

// registrations are the PUTs that load d: instance i1, i2, ... of each service.
func registrations(d dataset) []registration {
	var regs []registration
	for _, s := range d.services {
		for k, a := range s.addrs {
			body, _ := json.Marshal(map[string]any{"address": a.String(), "port": port})
			regs = append(regs, registration{service: s.name, id: fmt.Sprintf("i%d", k+1), body: body})
		}
	}
	return regs
}

// registerAll sends regs with registerWorkers in parallel and returns the
// first failure.
func registerAll(ctx context.Context, base string, regs []registration) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	client := &http.Client{Timeout: 10 * time.Second}
	work := make(chan registration)
	var wg sync.WaitGroup
	for range registerWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range work {
				if err := register(ctx, client, base, r); err != nil {
					cancel(err)
				}
			}
		}()
	}
	feed(ctx, work, regs)
	wg.Wait()
	return context.Cause(ctx)
}

// feed sends regs to work until done or ctx ends, then closes work.
func feed(ctx context.Context, work chan<- registration, regs []registration) {
	defer close(work)
	for _, r := range regs {
		select {
		case work <- r:
		case <-ctx.Done():
			return
		}
	}
}

func register(ctx context.Context, client *http.Client, base string, r registration) error {
	url := fmt.Sprintf("%s/v1/services/%s/instances/%s", base, r.service, r.id)
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, url, bytes.NewReader(r.body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("PUT %s: %s: %s", url, resp.Status, body)
	}
	return nil
}
