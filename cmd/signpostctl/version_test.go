package main

import (
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

func TestVersionCommand(t *testing.T) {
	ctx := context.Background()
	want := regexp.MustCompile(`^signpostctl \S+ \((commit \S+, )?` + regexp.QuoteMeta(runtime.Version()) + ` ` + runtime.GOOS + `/` + runtime.GOARCH + `\)\n$`)
	for _, args := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		r := ctl(ctx, nil, args...)
		if r.code != 0 || r.stderr != "" || !want.MatchString(r.stdout) {
			t.Errorf("%v: exit %d, stdout %q, stderr %q", args, r.code, r.stdout, r.stderr)
		}
	}
	ctl(ctx, nil, "version", "extra").check(t, 2, "", "signpostctl: version: want no arguments, got 1 argument(s)")
}

// The version the Makefile links in is the one printed: the -X names are
// those of package version, and a tag's "v" is dropped as CoreDNS drops it.
func TestVersionLinked(t *testing.T) {
	if testing.Short() {
		t.Skip("builds signpostctl")
	}
	bin := filepath.Join(t.TempDir(), "signpostctl")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	const pkg = "github.com/signpost-dns/signpost/internal/version"
	build := exec.CommandContext(ctx, "go", "build", "-o", bin,
		"-ldflags", "-X "+pkg+".linked=v1.2.3-4-g5ed87b7-dirty -X "+pkg+".linkedCommit=5ed87b7", ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out, err := exec.CommandContext(ctx, bin, "--version").Output()
	if err != nil {
		t.Fatal(err)
	}
	want := "signpostctl 1.2.3-4-g5ed87b7-dirty (commit 5ed87b7, " + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")\n"
	if string(out) != want {
		t.Errorf("--version = %q, want %q", out, want)
	}
	if out, _ := exec.CommandContext(ctx, bin, "version").Output(); !strings.HasPrefix(string(out), "signpostctl 1.2.3-4-g5ed87b7-dirty ") {
		t.Errorf("version = %q", out)
	}
}
