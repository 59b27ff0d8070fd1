package integration

import (
	"context"
	"debug/elf"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// readDockerfile returns the lines of the Dockerfile, continuation lines
// joined.
func readDockerfile(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.ReplaceAll(string(b), "\\\n", " "), "\n")
}

// The Dockerfile's build step, run as it is outside Docker (no Docker
// engine is needed): it builds static binaries of both commands, which
// print the version passed as a build argument.
func TestDockerfileBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds both binaries")
	}
	requireTool(t, "make", "make")
	var step string
	for _, l := range readDockerfile(t) {
		if strings.HasPrefix(l, "RUN ") && strings.Contains(l, "make build") {
			if step != "" {
				t.Fatal("Dockerfile: more than one build step")
			}
			step = strings.TrimPrefix(l, "RUN ")
		}
	}
	if step == "" || !strings.Contains(step, "CGO_ENABLED=0") || !strings.Contains(step, "-trimpath") || !strings.Contains(step, "BIN=/out") {
		t.Fatalf("Dockerfile: no static, trimmed build into /out: %q", step)
	}
	out := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), makeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", strings.ReplaceAll(step, "BIN=/out", "BIN="+out))
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "VERSION=v2.0.0-rc.1", "COMMIT=")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", step, err, b)
	}
	for _, name := range []string{"signpost", "signpostctl"} {
		f, err := elf.Open(filepath.Join(out, name))
		if err != nil {
			t.Fatal(err)
		}
		libs, _ := f.ImportedLibraries()
		for _, p := range f.Progs {
			if p.Type == elf.PT_INTERP {
				t.Errorf("%s is dynamically linked (%v): the distroless static image has no libc", name, libs)
			}
		}
		f.Close()
	}
	b, err := exec.Command(filepath.Join(out, "signpost"), "-version").Output()
	if err != nil || !strings.HasPrefix(string(b), "Signpost-2.0.0-rc.1 (CoreDNS-") {
		t.Errorf("signpost -version: %q, %v", b, err)
	}
}

// The files the Dockerfile copies before `go mod download` are enough for
// it: every module the main module replaces with a directory has its go.mod
// there.
func TestDockerfileModuleLayer(t *testing.T) {
	tmp := t.TempDir()
	var found bool
	for _, l := range readDockerfile(t) {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if f[0] == "RUN" && strings.Contains(l, "go mod download") {
			found = true
			break
		}
		if f[0] != "COPY" || len(f) < 3 || strings.HasPrefix(f[1], "--") {
			continue
		}
		dst := filepath.Join(tmp, f[len(f)-1])
		for _, src := range f[1 : len(f)-1] {
			matches, err := filepath.Glob(filepath.Join("..", src))
			if err != nil || len(matches) == 0 {
				t.Fatalf("Dockerfile: COPY %s matches nothing", src)
			}
			for _, m := range matches {
				b, err := os.ReadFile(m)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(dst, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dst, filepath.Base(m)), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	if !found {
		t.Fatal("Dockerfile: no go mod download step")
	}
	ctx, cancel := context.WithTimeout(context.Background(), makeTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("go mod download with the files copied before it: %v\n%s", err, out)
	}
}

// The final image runs as a non-root user and exposes DNS and the API.
func TestDockerfileImage(t *testing.T) {
	lines := readDockerfile(t)
	var from, user, expose, cmd string
	for _, l := range lines {
		switch f := strings.Fields(l); {
		case len(f) == 0:
		case f[0] == "FROM":
			from, user = l, "" // the last stage counts
		case f[0] == "USER":
			user = f[1]
		case f[0] == "EXPOSE":
			expose += " " + strings.Join(f[1:], " ") + " "
		case f[0] == "CMD":
			cmd = l
		}
	}
	if !strings.Contains(from, "distroless/static") && !strings.Contains(from, "scratch") {
		t.Errorf("final stage %q: want distroless/static or scratch", from)
	}
	if user == "" || strings.HasPrefix(user, "0") || strings.HasPrefix(user, "root") {
		t.Errorf("final stage runs as %q, want a non-root user", user)
	}
	for _, p := range []string{"53/udp", "53/tcp", "8053"} {
		if !strings.Contains(expose, " "+p+" ") {
			t.Errorf("EXPOSE lacks %s: %q", p, expose)
		}
	}
	if !strings.Contains(cmd, "/etc/signpost/Corefile") {
		t.Errorf("CMD %q does not name /etc/signpost/Corefile", cmd)
	}
}

// The image's Corefile runs: the service zone answers, the API takes
// registrations into the data directory, and other names are forwarded.
func TestDockerCorefile(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "contrib", "docker", "Corefile"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	up := startUpstream(t)
	text := string(b)
	for _, r := range [][2]string{
		// Tests listen on loopback only; the image listens everywhere.
		{"svc.internal:53 {", "svc.internal:{{PORT}} {\n    bind 127.0.0.1"},
		{".:53 {", ".:{{PORT}} {\n    bind 127.0.0.1"},
		{"api :8053", "api {{API}}"},
		{"data /var/lib/signpost", "data " + filepath.Join(dir, "data")},
		{"prometheus :9153", "prometheus 127.0.0.1:" + strconv.Itoa(freePort(t))},
		{"health :8080", "health 127.0.0.1:" + strconv.Itoa(freePort(t))},
		{"ready :8181", "ready 127.0.0.1:" + strconv.Itoa(freePort(t))},
		{"forward . /etc/resolv.conf", "forward . " + up.addr},
	} {
		if n := strings.Count(text, r[0]); n != 1 {
			t.Fatalf("contrib/docker/Corefile holds %q %d times, want once", r[0], n)
		}
		text = strings.Replace(text, r[0], r[1], 1)
	}
	s := startServer(t, text)
	api := s.api()
	api.waitReady(t)
	api.expect(t, http.StatusOK, http.MethodPut, instPath("web", "web-1"), regBody("10.0.0.7", 8080, ""))
	checkWeb(t, s)
	if _, err := os.Stat(filepath.Join(dir, "data", "registry.db")); err != nil {
		t.Errorf("data directory: %v", err)
	}
	r := s.exchange(t, newQuery("example.com.", dns.TypeA), "udp")
	if len(r.Answer) != 1 {
		t.Errorf("example.com A through the upstream: %v", r)
	}
}
