package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"

	"github.com/signpost-dns/signpost/internal/version"
)

var versionCmd = &command{
	name:     "version",
	synopsis: "",
	args:     "no arguments",
	summary:  "Print the version of signpostctl (also: signpostctl --version).",
	minArgs:  0, maxArgs: 0,
	examples: `  signpostctl version
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		return func(context.Context, []string) error {
			printVersion(a.stdout)
			return nil
		}
	},
}

// printVersion prints one line, as "signpost -version" prints the server's:
// the version, then the commit, Go version and platform of the build.
func printVersion(w io.Writer) {
	build := runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH
	if c := version.Commit(); c != "" {
		build = "commit " + c + ", " + build
	}
	fmt.Fprintf(w, "signpostctl %s (%s)\n", version.Short(version.String()), build)
}
