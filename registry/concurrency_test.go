package registry_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// TestConcurrentWritersAndReaders hammers the single writer path from many
// goroutines while readers check every snapshot they load. Run with -race.
func TestConcurrentWritersAndReaders(t *testing.T) {
	base := runtime.NumGoroutine()
	const (
		writers  = 6
		ops      = 400
		services = 5
		idsPer   = 12
	)
	pool := make([]netip.Addr, 8) // few addresses, so that they are shared
	for i := range pool {
		pool[i] = netip.AddrFrom4([4]byte{10, 0, 0, byte(i + 1)})
	}
	unused := netip.AddrFrom4([4]byte{10, 0, 0, 200})
	tags := []string{"a", "b", "c"}

	clock := newClock()
	r := registry.New(registry.Config{
		Now:              clock.Now,
		SweepInterval:    time.Millisecond,
		DeregisterAfter:  2 * time.Second,
		SelfPreservation: 0.5,
	})
	r.Start()
	mustApply(t, r, registry.StaticService{
		Config: registry.ServiceConfig{Name: "svc-0", Failover: registry.Failover{Addrs: []netip.Addr{pool[0]}}},
		Instances: []registry.Instance{
			staticInst("static", pool[1].String(), 80),
		},
	})

	var (
		writersWG, readersWG sync.WaitGroup
		done                 = make(chan struct{})
		reads                atomic.Int64
	)
	for w := range writers {
		writersWG.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for range ops {
				svc := svcName(rng.IntN(services))
				id := idName(rng.IntN(idsPer))
				var err error
				switch op := rng.IntN(10); {
				case op < 4:
					in := registry.Instance{Service: svc, ID: id, Address: pool[rng.IntN(len(pool))], Port: uint16(80 + rng.IntN(3)), Weight: 1}
					if rng.IntN(2) == 0 {
						in.TTL = time.Duration(1+rng.IntN(3)) * time.Second
					}
					in.Tags = tags[:rng.IntN(len(tags)+1)]
					_, err = r.Register(in)
				case op < 6:
					_, err = r.Heartbeat(svc, id)
				case op < 8:
					err = r.Deregister(svc, id)
				case op < 9:
					err = r.SetHealth(svc, id, registry.Health(rng.IntN(3)))
				default:
					clock.Advance(time.Duration(rng.IntN(800)) * time.Millisecond)
					r.Sweep()
				}
				if err != nil && !errors.Is(err, registry.ErrNotFound) && !errors.Is(err, registry.ErrNoLease) && !errors.Is(err, registry.ErrStatic) {
					t.Errorf("unexpected write error: %v", err)
				}
			}
		})
	}
	for range 3 {
		readersWG.Go(func() {
			var last uint64
			buf := make([]*registry.Instance, 0, 64)
			for {
				select {
				case <-done:
					return
				default:
				}
				s := r.Snapshot()
				if s.Index() < last {
					t.Errorf("index went back from %d to %d", last, s.Index())
					return
				}
				last = s.Index()
				if err := checkSnapshot(s); err != nil {
					t.Errorf("snapshot %d: %v", s.Index(), err)
					return
				}
				if s.HasAddr(unused) {
					t.Errorf("snapshot %d: HasAddr true for an address nobody registered", s.Index())
					return
				}
				if svc := s.Service("svc-1"); svc != nil {
					for _, in := range svc.Select(buf[:0], "a", false) {
						if in.Health != registry.Passing || !in.HasTag("a") {
							t.Errorf("Select returned %+v", in)
							return
						}
					}
				}
				reads.Add(1)
			}
		})
	}
	// A watcher follows the change index through WaitIndex.
	readersWG.Go(func() {
		var after uint64
		for {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			s, err := r.WaitIndex(ctx, after)
			cancel()
			select {
			case <-done:
				return
			default:
			}
			if err == nil && s.Index() <= after {
				t.Errorf("WaitIndex(%d) returned index %d", after, s.Index())
				return
			}
			if err != nil && !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("WaitIndex: %v", err)
				return
			}
			after = s.Index()
		}
	})

	writersWG.Wait()
	close(done)
	readersWG.Wait()
	r.Stop()

	s := r.Snapshot()
	mustCheck(t, s)
	// Reference counts must have come out exact: an address is known iff an
	// instance or the failover holds it.
	used := map[netip.Addr]bool{pool[0]: true}
	for _, svc := range s.Services() {
		for _, in := range svc.Instances() {
			used[in.Address] = true
		}
	}
	for _, a := range pool {
		if s.HasAddr(a) != used[a] {
			t.Errorf("HasAddr(%v) = %v, instances say %v", a, s.HasAddr(a), used[a])
		}
	}
	// Every leased instance has its lease, and nothing else has one.
	for _, svc := range s.Services() {
		for _, in := range svc.Instances() {
			_, _, ok := r.Lease(in.Service, in.ID)
			if ok != (in.TTL > 0) {
				t.Errorf("%s/%s: TTL %v, lease %v", in.Service, in.ID, in.TTL, ok)
			}
		}
	}
	for i := range services {
		for j := range idsPer {
			if _, _, ok := r.Lease(svcName(i), idName(j)); ok && !exists(r, svcName(i), idName(j)) {
				t.Errorf("lease left behind for %s/%s", svcName(i), idName(j))
			}
		}
	}
	if got := get(t, r, "svc-0", "static"); got.Source != registry.SourceCorefile {
		t.Errorf("static instance overwritten: %+v", got)
	}
	if reads.Load() == 0 {
		t.Error("readers never ran")
	}
	waitGoroutines(t, base)
}

// TestConcurrentApplyStatic runs reloads against API writes.
func TestConcurrentApplyStatic(t *testing.T) {
	r, _ := newRegistry(t, registry.Config{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := range 200 {
			my := mysqlStatic()
			if i%2 == 1 {
				my.Instances = my.Instances[:1]
			}
			if i%7 == 0 {
				if err := r.ApplyStatic(nil); err != nil {
					t.Error(err)
				}
				continue
			}
			if err := r.ApplyStatic([]registry.StaticService{my}); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for i := range 200 {
			id := idName(i % 5)
			if i%3 == 0 {
				r.Deregister("mysql", id)
				continue
			}
			if _, err := r.Register(inst("mysql", id, "10.0.0.5", 3306)); err != nil {
				t.Error(err)
			}
		}
	})
	wg.Go(func() {
		for range 400 {
			if err := checkSnapshot(r.Snapshot()); err != nil {
				t.Error(err)
				return
			}
		}
	})
	wg.Wait()
	mustCheck(t, r.Snapshot())
}
