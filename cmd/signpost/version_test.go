package main

import (
	"strings"
	"testing"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/coremain"
)

func TestAppVersion(t *testing.T) {
	tests := []struct{ signpost, want string }{
		{"v1.2.3", "1.2.3 (CoreDNS-1.15.0)"},
		{"v1.2.3-4-g5ed87b7-dirty", "1.2.3-4-g5ed87b7-dirty (CoreDNS-1.15.0)"},
		{"5ed87b7", "5ed87b7 (CoreDNS-1.15.0)"},
		{"dev", "dev (CoreDNS-1.15.0)"},
	}
	for _, tt := range tests {
		if got := appVersion(tt.signpost, "1.15.0"); got != tt.want {
			t.Errorf("appVersion(%q) = %q, want %q", tt.signpost, got, tt.want)
		}
	}
}

// The name and version CoreDNS prints are Signpost's, with the CoreDNS
// version this binary links.
func TestVersionReplacesCoreDNS(t *testing.T) {
	if caddy.AppName != "Signpost" {
		t.Errorf("AppName = %q", caddy.AppName)
	}
	if !strings.HasSuffix(caddy.AppVersion, " (CoreDNS-"+coremain.CoreVersion+")") || strings.HasPrefix(caddy.AppVersion, " ") {
		t.Errorf("AppVersion = %q, want Signpost's version followed by (CoreDNS-%s)", caddy.AppVersion, coremain.CoreVersion)
	}
}
