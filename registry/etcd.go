package registry

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/connectivity"
)

// EtcdConfig says where a shared registry lives in etcd.
type EtcdConfig struct {
	Endpoints []string
	// Prefix is the key prefix of the registry, such as /signpost.
	Prefix   string
	Username string
	Password string
	TLS      *tls.Config
	// Name identifies this server in the probe elections; the host name
	// and the API address make a good one.
	Name string
}

// Defaults of the etcd backend.
const (
	DefaultEtcdPrefix = "/signpost"
	// etcdTimeout bounds every write, so that with etcd gone an API write
	// fails within it rather than hanging.
	etcdTimeout = 1500 * time.Millisecond
	// etcdDialTimeout bounds the first connection.
	etcdDialTimeout = 5 * time.Second
	// etcdLoadTimeout bounds the range read of the whole registry at start,
	// once etcd answered: a million instances take tens of seconds.
	etcdLoadTimeout = 3 * time.Minute
	// probeShards is how many elections share out the probes of the
	// services; each shard is probed by exactly one server at a time.
	probeShards = 8
	// electionTTL is the lease of a server's place in the elections: when
	// the server dies, another takes its shards over within this time.
	electionTTL = 3
	// maxTxnOps keeps transactions under etcd's default limit of 128.
	maxTxnOps = 128
)

// etcdReconnect paces the redials of an etcd that went away. gRPC's
// default backoff grows to two minutes, so that writes and heartbeats would
// keep failing for up to that long after etcd is back; capped at a second,
// a server is connected again within about a second of etcd's return, at
// the cost of one refused dial a second while it is gone.
var etcdReconnect = grpc.ConnectParams{
	Backoff: backoff.Config{
		BaseDelay:  100 * time.Millisecond,
		Multiplier: 1.6,
		Jitter:     0.2,
		MaxDelay:   time.Second,
	},
	MinConnectTimeout: etcdDialTimeout,
}

// ErrUnavailable is returned by writes of a shared registry when its store
// cannot be reached; nothing was written.
var ErrUnavailable = errors.New("etcd is unavailable")

// etcdStore is the registry's shared backend on etcd. Keys under the prefix:
//
//	instances/SERVICE/ID   the instance record (JSON), with its health
//	leases/SERVICE/ID      present while the instance's heartbeat lease
//	                       holds, attached to an etcd lease of its TTL
//	probers/N              the election of the server probing shard N
//
// Expiry happens once, in etcd, when a lease is not renewed: its key goes,
// and every server sees it go. Renewals are etcd lease keep-alives, which
// do not go through the raft log.
type etcdStore struct {
	cli    *clientv3.Client
	ka     *keepAlives
	prefix string
	name   string

	mu     sync.Mutex
	leases map[key]clientv3.LeaseID // the lease of each leases/ key, from the watch

	owned    [probeShards]atomic.Bool
	ownedGen atomic.Uint64 // bumped when a shard changes hands
}

func openEtcd(cfg EtcdConfig) (*etcdStore, error) {
	if len(cfg.Endpoints) == 0 {
		cfg.Endpoints = []string{"http://127.0.0.1:2379"}
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultEtcdPrefix
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          etcdDialTimeout,
		DialKeepAliveTime:    2 * time.Second,
		DialKeepAliveTimeout: 2 * time.Second,
		Username:             cfg.Username,
		Password:             cfg.Password,
		TLS:                  cfg.TLS,
		Logger:               zap.NewNop(), // failures reach the registry's own log
		DialOptions:          []grpc.DialOption{grpc.WithConnectParams(etcdReconnect)},
	})
	if err != nil {
		return nil, fmt.Errorf("etcd %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return &etcdStore{
		cli:    cli,
		ka:     newKeepAlives(cli),
		prefix: strings.TrimSuffix(cfg.Prefix, "/") + "/",
		name:   cfg.Name,
		leases: make(map[key]clientv3.LeaseID),
	}, nil
}

func (e *etcdStore) instanceKey(k key) string {
	return e.prefix + "instances/" + k.service + "/" + k.id
}
func (e *etcdStore) leaseKey(k key) string { return e.prefix + "leases/" + k.service + "/" + k.id }

// changeKind is what a change of the shared store does.
type changeKind uint8

const (
	instancePut changeKind = iota
	instanceDelete
	leasePut
	leaseDelete
)

// change is one key of the shared store, as loaded or as seen by the watch.
type change struct {
	kind  changeKind
	key   key
	value []byte // instancePut: the record
	// create and mod are the instance record's revisions: its CreateIndex
	// and ModifyIndex.
	create, mod int64
}

// parse turns a key-value of the store into a change, or false for keys
// that are not instances or leases (elections).
func (e *etcdStore) parse(kv []byte, put bool) (change, bool) {
	rest, ok := strings.CutPrefix(string(kv), e.prefix)
	if !ok {
		return change{}, false
	}
	kind, name, ok := strings.Cut(rest, "/")
	if !ok {
		return change{}, false
	}
	service, id, ok := strings.Cut(name, "/")
	if !ok {
		return change{}, false
	}
	c := change{key: key{service, id}}
	switch {
	case kind == "instances" && put:
		c.kind = instancePut
	case kind == "instances":
		c.kind = instanceDelete
	case kind == "leases" && put:
		c.kind = leasePut
	case kind == "leases":
		c.kind = leaseDelete
	default:
		return change{}, false
	}
	return c, true
}

// observe records the etcd lease behind each leases/ key, so that any
// server can renew any instance's lease.
func (e *etcdStore) observe(c change, lease int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch c.kind {
	case leasePut:
		e.leases[c.key] = clientv3.LeaseID(lease)
	case leaseDelete, instanceDelete:
		delete(e.leases, c.key)
	}
}

func (e *etcdStore) leaseOf(k key) (clientv3.LeaseID, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.leases[k]
	return id, ok
}

// load reads every key of the registry at one revision.
func (e *etcdStore) load(ctx context.Context) ([]change, int64, error) {
	resp, err := e.cli.Get(ctx, e.prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, 0, err
	}
	e.mu.Lock()
	e.leases = make(map[key]clientv3.LeaseID)
	e.mu.Unlock()
	var out []change
	for _, kv := range resp.Kvs {
		c, ok := e.parse(kv.Key, true)
		if !ok {
			continue
		}
		c.value, c.create, c.mod = kv.Value, kv.CreateRevision, kv.ModRevision
		e.observe(c, kv.Lease)
		out = append(out, c)
	}
	return out, resp.Header.Revision, nil
}

// sync applies every change after rev in order until ctx ends. When the
// watch falls behind a compaction or breaks, it loads everything anew into
// reset and watches on from there. With etcd gone it retries with backoff,
// and the registry keeps what it last saw.
func (e *etcdStore) sync(ctx context.Context, rev int64, reset func([]change, int64), apply func([]change, int64), logf func(string, ...any)) {
	backoff := 100 * time.Millisecond
	for {
		err := e.watch(ctx, rev+1, apply)
		if ctx.Err() != nil {
			return
		}
		logf("etcd: watch ended (%v); loading the registry again", err)
		for {
			changes, r, err := e.load(ctx)
			if err == nil {
				reset(changes, r)
				rev, backoff = r, 100*time.Millisecond
				break
			}
			if ctx.Err() != nil {
				return
			}
			logf("etcd: loading the registry: %v; retrying", err)
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, 5*time.Second)
		}
	}
}

// watch applies the changes from rev on until the watch ends.
func (e *etcdStore) watch(ctx context.Context, rev int64, apply func([]change, int64)) error {
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	wc := e.cli.Watch(wctx, e.prefix, clientv3.WithPrefix(), clientv3.WithRev(rev), clientv3.WithProgressNotify())
	for resp := range wc {
		if err := resp.Err(); err != nil {
			if errors.Is(err, rpctypes.ErrCompacted) || resp.CompactRevision != 0 {
				return fmt.Errorf("compacted past revision %d: %w", rev, err)
			}
			return err
		}
		// One response may carry several revisions: each is applied on
		// its own, in order, so that every server sees (and records in
		// its event log) each transition another server wrote, not only
		// where a burst of them ended.
		var changes []change
		at := int64(0)
		for _, ev := range resp.Events {
			if ev.Kv.ModRevision != at && len(changes) > 0 {
				apply(changes, at)
				changes = nil
			}
			at = ev.Kv.ModRevision
			c, ok := e.parse(ev.Kv.Key, ev.Type == clientv3.EventTypePut)
			if !ok {
				continue
			}
			c.value, c.create, c.mod = ev.Kv.Value, ev.Kv.CreateRevision, ev.Kv.ModRevision
			e.observe(c, ev.Kv.Lease)
			changes = append(changes, c)
		}
		apply(changes, resp.Header.Revision)
	}
	return ctx.Err()
}

// connected reports whether the client has a usable connection to etcd.
func (e *etcdStore) connected() bool {
	conn := e.cli.ActiveConnection()
	if conn == nil {
		return false
	}
	s := conn.GetState()
	return s == connectivity.Ready || s == connectivity.Idle
}

// op runs fn with the write timeout: with etcd unreachable it fails within
// that time. Errors of reaching etcd are ErrUnavailable.
func (e *etcdStore) op(fn func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeout(clientv3.WithRequireLeader(context.Background()), etcdTimeout)
	defer cancel()
	err := fn(ctx)
	if err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) && !isEtcdLimit(err) {
		return fmt.Errorf("%w: %s: %v", ErrUnavailable, strings.Join(e.cli.Endpoints(), ","), err)
	}
	return err
}

func isEtcdLimit(err error) bool {
	return errors.Is(err, rpctypes.ErrTooManyOps) || errors.Is(err, rpctypes.ErrRequestTooLarge)
}

// put writes an instance record. With ttl, the instance gets a fresh lease
// of that TTL; without, it has none.
func (e *etcdStore) put(k key, record []byte, ttl time.Duration) (int64, error) {
	var rev int64
	err := e.op(func(ctx context.Context) error {
		ops := []clientv3.Op{clientv3.OpPut(e.instanceKey(k), string(record))}
		if ttl > 0 {
			lease, err := e.cli.Grant(ctx, ttlSeconds(ttl))
			if err != nil {
				return err
			}
			ops = append(ops, clientv3.OpPut(e.leaseKey(k), ttl.String(), clientv3.WithLease(lease.ID)))
		} else {
			ops = append(ops, clientv3.OpDelete(e.leaseKey(k)))
		}
		resp, err := e.cli.Txn(ctx).Then(ops...).Commit()
		if err != nil {
			return err
		}
		rev = resp.Header.Revision
		return nil
	})
	return rev, err
}

// update rewrites an instance record if it is still at revision mod, as a
// health transition does. ok is false when the record changed or went.
func (e *etcdStore) update(k key, record []byte, mod int64) (rev int64, ok bool, err error) {
	err = e.op(func(ctx context.Context) error {
		resp, err := e.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(e.instanceKey(k)), "=", mod)).
			Then(clientv3.OpPut(e.instanceKey(k), string(record))).
			Commit()
		if err != nil {
			return err
		}
		rev, ok = resp.Header.Revision, resp.Succeeded
		return nil
	})
	return rev, ok, err
}

// remove deletes an instance and its lease. With mod non-zero, only if the
// record is still at that revision and its lease is gone, as removal after
// deregister-after does, so that two servers removing it, or a heartbeat
// that revived it, race harmlessly. found is false when nothing was deleted.
func (e *etcdStore) remove(k key, mod int64) (rev int64, found bool, err error) {
	lease, hadLease := e.leaseOf(k) // before the watch forgets it
	err = e.op(func(ctx context.Context) error {
		cmp := []clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(e.instanceKey(k)), ">", 0)}
		if mod != 0 {
			cmp = []clientv3.Cmp{
				clientv3.Compare(clientv3.ModRevision(e.instanceKey(k)), "=", mod),
				clientv3.Compare(clientv3.CreateRevision(e.leaseKey(k)), "=", 0),
			}
		}
		resp, err := e.cli.Txn(ctx).If(cmp...).
			Then(clientv3.OpDelete(e.instanceKey(k)), clientv3.OpDelete(e.leaseKey(k))).
			Commit()
		if err != nil {
			return err
		}
		rev, found = resp.Header.Revision, resp.Succeeded
		return nil
	})
	if found && hadLease {
		e.revokeLease(lease)
	}
	return rev, found, err
}

// exists reports whether etcd holds an instance record, and the revision
// it was read at, for a server whose watch may not have delivered it yet.
func (e *etcdStore) exists(k key) (rev int64, found bool, err error) {
	err = e.op(func(ctx context.Context) error {
		resp, err := e.cli.Get(ctx, e.instanceKey(k), clientv3.WithCountOnly())
		if err != nil {
			return err
		}
		rev, found = resp.Header.Revision, resp.Count > 0
		return nil
	})
	return rev, found, err
}

// renew keeps the lease of an instance alive, which costs etcd no raft
// write. ok is false when the instance has no live lease (it ran out).
func (e *etcdStore) renew(k key) (ttl time.Duration, ok bool, err error) {
	id, known := e.leaseOf(k)
	if !known {
		return 0, false, nil
	}
	err = e.op(func(ctx context.Context) error {
		left, err := e.ka.renew(ctx, id)
		if err != nil {
			return err
		}
		ttl, ok = time.Duration(left)*time.Second, left > 0
		return nil
	})
	return ttl, ok, err
}

// revive gives an instance whose lease ran out a fresh one, if its record
// is still there. found is false when it is not.
func (e *etcdStore) revive(k key, ttl time.Duration) (rev int64, found bool, err error) {
	err = e.op(func(ctx context.Context) error {
		lease, err := e.cli.Grant(ctx, ttlSeconds(ttl))
		if err != nil {
			return err
		}
		resp, err := e.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.CreateRevision(e.instanceKey(k)), ">", 0)).
			Then(clientv3.OpPut(e.leaseKey(k), ttl.String(), clientv3.WithLease(lease.ID))).
			Commit()
		if err != nil {
			return err
		}
		rev, found = resp.Header.Revision, resp.Succeeded
		if !found {
			e.cli.Revoke(ctx, lease.ID)
		}
		return nil
	})
	return rev, found, err
}

// replace swaps every instance for records, as a restore from a backup
// does: in transactions of up to maxTxnOps keys, so a large backup is not
// applied at one revision.
func (e *etcdStore) replace(records map[key][]byte, ttls map[key]time.Duration) (int64, error) {
	var rev int64
	err := e.op(func(ctx context.Context) error {
		resp, err := e.cli.Txn(ctx).Then(
			clientv3.OpDelete(e.prefix+"instances/", clientv3.WithPrefix()),
			clientv3.OpDelete(e.prefix+"leases/", clientv3.WithPrefix()),
		).Commit()
		if err != nil {
			return err
		}
		rev = resp.Header.Revision
		return nil
	})
	if err != nil {
		return 0, err
	}
	var ops []clientv3.Op
	flush := func() error {
		if len(ops) == 0 {
			return nil
		}
		return e.op(func(ctx context.Context) error {
			resp, err := e.cli.Txn(ctx).Then(ops...).Commit()
			if err != nil {
				return err
			}
			rev, ops = resp.Header.Revision, ops[:0]
			return nil
		})
	}
	for k, rec := range records {
		ops = append(ops, clientv3.OpPut(e.instanceKey(k), string(rec)))
		if ttl := ttls[k]; ttl > 0 {
			var lease *clientv3.LeaseGrantResponse
			if err := e.op(func(ctx context.Context) (err error) {
				lease, err = e.cli.Grant(ctx, ttlSeconds(ttl))
				return err
			}); err != nil {
				return 0, err
			}
			ops = append(ops, clientv3.OpPut(e.leaseKey(k), ttl.String(), clientv3.WithLease(lease.ID)))
		}
		if len(ops) >= maxTxnOps-1 {
			if err := flush(); err != nil {
				return 0, err
			}
		}
	}
	return rev, flush()
}

// revokeLease revokes a lease that no key uses any more, in the background.
func (e *etcdStore) revokeLease(id clientv3.LeaseID) {
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
		defer cancel()
		e.cli.Revoke(ctx, id)
	}()
}

func ttlSeconds(ttl time.Duration) int64 {
	return max(1, int64((ttl+time.Second-1)/time.Second))
}

// shardOf is the probe shard of a service.
func shardOf(service string) int {
	h := fnv.New32a()
	h.Write([]byte(service))
	return int(h.Sum32() % probeShards)
}

// owns reports whether this server probes the instances of service.
func (e *etcdStore) owns(service string) bool { return e.owned[shardOf(service)].Load() }

// campaign takes part in the election of every probe shard until ctx ends,
// calling changed when this server wins or loses one. All shards hang on one
// session: a server that dies loses them when its lease runs out, within
// electionTTL seconds.
func (e *etcdStore) campaign(ctx context.Context, changed func(), logf func(string, ...any)) {
	backoff := 200 * time.Millisecond
	for ctx.Err() == nil {
		s, err := concurrency.NewSession(e.cli, concurrency.WithTTL(electionTTL), concurrency.WithContext(ctx))
		if err != nil {
			if ctx.Err() == nil {
				logf("etcd: probe election: %v; retrying", err)
			}
			sleepCtx(ctx, backoff)
			backoff = min(2*backoff, 2*time.Second)
			continue
		}
		backoff = 200 * time.Millisecond
		var wg sync.WaitGroup
		for shard := range probeShards {
			wg.Go(func() { e.lead(ctx, s, shard, changed) })
		}
		wg.Wait()
		s.Close()
	}
}

// lead campaigns for one shard and holds it while the session lives.
func (e *etcdStore) lead(ctx context.Context, s *concurrency.Session, shard int, changed func()) {
	el := concurrency.NewElection(s, e.prefix+"probers/"+strconv.Itoa(shard))
	if err := el.Campaign(s.Ctx(), e.name); err != nil {
		return // the session ended or ctx is done
	}
	e.setOwned(shard, true, changed)
	defer e.setOwned(shard, false, changed)
	select {
	case <-ctx.Done():
		rctx, cancel := context.WithTimeout(context.Background(), etcdTimeout)
		el.Resign(rctx)
		cancel()
	case <-s.Done():
	}
}

func (e *etcdStore) setOwned(shard int, v bool, changed func()) {
	if e.owned[shard].Swap(v) != v {
		e.ownedGen.Add(1)
		changed()
	}
}

func (e *etcdStore) close() error {
	e.ka.close()
	return e.cli.Close()
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
