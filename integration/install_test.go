package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// makeTimeout bounds one run of make, which builds both binaries.
const makeTimeout = 10 * time.Minute

// runMake runs make in the module root with args and returns its output.
func runMake(t *testing.T, args ...string) string {
	t.Helper()
	makeBin := requireTool(t, "make", "make")
	ctx, cancel := context.WithTimeout(context.Background(), makeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, makeBin, append([]string{"--no-print-directory"}, args...)...)
	cmd.Dir = ".."
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// installed lists the files under root, relative to it.
func installed(t *testing.T, root string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		files = append(files, rel)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// make install puts the binaries, units and examples under PREFIX, with the
// version given to make linked in and the units pointing at the installed
// binaries; systemd accepts the units as installed; make uninstall removes
// every file install wrote.
func TestMakeInstall(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	dir := t.TempDir()
	prefix, build := filepath.Join(dir, "prefix"), filepath.Join(dir, "bin")
	vars := []string{"PREFIX=" + prefix, "BIN=" + build, "VERSION=v9.8.7-1-gabcdef0", "COMMIT=abcdef0"}
	runMake(t, append([]string{"build", "install"}, vars...)...)

	want := []string{
		"bin/signpost", "bin/signpostctl",
		"lib/systemd/system/signpost-sidecar@.service", "lib/systemd/system/signpost.service",
		"lib/sysusers.d/signpost.conf",
		"share/signpost/Corefile.example", "share/signpost/Corefile.port53", "share/signpost/sidecar-web.env.example",
	}
	if got := installed(t, prefix); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("installed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	out, err := exec.Command(filepath.Join(prefix, "bin/signpost"), "-version").Output()
	if err != nil || !strings.HasPrefix(string(out), "Signpost-9.8.7-1-gabcdef0 (CoreDNS-1.") || !strings.Contains(string(out), ", abcdef0\n") {
		t.Errorf("signpost -version: %q, %v", out, err)
	}
	out, err = exec.Command(filepath.Join(prefix, "bin/signpostctl"), "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "signpostctl 9.8.7-1-gabcdef0 (commit abcdef0, go") {
		t.Errorf("signpostctl version: %q, %v", out, err)
	}

	unitDir := filepath.Join(prefix, "lib/systemd/system")
	for unit, bin := range map[string]string{"signpost.service": "signpost -conf", "signpost-sidecar@.service": "signpostctl sidecar"} {
		b, err := os.ReadFile(filepath.Join(unitDir, unit))
		if err != nil {
			t.Fatal(err)
		}
		if want := "ExecStart=" + filepath.Join(prefix, "bin") + "/" + bin; !strings.Contains(string(b), want) {
			t.Errorf("%s: no %q", unit, want)
		}
	}
	verifyUnits(t, filepath.Join(unitDir, "signpost.service"), filepath.Join(unitDir, "signpost-sidecar@web.service"))

	runMake(t, append([]string{"uninstall"}, vars...)...)
	if left := installed(t, prefix); len(left) > 0 {
		t.Errorf("left after make uninstall: %v", left)
	}
	if _, err := os.Stat(filepath.Join(prefix, "share/signpost")); !os.IsNotExist(err) {
		t.Errorf("share/signpost left after make uninstall: %v", err)
	}
}

// verifyUnits runs systemd-analyze verify on the units, which must load
// without a single complaint: it reports unknown keys and bad values only as
// warnings, so any output fails the test.
func verifyUnits(t *testing.T, units ...string) {
	t.Helper()
	analyze := requireTool(t, "systemd-analyze", "systemd")
	ctx, cancel := context.WithTimeout(context.Background(), toolTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, analyze, append([]string{"verify"}, units...)...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil || len(out) > 0 {
		t.Errorf("systemd-analyze verify %s: %v\n%s", strings.Join(units, " "), err, out)
	}
}

// With DESTDIR, as a package build runs it, the files land below DESTDIR
// and the units point at PREFIX, where the package will put the binaries.
func TestMakeInstallDestdir(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	dir := t.TempDir()
	dest := filepath.Join(dir, "dest")
	// install builds nothing (root may have no Go): without a build it
	// says what to run.
	cmd := exec.Command("make", "--no-print-directory", "install", "DESTDIR="+dest, "BIN="+filepath.Join(dir, "bin"))
	cmd.Dir = ".."
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "run make build first") {
		t.Errorf("make install before make build: %v\n%s", err, out)
	}
	runMake(t, "build", "install", "DESTDIR="+dest, "PREFIX=/usr", "BIN="+filepath.Join(dir, "bin"))
	b, err := os.ReadFile(filepath.Join(dest, "usr/lib/systemd/system/signpost.service"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), "\nExecStart=/usr/bin/signpost -conf /etc/signpost/Corefile\n") {
		t.Errorf("signpost.service does not start /usr/bin/signpost:\n%s", b)
	}
	for _, f := range []string{"usr/bin/signpost", "usr/bin/signpostctl", "usr/share/signpost/Corefile.port53"} {
		if _, err := os.Stat(filepath.Join(dest, f)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dest, "etc")); !os.IsNotExist(err) {
		t.Errorf("make install wrote below /etc: %v", err)
	}
}
