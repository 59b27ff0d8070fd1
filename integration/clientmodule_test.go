package integration

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// heavy are the modules a program embedding the client must never pull
// in: the server's own dependencies.
var heavy = []string{
	"github.com/coredns/", "go.etcd.io/", "github.com/prometheus/",
	"github.com/miekg/dns", "github.com/quic-go/", "go.uber.org/zap",
}

// TestClientModuleIsLight builds the module graph of a program that uses
// the client, as a user's module requiring it would have: the client's
// module and the program's, nothing else, and no package outside the
// standard library but the client. The client has no requirements, so
// this needs no network.
func TestClientModuleIsLight(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	dir := userModule(t, `module example.com/user

go 1.26.0

require github.com/signpost-dns/signpost/client v0.0.0-00010101000000-000000000000

replace github.com/signpost-dns/signpost/client => `+filepath.Join(root, "client")+"\n",
		`package main

import "github.com/signpost-dns/signpost/client"

func main() { _, _ = client.New(nil) }
`)
	mods := goList(t, dir, "-m", "-f", "{{.Path}}", "all")
	if want := []string{"example.com/user", "github.com/signpost-dns/signpost/client"}; !slices.Equal(mods, want) {
		t.Errorf("module graph %v, want only %v", mods, want)
	}
	pkgs := goList(t, dir, "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".")
	if want := []string{"github.com/signpost-dns/signpost/client", "example.com/user"}; !slices.Equal(pkgs, want) {
		t.Errorf("packages outside the standard library: %v, want %v", pkgs, want)
	}
	checkNotHeavy(t, goList(t, dir, "-deps", "."))
}

// TestGRPCResolverModuleIsLight does the same for a program using the gRPC
// resolver: gRPC and what it needs, none of the server's dependencies.
// The module's go.sum lists what its graph needs, so this also needs no
// network when gRPC is in the module cache.
func TestGRPCResolverModuleIsLight(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	res := filepath.Join(root, "client", "grpcresolver")
	gomod, err := os.ReadFile(filepath.Join(res, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	// The user's module requires what the resolver's does, as `go get`
	// would write, and replaces both modules with this checkout.
	reqs := string(gomod)
	reqs = reqs[strings.Index(reqs, "require"):strings.LastIndex(reqs, "replace")]
	dir := userModule(t, "module example.com/user\n\ngo 1.26.0\n\n"+reqs+
		"require github.com/signpost-dns/signpost/client/grpcresolver v0.0.0-00010101000000-000000000000\n\n"+
		"replace github.com/signpost-dns/signpost/client => "+filepath.Join(root, "client")+"\n"+
		"replace github.com/signpost-dns/signpost/client/grpcresolver => "+res+"\n",
		`package main

import (
	"github.com/signpost-dns/signpost/client/grpcresolver"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

func main() {
	cc, err := grpc.NewClient("signpost:///web", grpc.WithResolvers(grpcresolver.NewBuilder()),
		grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err == nil {
		cc.Close()
	}
}
`)
	sum, err := os.ReadFile(filepath.Join(res, "go.sum"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	checkNotHeavy(t, goList(t, dir, "-m", "-f", "{{.Path}}", "all"))
	pkgs := goList(t, dir, "-deps", ".")
	checkNotHeavy(t, pkgs)
	if !slices.Contains(pkgs, "google.golang.org/grpc/resolver") {
		t.Errorf("packages %v: no gRPC resolver package, the listing is not of this program", pkgs)
	}
}

// userModule writes a module with one main package in a temporary
// directory and returns the directory.
func userModule(t *testing.T, gomod, main string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(main), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// goList runs go list in dir, as a user's module would: outside any
// workspace, free to update go.mod, with the environment's proxy settings.
func goList(t *testing.T, dir string, args ...string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", append([]string{"list"}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.Fields(strings.TrimSpace(string(out)))
}

// checkNotHeavy fails the test for each module or package of the server's
// dependencies in list.
func checkNotHeavy(t *testing.T, list []string) {
	t.Helper()
	for _, p := range list {
		for _, h := range heavy {
			if strings.HasPrefix(p, h) || strings.Contains(p, "bbolt") {
				t.Errorf("%s is in the graph of a program using the client", p)
			}
		}
	}
}
