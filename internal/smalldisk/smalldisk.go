//go:build linux

// Package smalldisk gives tests a real, small file system they can fill,
// without privileges: a tmpfs in a user and mount namespace of the test's
// own.
package smalldisk

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// env tells the child process of Mount where to mount its file system.
const env = "SIGNPOST_TEST_SMALL_DISK"

// Mount runs the calling test again in a child process with a user and
// mount namespace of its own, where a tmpfs of size (such as "256k") is
// mounted on a new directory. In the child it returns that directory and
// true; in the parent it waits for the child, reports its result, and
// returns false. The mount lives and dies with the child's namespace:
// nothing outside it sees the file system. Where the kernel allows no user
// namespaces the test is skipped.
func Mount(t *testing.T, size string) (string, bool) {
	t.Helper()
	if dir := os.Getenv(env); dir != "" {
		// Keep the mount out of the parent's namespace whatever the
		// propagation of / is, then mount the small disk.
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
	cmd.Env = append(os.Environ(), env+"="+dir)
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
