package integration

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// The tests of this file start the server on a data directory whose file
// is not a registry. Helpers carry a datafile prefix, to keep clear of the
// other files of the package.

// datafileCorefile serves the API and DNS with data dir, in startServer's
// template form.
func datafileCorefile(dir string) string {
	return `svc.internal:{{PORT}} {
    bind 127.0.0.1
    signpost {
        api {{API}}
        data ` + dir + `
    }
    errors
}
`
}

// datafileRun runs the server on datafileCorefile(dir) and free loopback
// ports; the server must exit by itself within readyTimeout. It returns
// the server's output and exit code.
func datafileRun(t *testing.T, dir string) (string, int) {
	t.Helper()
	corefile := filepath.Join(t.TempDir(), "Corefile")
	text := strings.NewReplacer(
		"{{PORT}}", strconv.Itoa(freePort(t)),
		"{{API}}", net.JoinHostPort("127.0.0.1", strconv.Itoa(freePort(t))),
	).Replace(datafileCorefile(dir))
	if err := os.WriteFile(corefile, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, signpostBin, "-conf", corefile)
	cmd.Dir = filepath.Dir(corefile)
	cmd.WaitDelay = stopTimeout
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		t.Fatalf("the server was still running after %v (it must refuse the data file and exit); output:\n%s", readyTimeout, abridge(string(out), 20))
	}
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		return string(out), exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return string(out), 0
}

// TestDataFileZeroLength starts the server on a data directory whose
// registry.db is empty, as a crash or a full disk can leave it: the server
// must not take it for a new registry and serve nothing, but exit non-zero
// with a message naming the file, and leave the file as it was.
func TestDataFileZeroLength(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	if err := os.WriteFile(db, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := datafileRun(t, dir)
	if code == 0 {
		t.Fatalf("exit 0 on a zero-length %s; output:\n%s", db, abridge(out, 20))
	}
	if !strings.Contains(out, db) || !strings.Contains(out, "empty") {
		t.Errorf("exit %d; the output does not name %s and say it is empty:\n%s", code, db, abridge(out, 20))
	}
	if strings.Contains(out, "panic:") {
		t.Errorf("the server panicked:\n%s", abridge(out, 20))
	}
	if fi, err := os.Stat(db); err != nil || fi.Size() != 0 {
		t.Errorf("the refused file was changed: %v, %v", fi, err)
	}
}

// TestDataFileTruncated starts the server on a registry.db cut short of
// one bbolt page: refused as well, naming the file.
func TestDataFileTruncated(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db := filepath.Join(dir, "registry.db")
	if err := os.WriteFile(db, make([]byte, 100), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := datafileRun(t, dir)
	if code == 0 {
		t.Fatalf("exit 0 on a truncated %s; output:\n%s", db, abridge(out, 20))
	}
	if !strings.Contains(out, db) {
		t.Errorf("exit %d; the output does not name %s:\n%s", code, db, abridge(out, 20))
	}
}

// TestDataFileMissing starts the server on an empty data directory: that
// is a new registry, and the server serves.
func TestDataFileMissing(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := startServer(t, datafileCorefile(dir))
	if _, err := os.Stat(filepath.Join(dir, "registry.db")); err != nil {
		t.Errorf("no data file created in %s: %v", dir, err)
	}
	s.terminate()
}
