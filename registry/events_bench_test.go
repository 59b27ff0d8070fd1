package registry_test

import (
	"strconv"
	"testing"

	"github.com/signpost-dns/signpost/registry"
)

// BenchmarkSetHealth flips instances of a registry of 100,000 between
// passing and critical, as probes do: every call is a transition, and so
// one event in the log.
func BenchmarkSetHealth(b *testing.B) {
	r := populate(b, 100_000)
	const ids = 1000
	names := make([]string, ids)
	for i := range names {
		names[i] = "i" + strconv.Itoa(i)
	}
	i := 0
	b.ReportAllocs()
	for b.Loop() {
		h := registry.Critical
		if (i/ids)%2 == 1 {
			h = registry.Passing
		}
		if err := r.SetHealth("svc-"+strconv.Itoa(i%ids/100), names[i%ids], h); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkEventsRead reads a full log of the default size, as a reader
// that starts from the oldest event does.
func BenchmarkEventsRead(b *testing.B) {
	r := populate(b, 1_000)
	for i := range registry.DefaultEvents {
		if err := r.SetHealth("svc-"+strconv.Itoa(i%1000/100), "i"+strconv.Itoa(i%1000), registry.Health(i/1000%2*2)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		if page := r.Events(0); len(page.Events) != registry.DefaultEvents {
			b.Fatalf("%d events", len(page.Events))
		}
	}
}
