package version

import (
	"runtime/debug"
	"testing"
)

func TestResolve(t *testing.T) {
	vcs := func(rev, modified string) []debug.BuildSetting {
		return []debug.BuildSetting{{Key: "vcs", Value: "git"}, {Key: "vcs.revision", Value: rev}, {Key: "vcs.modified", Value: modified}}
	}
	const rev = "5ed87b7a0c1d2e3f405162738495a6b7c8d9e0f1"
	tests := []struct {
		name   string
		linked string
		info   *debug.BuildInfo
		ok     bool
		want   string
	}{
		{"linked wins", "v1.2.3-4-g5ed87b7-dirty", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0"}}, true, "v1.2.3-4-g5ed87b7-dirty"},
		{"no build info", "", nil, false, "dev"},
		{"go install at a version", "", &debug.BuildInfo{Main: debug.Module{Version: "v1.4.0"}}, true, "v1.4.0"},
		{"pseudo-version from the checkout", "", &debug.BuildInfo{Main: debug.Module{Version: "v0.0.0-20261126151704-5ed87b7a0c1d+dirty"}}, true, "v0.0.0-20261126151704-5ed87b7a0c1d+dirty"},
		{"devel with a commit", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "false")}, true, "dev-5ed87b7"},
		{"devel with changes", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: vcs(rev, "true")}, true, "dev-5ed87b7-dirty"},
		{"devel outside git", "", &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}}, true, "dev"},
		{"empty main version", "", &debug.BuildInfo{}, true, "dev"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resolve(tt.linked, tt.info, tt.ok); got != tt.want {
				t.Errorf("resolve = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestCommit(t *testing.T) {
	info := &debug.BuildInfo{Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "abc"}}}
	if got := commit(info); got != "abc" {
		t.Errorf("short revision: %q", got)
	}
	if got := commit(&debug.BuildInfo{}); got != "" {
		t.Errorf("no revision: %q", got)
	}
}

func TestShort(t *testing.T) {
	for in, want := range map[string]string{
		"v1.2.3":            "1.2.3",
		"v1.2.3-4-g5ed87b7": "1.2.3-4-g5ed87b7",
		"dev-5ed87b7":       "dev-5ed87b7",
		"5ed87b7-dirty":     "5ed87b7-dirty",
		"v":                 "v",
		"vnext":             "vnext",
	} {
		if got := Short(in); got != want {
			t.Errorf("Short(%q) = %q, want %q", in, got, want)
		}
	}
}

// A test binary is built by go test with build information of its own; the
// answer must still be a version, never empty.
func TestStringNotEmpty(t *testing.T) {
	if String() == "" {
		t.Error("String() is empty")
	}
}
