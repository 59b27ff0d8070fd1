package etcdtest

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	tests := []struct {
		out     string
		version string
		err     string
	}{
		{"etcd Version: 3.4.23\nGit SHA: Not provided\nGo Version: go1.19.8\n", "3.4.23", ""},
		{"etcd Version: 3.7.3\nGit SHA: Not provided (use ./build instead of go build)\n", "3.7.3", ""},
		{"etcd Version: 3.6.0-rc.1\n", "3.6.0-rc.1", ""},
		{"etcd Version: 3.3.25\n", "", "older than 3.4"},
		{"etcdctl version: 3.7.3\nAPI version: 3.7\n", "", "not an etcd server"},
		{"", "", "not an etcd server"},
	}
	for _, tt := range tests {
		b, err := parseVersion(tt.out)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("parseVersion(%q) = %v, want error %q", tt.out, err, tt.err)
			}
			continue
		}
		if err != nil || b.Version != tt.version {
			t.Errorf("parseVersion(%q) = %q, %v, want %q", tt.out, b.Version, err, tt.version)
		}
	}
}

func TestAtLeast(t *testing.T) {
	b := Binary{major: 3, minor: 6}
	for _, tt := range []struct {
		major, minor int
		want         bool
	}{{3, 4, true}, {3, 6, true}, {3, 7, false}, {2, 9, true}, {4, 0, false}} {
		if got := b.atLeast(tt.major, tt.minor); got != tt.want {
			t.Errorf("3.6 atLeast(%d, %d) = %v, want %v", tt.major, tt.minor, got, tt.want)
		}
	}
}

func TestCandidates(t *testing.T) {
	root := moduleRoot()
	if root == "" {
		t.Fatal("no module root above the working directory")
	}
	t.Setenv(envBinaries, "")
	paths, explicit := candidates()
	want := []string{debianEtcd, filepath.Join(root, "bin", "etcd")}
	if explicit || strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Errorf("default candidates = %v, %v; want %v, false", paths, explicit, want)
	}

	t.Setenv(envBinaries, "/opt/etcd/etcd, bin/etcd ,")
	paths, explicit = candidates()
	want = []string{"/opt/etcd/etcd", filepath.Join(root, "bin", "etcd")}
	if !explicit || strings.Join(paths, ",") != strings.Join(want, ",") {
		t.Errorf("%s candidates = %v, %v; want %v, true", envBinaries, paths, explicit, want)
	}
}

func TestTailBuffer(t *testing.T) {
	var l tailBuffer
	l.Write([]byte("one\ntwo\nthree\n"))
	for _, tt := range []struct {
		n    int
		want string
	}{{0, ""}, {1, "three"}, {2, "two\nthree"}, {3, "one\ntwo\nthree"}, {9, "one\ntwo\nthree"}} {
		if got := l.tail(tt.n); got != tt.want {
			t.Errorf("tail(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	big := strings.Repeat("x", logKeep)
	l.Write([]byte(big + "\nlast\n"))
	if len(l.b) > logKeep {
		t.Errorf("buffer holds %d bytes, more than %d", len(l.b), logKeep)
	}
	if got := l.tail(1); got != "last" {
		t.Errorf("tail(1) after a long write = %q, want %q", got, "last")
	}
}
