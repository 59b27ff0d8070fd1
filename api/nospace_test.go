//go:build linux

package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/signpost-dns/signpost/internal/smalldisk"
	"github.com/signpost-dns/signpost/registry"
)

const noSpaceMsg = "no space left on device: not stored"

// TestNoSpaceAnswer checks that a write the disk had no room for answers
// 507 with the reason, not 500, also for a write rolled back behind it.
func TestNoSpaceAnswer(t *testing.T) {
	f := newFixture(t, Options{})
	disk := fmt.Errorf("writing /d/registry.db: %w", &os.PathError{Op: "write", Path: "/d/registry.db", Err: syscall.ENOSPC})
	for _, err := range []error{
		registry.ErrNoSpace,
		fmt.Errorf("rolled back after an earlier write failed: %w", errors.Join(registry.ErrNoSpace, disk)),
	} {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("PUT", "/v1/services/web/instances/w1", nil)
		f.h.fail(rec, req, err)
		wantError(t, rec, http.StatusInsufficientStorage, noSpaceMsg)
	}
}

// TestRegisterOnFullDisk registers through the API until a real disk is
// full: registrations get 507 with the reason, and deregistrations still
// work on the disk filled to its last block, which frees room to register.
func TestRegisterOnFullDisk(t *testing.T) {
	dir, ok := smalldisk.Mount(t, "256k")
	if !ok {
		return
	}
	reg, err := registry.Open(dir, registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer reg.Stop()
	f := &fixture{t: t, reg: reg, clock: newClock(), h: newHandler(reg, Options{})}
	pad := strings.Repeat("x", 500)
	put := func(i int) int {
		body := fmt.Sprintf(`{"address":"10.0.0.5","port":80,"ttl":"1h","meta":{"pad":%q}}`, pad)
		rec := f.do("PUT", fmt.Sprintf("/v1/services/web/instances/w%d", i), body)
		if rec.Code == http.StatusInsufficientStorage {
			wantError(t, rec, http.StatusInsufficientStorage, noSpaceMsg)
		}
		return rec.Code
	}
	n := 0
	for ; n < 10000 && put(n) == http.StatusOK; n++ {
	}
	if code := put(n); code != http.StatusInsufficientStorage || n == 0 {
		t.Fatalf("after %d registrations: %d, want 507", n, code)
	}
	// Take what the disk has left to the last block.
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for err == nil {
		_, err = filler.Write(make([]byte, 4096))
	}
	filler.Close()
	if code := put(n); code != http.StatusInsufficientStorage {
		t.Errorf("registration on a full disk: %d, want 507", code)
	}
	for i := range n / 2 {
		if rec := f.do("DELETE", fmt.Sprintf("/v1/services/web/instances/w%d", i), ""); rec.Code != http.StatusNoContent {
			t.Fatalf("DELETE %d on a full disk: %d %s", i, rec.Code, rec.Body)
		}
	}
	if code := put(n); code != http.StatusOK {
		t.Errorf("registration after deregistering half: %d, want 200", code)
	}
}
