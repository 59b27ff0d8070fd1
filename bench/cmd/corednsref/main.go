// Command corednsref is the reference build of the benchmark: CoreDNS of the
// same version as cmd/signpost, with the same surrounding plugins in the same
// order, where signpost's place in the chain holds CoreDNS's own data plugins
// (file) and the trivial fixed-answer plugin instead. Benchmarked against
// Signpost, the only difference between the systems is the data plugin.
//
// main_test.go checks that imports and directives stay in step with
// cmd/signpost.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	// The plugins of cmd/signpost, less signpost.
	_ "github.com/coredns/coredns/plugin/any"
	_ "github.com/coredns/coredns/plugin/bind"
	_ "github.com/coredns/coredns/plugin/bufsize"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/debug"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/hosts"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/metrics"
	_ "github.com/coredns/coredns/plugin/multisocket"
	_ "github.com/coredns/coredns/plugin/pprof"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
	_ "github.com/coredns/coredns/plugin/rewrite"
	_ "github.com/coredns/coredns/plugin/timeouts"
	_ "github.com/coredns/coredns/plugin/whoami"

	// The data plugins compared with signpost.
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/signpost-dns/signpost/bench/fixed"
)

// directives is cmd/signpost's list with file and fixed where signpost is.
// file sits there in CoreDNS's own order too (after hosts, before loop).
var directives = []string{
	"timeouts",
	"multisocket",
	"reload",
	"bufsize",
	"bind",
	"debug",
	"ready",
	"health",
	"pprof",
	"prometheus",
	"errors",
	"log",
	"any",
	"loadbalance",
	"rewrite",
	"cache",
	"hosts",
	"file",
	"fixed",
	"loop",
	"forward",
	"whoami",
}

func init() {
	dnsserver.Directives = directives
}

func main() {
	coremain.Run()
}
