// Package version says which build of Signpost is running: the version the
// Makefile links in from `git describe`, or else what Go recorded in the
// binary when it was built (the module version of `go install
// module@version`, or the commit of a build in a git checkout), or else
// "dev".
package version

import (
	"runtime/debug"
	"strings"
)

// linked and linkedCommit are set at link time, as the Makefile does:
//
//	go build -ldflags "-X github.com/signpost-dns/signpost/internal/version.linked=v1.2.3 \
//	    -X github.com/signpost-dns/signpost/internal/version.linkedCommit=5ed87b7"
//
// They stay empty in a plain `go build`.
var linked, linkedCommit string

// Dev is the version of a build that carries no version information: one
// built without the Makefile, outside a git checkout.
const Dev = "dev"

// String returns the version of this build.
func String() string {
	info, ok := debug.ReadBuildInfo()
	return resolve(linked, info, ok)
}

// Commit returns the commit this build was made from, abbreviated: the
// linked one, else the one Go recorded, with "-dirty" when the checkout had
// changes; "" when there is none (a build outside a git checkout, or with
// -buildvcs=false).
func Commit() string {
	if linkedCommit != "" {
		return linkedCommit
	}
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return ""
	}
	return commit(info)
}

// resolve picks the version from what the build recorded, in order of
// precedence: the linked version, a released module version, the commit.
func resolve(linked string, info *debug.BuildInfo, ok bool) string {
	if linked != "" {
		return linked
	}
	if !ok {
		return Dev
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	if c := commit(info); c != "" {
		return Dev + "-" + c
	}
	return Dev
}

// shortCommit is as many hex digits of a commit as `git describe` shows.
const shortCommit = 7

func commit(info *debug.BuildInfo) string {
	var rev string
	var modified bool
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if rev == "" {
		return ""
	}
	rev = rev[:min(len(rev), shortCommit)]
	if modified {
		rev += "-dirty"
	}
	return rev
}

// Short returns v without the leading "v" of a tag such as "v1.2.3", as
// CoreDNS prints its own version ("CoreDNS-1.15.0").
func Short(v string) string {
	if rest, ok := strings.CutPrefix(v, "v"); ok && rest != "" && rest[0] >= '0' && rest[0] <= '9' {
		return rest
	}
	return v
}
