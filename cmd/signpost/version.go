package main

import (
	"fmt"

	"github.com/coredns/caddy"
	"github.com/coredns/coredns/coremain"

	"github.com/signpost-dns/signpost/internal/version"
)

// appName is the name CoreDNS prints in -version and at start-up in place
// of its own.
const appName = "Signpost"

// CoreDNS's -version prints caddy.AppName and caddy.AppVersion, then a line
// with the platform, the Go version and coremain.GitCommit; the start-up
// banner prints the same. coremain sets them to its own in its init, which
// runs before this package's.
func init() {
	caddy.AppName = appName
	caddy.AppVersion = appVersion(version.String(), coremain.CoreVersion)
	if c := version.Commit(); c != "" {
		coremain.GitCommit = c
	}
}

// appVersion is Signpost's version followed by the CoreDNS it is built on:
// "1.2.3 (CoreDNS-1.15.0)", printed as "Signpost-1.2.3 (CoreDNS-1.15.0)".
func appVersion(signpost, coredns string) string {
	return fmt.Sprintf("%s (CoreDNS-%s)", version.Short(signpost), coredns)
}
