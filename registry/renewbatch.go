package registry

import (
	"errors"
	"sync"
	"sync/atomic"
)

// Ref names one instance of a service.
type Ref struct {
	Service string
	ID      string
}

// RenewResult is what a batch of heartbeats found.
type RenewResult struct {
	// Renewed counts the leases renewed.
	Renewed int
	// Unknown are the instances the registry does not hold: their
	// sidecars should register them again.
	Unknown []Ref
	// NoLease are instances registered without a TTL (probed or declared
	// in the Corefile): they have no lease to renew, and a sidecar that
	// wants one must register them again with a TTL.
	NoLease []Ref
}

// renewChunk bounds how many leases one hold of the write lock renews, so
// that a large batch does not keep other writers waiting for long.
const renewChunk = 512

// sharedRenewers bounds the renewals of one batch in flight to etcd at a
// time: the keep-alive streams carry many at once.
const sharedRenewers = 64

// RenewBatch renews the leases of many instances at once, as a node agent
// serving many instances sends their heartbeats together. Each renewal is
// a heartbeat (Renew): an instance whose lease had run out turns passing
// again, and one that reported another health is passing again. Instances
// the registry does not hold, or that have no lease, are returned rather
// than failing the batch. An error means the renewals could not all be
// made or made durable (a closed registry, a full disk, etcd unreachable);
// some may have been renewed, which a retry repeats harmlessly.
func (r *Registry) RenewBatch(refs []Ref) (RenewResult, error) {
	if r.shared != nil {
		return r.renewBatchShared(refs)
	}
	var (
		res   RenewResult
		waits []func() error
	)
	for start := 0; start < len(refs); start += renewChunk {
		waits = append(waits, r.renewChunk(refs[start:min(start+renewChunk, len(refs))], &res))
	}
	var errs []error
	for _, wait := range waits {
		errs = append(errs, wait())
	}
	return res, errors.Join(errs...)
}

// renewChunk renews refs under one hold of the write lock and stages, as
// one change, the instances that turn passing again.
func (r *Registry) renewChunk(refs []Ref, res *RenewResult) func() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.cfg.Now()
	var (
		b   *builder
		ops []op
	)
	for _, ref := range refs {
		cur := r.staged
		if b != nil {
			cur = b.next // an instance named twice sees the first renewal
		}
		in, ok := lookup(cur, ref.Service, ref.ID)
		if !ok {
			res.Unknown = append(res.Unknown, ref)
			continue
		}
		_, revived, ok := r.leases.renew(key{ref.Service, ref.ID}, now)
		if !ok {
			res.NoLease = append(res.NoLease, ref)
			continue
		}
		res.Renewed++
		if !revived && in.Health == Passing {
			continue
		}
		if b == nil {
			b = newBuilder(r.staged)
		}
		prev := in.Health
		b.because("", reportReason(Passing, revived, ""))
		in = b.setHealth(in, Passing)
		r.logReport(in, prev, revived, "")
		if revived {
			ops = append(ops, putOp(in)) // no longer expired on disk either
		}
	}
	if b == nil {
		return noWait
	}
	return r.apply(b, ops...)
}

// renewBatchShared is RenewBatch on a shared registry: each lease is kept
// alive in etcd, many at once over the registry's keep-alive streams.
func (r *Registry) renewBatchShared(refs []Ref) (RenewResult, error) {
	type outcome struct {
		unknown, noLease bool
		err              error
	}
	outcomes := make([]outcome, len(refs))
	next := make(chan int)
	var (
		wg     sync.WaitGroup
		failed atomic.Bool // etcd failed a renewal: send no more
	)
	for range min(sharedRenewers, len(refs)) {
		wg.Go(func() {
			for i := range next {
				_, _, err := r.reportShared(refs[i].Service, refs[i].ID, Passing, "")
				switch {
				case errors.Is(err, ErrNotFound):
					outcomes[i].unknown = true
				case errors.Is(err, ErrNoLease):
					outcomes[i].noLease = true
				case err != nil:
					outcomes[i].err = err
					failed.Store(true)
				}
			}
		})
	}
	for i := range refs {
		if failed.Load() {
			for j := i; j < len(refs); j++ {
				outcomes[j].err = ErrUnavailable
			}
			break
		}
		next <- i
	}
	close(next)
	wg.Wait()

	var res RenewResult
	var err error
	for i, o := range outcomes {
		switch {
		case o.unknown:
			res.Unknown = append(res.Unknown, refs[i])
		case o.noLease:
			res.NoLease = append(res.NoLease, refs[i])
		case o.err != nil:
			if err == nil {
				err = o.err
			}
		default:
			res.Renewed++
		}
	}
	return res, err
}
