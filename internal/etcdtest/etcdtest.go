// Package etcdtest starts real etcd servers for tests: one member or a
// cluster of several, on loopback ports, each member a child process of the
// test with its own data directory, killed when the test ends.
//
// Tests run against every etcd server that Signpost supports: Debian 12's
// etcd-server (etcd 3.4, /usr/bin/etcd) and a current etcd built by `make
// etcd` into the repository's bin/etcd at the version pinned in the Makefile.
// .ci/run installs both. SIGNPOST_ETCD, a comma-separated list of paths,
// replaces that pair. A test finding no etcd at all fails rather than skips,
// and on CI (CI set) a missing one of the pair fails too.
//
// A typical test:
//
//	for _, b := range etcdtest.Binaries(t) {
//		t.Run(b.String(), func(t *testing.T) {
//			c := etcdtest.Start(t, etcdtest.Options{Members: 3, Binary: b})
//			cli := c.Client(t)
//			// ... use c.Endpoints() and cli; c.Leader().Kill(); ...
//		})
//	}
//
// Helpers that report failure call t.Fatalf, so they belong on the goroutine
// running the test, like t.Fatal itself.
package etcdtest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// debianEtcd is where Debian's etcd-server package installs the server.
const debianEtcd = "/usr/bin/etcd"

// envBinaries names the variable that replaces the default etcd servers.
const envBinaries = "SIGNPOST_ETCD"

// Binary is one etcd server executable.
type Binary struct {
	Path    string // absolute path of the executable
	Version string // as the binary reports it, e.g. "3.4.23"

	major, minor int
}

// String names the binary by its version, e.g. "etcd-3.4.23"; it serves as a
// subtest name.
func (b Binary) String() string { return "etcd-" + b.Version }

// atLeast tells whether the binary is etcd major.minor or newer.
func (b Binary) atLeast(major, minor int) bool {
	return b.major > major || b.major == major && b.minor >= minor
}

// Binaries returns the etcd servers to test against, oldest first. It fails
// the test when there is none.
func Binaries(t testing.TB) []Binary {
	t.Helper()
	paths, explicit := candidates()
	var found []Binary
	var missing []string
	for _, p := range paths {
		b, err := probe(p)
		if err != nil {
			missing = append(missing, err.Error())
			continue
		}
		found = append(found, b)
	}
	hint := "run .ci/run, or apt-get install etcd-server and make etcd, or set " + envBinaries
	switch {
	case len(found) == 0:
		t.Fatalf("etcdtest: no etcd server: %s; %s", strings.Join(missing, "; "), hint)
	case len(missing) > 0 && (explicit || os.Getenv("CI") != ""):
		t.Fatalf("etcdtest: %s; %s", strings.Join(missing, "; "), hint)
	case len(missing) > 0:
		t.Logf("etcdtest: testing without %s (%s)", strings.Join(missing, "; "), hint)
	}
	return found
}

// Latest returns the newest etcd server of Binaries.
func Latest(t testing.TB) Binary {
	t.Helper()
	bins := Binaries(t)
	latest := bins[0]
	for _, b := range bins[1:] {
		if b.atLeast(latest.major, latest.minor) {
			latest = b
		}
	}
	return latest
}

// candidates returns the paths to look at, and whether SIGNPOST_ETCD chose
// them.
func candidates() (paths []string, explicit bool) {
	root := moduleRoot()
	if env := os.Getenv(envBinaries); env != "" {
		for _, p := range strings.Split(env, ",") {
			if p = strings.TrimSpace(p); p != "" {
				paths = append(paths, resolve(p, root))
			}
		}
		return paths, true
	}
	paths = []string{debianEtcd}
	if root != "" {
		paths = append(paths, filepath.Join(root, "bin", "etcd"))
	}
	return paths, false
}

// resolve makes p absolute: a bare name is looked up in PATH, a relative path
// is taken from the module root, since tests run in their package's
// directory.
func resolve(p, root string) string {
	switch {
	case filepath.IsAbs(p):
		return p
	case !strings.ContainsRune(p, filepath.Separator):
		if found, err := exec.LookPath(p); err == nil {
			return found
		}
	}
	if root == "" {
		abs, _ := filepath.Abs(p)
		return abs
	}
	return filepath.Join(root, p)
}

var (
	rootOnce sync.Once
	root     string
)

// moduleRoot returns the nearest directory at or above the working directory
// holding a go.mod, or "" if there is none.
func moduleRoot() string {
	rootOnce.Do(func() {
		dir, err := os.Getwd()
		for err == nil {
			if _, statErr := os.Stat(filepath.Join(dir, "go.mod")); statErr == nil {
				root = dir
				return
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				return
			}
			dir = parent
		}
	})
	return root
}

type probeResult struct {
	b   Binary
	err error
}

var (
	probeMu sync.Mutex
	probes  = map[string]probeResult{}
)

// probe runs path --version once per test binary and remembers the answer.
func probe(path string) (Binary, error) {
	probeMu.Lock()
	defer probeMu.Unlock()
	if r, ok := probes[path]; ok {
		return r.b, r.err
	}
	b, err := runVersion(path)
	probes[path] = probeResult{b, err}
	return b, err
}

func runVersion(path string) (Binary, error) {
	if _, err := os.Stat(path); err != nil {
		return Binary{}, fmt.Errorf("no %s", path)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "--version").CombinedOutput()
	if err != nil {
		return Binary{}, fmt.Errorf("%s --version: %v: %s", path, err, out)
	}
	b, err := parseVersion(string(out))
	if err != nil {
		return Binary{}, fmt.Errorf("%s: %v", path, err)
	}
	b.Path = path
	return b, nil
}

var versionRE = regexp.MustCompile(`(?m)^etcd Version: (\d+)\.(\d+)\.(\d+)(\S*)`)

// parseVersion reads the output of etcd --version; Signpost needs etcd 3.4
// or newer.
func parseVersion(out string) (Binary, error) {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return Binary{}, fmt.Errorf("not an etcd server: --version says %q", strings.TrimSpace(out))
	}
	b := Binary{Version: strings.Join(m[1:4], ".") + m[4]}
	b.major, _ = strconv.Atoi(m[1])
	b.minor, _ = strconv.Atoi(m[2])
	if !b.atLeast(3, 4) {
		return Binary{}, fmt.Errorf("etcd %s is older than 3.4", b.Version)
	}
	return b, nil
}
