package registry

import (
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"
)

var leaseCounts = []int{1_000, 100_000, 1_000_000}

// stillClock is a clock that stands still: no lease falls due.
func stillClock() time.Time { return time.Unix(1_900_000_000, 0) }

// withLeases returns a registry holding n instances with 15s leases granted
// now, and a list of their keys.
func withLeases(b *testing.B, n int, now func() time.Time) (*Registry, []key) {
	b.Helper()
	r := New(Config{Now: now, HeartbeatGrace: time.Second})
	instances := make([]stored, n)
	keys := make([]key, n)
	for i := range instances {
		in := Instance{
			Service: "svc-" + strconv.Itoa(i/100), ID: "i" + strconv.Itoa(i),
			Address: netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}), Port: 80,
			Weight: 1, TTL: 15 * time.Second,
		}
		instances[i] = stored{Instance: &in}
		keys[i] = key{in.Service, in.ID}
	}
	r.restore(instances, 1)
	return r, keys
}

// BenchmarkSweepIdle is the write-lock time of one sweep (one a second) when
// no lease falls due: the common case.
func BenchmarkSweepIdle(b *testing.B) {
	for _, n := range leaseCounts {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			r, _ := withLeases(b, n, stillClock)
			for b.Loop() {
				r.Sweep()
			}
		})
	}
}

// fullScan is the baseline: a sweep that looks at every lease under the
// write lock, as expiry did before the lessor's heaps, over the same leases.
type fullScan struct {
	r    *Registry
	flat map[key]flatLease
	due  []key
}

type flatLease struct {
	ttl      time.Duration
	deadline int64
	expired  int64
}

func newFullScan(r *Registry, keys []key) *fullScan {
	f := &fullScan{r: r, flat: make(map[key]flatLease, len(keys))}
	for _, k := range keys {
		l, _ := r.leases.get(k)
		f.flat[k] = flatLease{ttl: l.ttl, deadline: l.deadline}
	}
	return f
}

func (f *fullScan) Sweep() {
	f.r.mu.Lock()
	defer f.r.mu.Unlock()
	now := f.r.cfg.Now().UnixNano()
	f.due = f.due[:0]
	for k, l := range f.flat {
		if l.expired == 0 && now > l.deadline {
			f.due = append(f.due, k)
		}
	}
}

// BenchmarkSweepFullScan is BenchmarkSweepIdle's baseline.
func BenchmarkSweepFullScan(b *testing.B) {
	for _, n := range leaseCounts {
		b.Run(strconv.Itoa(n), func(b *testing.B) {
			r, keys := withLeases(b, n, stillClock)
			f := newFullScan(r, keys)
			for b.Loop() {
				f.Sweep()
			}
		})
	}
}

// BenchmarkHeartbeatDuringSweeps is the latency of heartbeats while another
// goroutine sweeps ten times a second (ten times the server's rate, so that
// heartbeats meet sweeps often), reported as p50 and p99; the baseline sweeps
// by a full scan.
func BenchmarkHeartbeatDuringSweeps(b *testing.B) {
	for _, scan := range []bool{false, true} {
		for _, n := range leaseCounts {
			name := "heap/" + strconv.Itoa(n)
			if scan {
				name = "fullscan/" + strconv.Itoa(n)
			}
			b.Run(name, func(b *testing.B) {
				// A real clock: each renewal moves a deadline past the
				// others, as it does in a running server.
				r, keys := withLeases(b, n, time.Now)
				var sweeper interface{ Sweep() } = r
				if scan {
					sweeper = newFullScan(r, keys)
				}
				benchHeartbeats(b, r, keys, sweeper)
			})
		}
	}
}

func benchHeartbeats(b *testing.B, r *Registry, keys []key, sweeper interface{ Sweep() }) {
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				sweeper.Sweep()
			}
		}
	})
	lat := make([]time.Duration, 0, 1<<20)
	i := 0
	for b.Loop() {
		k := keys[(i*7919)%len(keys)]
		start := time.Now()
		if _, err := r.Heartbeat(k.service, k.id); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(start))
		}
		i++
	}
	close(stop)
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
	b.ReportMetric(float64(lat[len(lat)-1].Nanoseconds()), "max-ns")
}
