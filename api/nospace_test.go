//go:build linux

package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

// smallDiskEnv tells the child process of smallDisk where to mount its file
// system.
const smallDiskEnv = "SIGNPOST_TEST_SMALL_DISK"

// smallDisk makes a real full disk without privileges: it runs the calling
// test again in a child process with a user and mount namespace of its own,
// where a tmpfs of size is mounted on a new directory. In the child it
// returns that directory and true; in the parent it waits for the child,
// reports its result and returns false. The mount dies with the child's
// namespace. Where the kernel allows no user namespaces the test is skipped.
func smallDisk(t *testing.T, size string) (string, bool) {
	t.Helper()
	if dir := os.Getenv(smallDiskEnv); dir != "" {
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			t.Skipf("making / private in the test's mount namespace: %v", err)
		}
		if err := syscall.Mount("tmpfs", dir, "tmpfs", syscall.MS_NOSUID|syscall.MS_NODEV, "size="+size); err != nil {
			t.Skipf("mounting a %s tmpfs: %v", size, err)
		}
		return dir, true
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1", "-test.timeout=2m")
	cmd.Env = append(os.Environ(), smallDiskEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNS,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
	}
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err != nil && !errors.As(err, &exit):
		t.Skipf("no user namespaces here, so no small disk without privileges: %v", err)
	case strings.Contains(string(out), "--- SKIP"):
		t.Skipf("the child skipped:\n%s", out)
	case err != nil:
		t.Fatalf("in a %s tmpfs: %v\n%s", size, err, out)
	}
	t.Logf("in a %s tmpfs:\n%s", size, out)
	return "", false
}

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
	dir, ok := smallDisk(t, "256k")
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
