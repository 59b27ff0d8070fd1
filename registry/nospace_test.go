//go:build linux

package registry_test

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/signpost-dns/signpost/internal/smalldisk"
	"github.com/signpost-dns/signpost/registry"
)

// fullInstance is an API registration of about 600 bytes stored.
func fullInstance(i int) registry.Instance {
	return registry.Instance{
		Service: "web", ID: fmt.Sprintf("w%05d", i), Address: netip.MustParseAddr("10.0.0.1"), Port: 80, Weight: 1,
		Meta: map[string]string{"pad": strings.Repeat("x", 500)}, Source: registry.SourceAPI,
	}
}

// fillDisk takes whatever space the file system at dir has left.
func fillDisk(t *testing.T, dir string) {
	t.Helper()
	f, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	buf := make([]byte, 4096)
	for {
		if _, err := f.Write(buf); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			break
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	if st.Bavail != 0 {
		t.Fatalf("%d blocks free after filling the disk", st.Bavail)
	}
}

// TestRegisterNoSpace fills a real disk with registrations: the one that
// does not fit fails with ErrNoSpace, nothing of it is kept, and on the
// disk, filled to the last block, deregistrations still work (bbolt writes
// a delete into pages of its file that earlier writes freed, which take no
// new blocks on file systems that overwrite in place), after which there is
// room to register again. A restart finds exactly what was acknowledged.
func TestRegisterNoSpace(t *testing.T) {
	dir, ok := smalldisk.Mount(t, "256k")
	if !ok {
		return
	}
	r, err := registry.Open(dir, registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { r.Stop() }()

	n := 0
	for ; ; n++ {
		if n == 10000 {
			t.Fatal("10000 registrations fit on a 256k disk")
		}
		_, err = r.Register(fullInstance(n))
		if err != nil {
			break
		}
	}
	if !errors.Is(err, registry.ErrNoSpace) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("registration %d: %v, want ErrNoSpace saying what the disk said", n, err)
	}
	if n == 0 {
		t.Fatal("not one registration fit")
	}
	t.Logf("%d registrations fit, then: %v", n, err)
	if _, ok := r.Snapshot().Service("web").Instance(fullInstance(n).ID); ok {
		t.Errorf("instance %d is served though it was not stored", n)
	}

	fillDisk(t, dir)
	if _, err := r.Register(fullInstance(n)); !errors.Is(err, registry.ErrNoSpace) {
		t.Errorf("registration on a full disk: %v, want ErrNoSpace", err)
	}
	// Free space by deregistering: it must work on the full disk.
	for i := range n / 2 {
		if err := r.Deregister("web", fullInstance(i).ID); err != nil {
			t.Fatalf("deregistration %d on a full disk: %v", i, err)
		}
	}
	// The space they held in the file takes new registrations.
	for i := n; i < n+n/4; i++ {
		if _, err := r.Register(fullInstance(i)); err != nil {
			t.Fatalf("registration %d after deregistering half: %v", i, err)
		}
	}
	want := r.Snapshot().Service("web").Len()
	r.Stop()

	r, err = registry.Open(dir, registry.Config{})
	if err != nil {
		t.Fatalf("reopening the full disk's registry: %v", err)
	}
	if got := r.Snapshot().Service("web").Len(); got != want {
		t.Errorf("%d instances after a restart, want the %d acknowledged", got, want)
	}
}

// TestDeregisterAmidRegistrationsOnFullDisk deregisters on a full disk
// while writers keep retrying registrations that cannot fit: writes that
// arrive together commit together, and every deregistration must still
// succeed rather than fail with the registrations in its batch.
func TestDeregisterAmidRegistrationsOnFullDisk(t *testing.T) {
	dir, ok := smalldisk.Mount(t, "256k")
	if !ok {
		return
	}
	r, err := registry.Open(dir, registry.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Stop()
	n := 0
	for ; n < 10000; n++ {
		if _, err := r.Register(fullInstance(n)); err != nil {
			break
		}
	}
	fillDisk(t, dir)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r.Register(fullInstance(100000 + w*1000 + i%1000))
			}
		})
	}
	failed := 0
	for i := range n / 2 {
		if err := r.Deregister("web", fullInstance(i).ID); err != nil {
			failed++
			t.Logf("deregistration %d: %v", i, err)
		}
	}
	close(stop)
	wg.Wait()
	if failed > 0 {
		t.Errorf("%d of %d deregistrations failed on the full disk amid registrations", failed, n/2)
	}
}
