package registry

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// StoreFile is the name of the registry's file inside the data directory.
const StoreFile = "registry.db"

// formatVersion is the version of the records the store writes. A record of
// another version is refused rather than guessed at.
const formatVersion = 1

var (
	bucketInstances = []byte("instances")
	bucketMeta      = []byte("meta")
	keyVersion      = []byte("version")
	keyIndex        = []byte("index")
)

// store keeps the registrations made through the API in a bbolt file, so
// that a restart loses nothing acknowledged. Heartbeats are not written: a
// restart grants leases a grace period. The health of an instance with a
// lease (and no probe) is written with every change to it, as its sidecar
// reported it or as it was registered, so that one declared critical stays
// out of answers after a restart until it reports passing. Probes' results
// are not written: after a restart a probed instance is critical until its
// probe passes again.
type store struct {
	db   *bolt.DB
	path string
	free func(dir string) (uint64, error) // free space; nil asks the file system (tests replace it)
}

// op is one change to the store: a record to put, or with a nil value, to
// delete.
type op struct {
	key   string
	value []byte
}

// record is the stored form of an instance registered through the API.
type record struct {
	Version int               `json:"v"`
	Service string            `json:"service"`
	ID      string            `json:"id"`
	Address string            `json:"address"`
	Port    uint16            `json:"port"`
	Tags    []string          `json:"tags,omitempty"`
	Meta    map[string]string `json:"meta,omitempty"`
	Weight  uint16            `json:"weight"`
	TTL     string            `json:"ttl,omitempty"`
	Check   string            `json:"check,omitempty"`
	// Health is the health of an instance with a lease and no probe, as
	// its sidecar last reported it or as it was registered in; absent for
	// passing, as in the records written before health was kept. Output is
	// what the sidecar said with the report that last changed it.
	Health Health `json:"health,omitempty"`
	Output string `json:"output,omitempty"`
	// Expired is when the lease ran out (RFC 3339), for an instance that is
	// critical for want of heartbeats: a restart must not revive it.
	Expired     string `json:"expired,omitempty"`
	CreateIndex uint64 `json:"create_index"`
	ModifyIndex uint64 `json:"modify_index"`
}

func recordKey(service, id string) string { return service + "/" + id }

// isRecordKey reports whether key is recordKey(service, id), without
// building it.
func isRecordKey(key []byte, service, id string) bool {
	return len(key) == len(service)+1+len(id) && string(key[:len(service)]) == service &&
		key[len(service)] == '/' && string(key[len(service)+1:]) == id
}

// compareRecordKeys compares the record keys of two instances, as
// strings.Compare(recordKey(as, aid), recordKey(bs, bid)) does, without
// building them. Service names hold no '/'.
func compareRecordKeys(as, aid, bs, bid string) int {
	n := min(len(as), len(bs))
	if c := strings.Compare(as[:n], bs[:n]); c != 0 {
		return c
	}
	switch {
	case len(as) == len(bs):
		return strings.Compare(aid, bid)
	case len(as) < len(bs): // as is followed by '/', bs by more of its name
		return cmp.Compare('/', bs[n])
	default:
		return cmp.Compare(as[n], '/')
	}
}

func putOp(in *Instance) op { return putRecordOp(in, "", time.Time{}) }

// putExpiredOp is putOp for an instance whose lease ran out at expired.
func putExpiredOp(in *Instance, expired time.Time) op { return putRecordOp(in, "", expired) }

// putReportOp is putOp for an instance whose sidecar reported its health
// with output.
func putReportOp(in *Instance, output string) op { return putRecordOp(in, output, time.Time{}) }

// keepsHealth reports whether the store keeps in's health: that of an
// instance with a lease and no probe, which only its sidecar's reports (or
// its registration) set. A probe decides its instance's health again after
// a restart.
func keepsHealth(in *Instance) bool { return in.TTL > 0 && in.Check == "" }

func putRecordOp(in *Instance, output string, expired time.Time) op {
	if in.Source != SourceAPI {
		return op{}
	}
	rec := record{
		Version: formatVersion, Service: in.Service, ID: in.ID, Address: in.Address.String(), Port: in.Port,
		Tags: in.Tags, Meta: in.Meta, Weight: in.Weight, Check: in.Check, CreateIndex: in.CreateIndex, ModifyIndex: in.ModifyIndex,
	}
	if in.TTL > 0 {
		rec.TTL = in.TTL.String()
	}
	if keepsHealth(in) {
		rec.Health, rec.Output = in.Health, output
	}
	if !expired.IsZero() {
		rec.Expired = expired.UTC().Format(time.RFC3339Nano)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		panic(err) // strings, numbers and a map of strings always encode
	}
	return op{key: recordKey(in.Service, in.ID), value: b}
}

func deleteOp(service, id string) op { return op{key: recordKey(service, id)} }

// stored is an instance as the store holds it.
type stored struct {
	*Instance
	expired time.Time // when its lease ran out, or zero
	output  string    // what its sidecar said with its health, if the store keeps it
}

// decode turns a stored record back into an instance, validated as a
// registration would be.
func decode(key, value []byte) (stored, error) {
	var d decoder
	return d.decode(key, value)
}

// decoder decodes the records of a data file one after another, copying
// only what an instance keeps: the strings it reads point into the record
// until then, a list of tags is read into the same scratch slice every
// time (the instance gets the interned list), and consecutive instances of
// a service (the store keeps them in key order) share one copy of its name.
type decoder struct {
	tags    []string
	service string
}

func (d *decoder) decode(key, value []byte) (stored, error) {
	if d.tags == nil {
		d.tags = make([]string, 0, 4)
	}
	p := recordParser{data: value, alias: true, tags: d.tags}
	var rec record
	if !p.record(&rec) {
		return decodeCopy(key, value) // not the plain form
	}
	d.tags = p.tags
	in, err := rec.instance(key)
	if err != nil {
		// The error holds strings of the record: make them its own.
		return decodeCopy(key, value)
	}
	if in.Service != d.service {
		d.service = strings.Clone(in.Service)
	}
	in.Service = d.service
	in.ID = strings.Clone(in.ID)
	in.Check = strings.Clone(in.Check)
	rec.Output = strings.Clone(rec.Output)
	st, err := rec.stored(&in)
	if err != nil {
		return decodeCopy(key, value)
	}
	return st, nil
}

// decodeCopy is decode for a record in any form, with every string its own.
func decodeCopy(key, value []byte) (stored, error) {
	var rec record
	if err := decodeRecord(value, &rec); err != nil {
		return stored{}, fmt.Errorf("undecodable record: %w", err)
	}
	in, err := rec.instance(key)
	if err != nil {
		return stored{}, err
	}
	return rec.stored(&in)
}

// stored returns in, decoded from rec, with when its lease ran out and
// the output of its health.
func (rec *record) stored(in *Instance) (stored, error) {
	st := stored{Instance: in}
	if keepsHealth(in) {
		st.output = rec.Output
	}
	var err error
	if rec.Expired != "" {
		if st.expired, err = time.Parse(time.RFC3339Nano, rec.Expired); err != nil {
			return stored{}, &FieldError{Field: "expired", Value: rec.Expired, Reason: "is not an RFC 3339 time"}
		}
	}
	return st, nil
}

func (rec record) instance(key []byte) (Instance, error) {
	if rec.Version != formatVersion {
		return Instance{}, fmt.Errorf("record format version %d, this server reads version %d", rec.Version, formatVersion)
	}
	if !isRecordKey(key, rec.Service, rec.ID) {
		return Instance{}, fmt.Errorf("record holds instance %s of service %s", rec.ID, rec.Service)
	}
	addr, err := netip.ParseAddr(rec.Address)
	if err != nil {
		return Instance{}, &FieldError{Field: "address", Value: rec.Address, Reason: "must be an IPv4 or IPv6 address"}
	}
	in := Instance{
		Service: rec.Service, ID: rec.ID, Address: addr, Port: rec.Port, Tags: rec.Tags, Meta: rec.Meta,
		Weight: rec.Weight, Check: rec.Check, Source: SourceAPI, CreateIndex: rec.CreateIndex, ModifyIndex: rec.ModifyIndex,
	}
	if rec.TTL != "" {
		if in.TTL, err = time.ParseDuration(rec.TTL); err != nil {
			return Instance{}, &FieldError{Field: "ttl", Value: rec.TTL, Reason: "is not a duration"}
		}
	}
	if keepsHealth(&in) {
		in.Health = rec.Health
	}
	return in.normalizeOwned() // rec's tags and meta are its own
}

func openStore(dir string) (*store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(dir, StoreFile)
	if err := checkSize(path); err != nil {
		return nil, err
	}
	db, err := openBolt(path)
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("%s is locked: is another server using this data directory?", path)
	}
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	s := &store{db: db, path: path}
	if err := s.guard(s.init); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// checkSize refuses an existing data file of zero bytes. bbolt would take
// it for a new database and the server would start with an empty registry,
// as if every registration had been lost without a word; the file being
// there says one was written, and a crash or a full disk cut it short. A
// missing file is a new registry. Files cut short past zero bytes bbolt
// refuses itself: shorter than its first meta page they are invalid, shorter
// than two pages too small.
func checkSize(path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("data file: %w", err)
	case !fi.Mode().IsRegular():
		return fmt.Errorf("%s is not a regular file", path)
	case fi.Size() == 0:
		return fmt.Errorf("%s is corrupted: it is empty (0 bytes), so the registry it held is lost; "+
			"remove it to start with an empty registry, then restore a backup if there is one (signpostctl snapshot restore)", path)
	}
	return nil
}

// guard runs fn, turning bbolt's panics on a corrupted file into an error
// that names the file.
func (s *store) guard(fn func() error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s is corrupted: %v", s.path, p)
		}
	}()
	return fn()
}

// openBolt opens the file, turning bbolt's panics on a corrupted file into
// an error that names it.
func openBolt(path string) (db *bolt.DB, err error) {
	defer func() {
		if p := recover(); p != nil {
			db, err = nil, fmt.Errorf("%s is corrupted: %v", path, p)
		}
	}()
	return bolt.Open(path, 0o600, &bolt.Options{Timeout: 2 * time.Second})
}

// init creates the buckets of a new file and checks the version of an old one.
func (s *store) init() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		if _, err := tx.CreateBucketIfNotExists(bucketInstances); err != nil {
			return fmt.Errorf("%s: %w", s.path, err)
		}
		v := meta.Get(keyVersion)
		if v == nil {
			return meta.Put(keyVersion, []byte(strconv.Itoa(formatVersion)))
		}
		if string(v) != strconv.Itoa(formatVersion) {
			return fmt.Errorf("%s: key %q: format version %q, this server reads version %d", s.path, keyVersion, v, formatVersion)
		}
		return nil
	})
}

// load reads every stored instance and the change index. Any record that
// cannot be read stops the load with an error naming the file and key:
// serving part of the registry silently would be worse than not starting.
func (s *store) load() (instances []stored, index uint64, err error) {
	err = s.guard(func() error {
		return s.db.View(func(tx *bolt.Tx) error {
			var err error
			if v := tx.Bucket(bucketMeta).Get(keyIndex); v != nil {
				if index, err = strconv.ParseUint(string(v), 10, 64); err != nil {
					return fmt.Errorf("%s: key %q: %q is not an index", s.path, keyIndex, v)
				}
			}
			b := tx.Bucket(bucketInstances)
			raw := make([]rawRecord, 0, b.Stats().KeyN)
			err = b.ForEach(func(k, v []byte) error {
				raw = append(raw, rawRecord{k, v})
				return nil
			})
			if err != nil {
				return err
			}
			instances, err = decodeAll(raw)
			if err != nil {
				return fmt.Errorf("%s: %w", s.path, err)
			}
			return nil
		})
	})
	if err != nil {
		return nil, 0, err
	}
	return instances, index, nil
}

// rawRecord is a record's key and value as the data file holds them.
type rawRecord struct{ key, value []byte }

// decodeAll decodes records, in order, on as many cores as the process
// may use: decoding is most of a start's work, and the records are
// independent. Each core takes a contiguous run of records, so the error
// returned is that of the first bad record in order.
func decodeAll(raw []rawRecord) ([]stored, error) {
	out := make([]stored, len(raw))
	workers := max(1, min(runtime.GOMAXPROCS(0), len(raw)/decodeRun))
	per := (len(raw) + workers - 1) / workers
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		lo, hi := w*per, min(len(raw), (w+1)*per)
		wg.Go(func() {
			var d decoder
			for i := lo; i < hi; i++ {
				st, err := d.decode(raw[i].key, raw[i].value)
				if err != nil {
					errs[w] = fmt.Errorf("key %q: %w", raw[i].key, err)
					return
				}
				out[i] = st
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// decodeRun is the fewest records worth a core of their own.
const decodeRun = 10_000

// write applies ops and the change index in one transaction, which bbolt
// commits with fsync before it returns. A write the disk has no room for is
// ErrNoSpace.
func (s *store) write(ops []op, index uint64) error {
	return s.noSpace(s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketInstances)
		for _, o := range ops {
			var err error
			switch {
			case o.key == "":
				continue
			case o.value == nil:
				err = b.Delete([]byte(o.key))
			default:
				err = b.Put([]byte(o.key), o.value)
			}
			if err != nil {
				return err
			}
		}
		return tx.Bucket(bucketMeta).Put(keyIndex, []byte(strconv.FormatUint(index, 10)))
	}))
}

// noSpace marks err as ErrNoSpace when the file system had no room or no
// quota left, keeping its text for the log. bbolt wraps most write errors,
// but formats those of growing its file with %s, which drops their type: for
// an error of no known type the file system itself is asked whether it is
// out of room (less free than one step of bbolt's growth).
func (s *store) noSpace(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return &noSpaceError{err}
	}
	var errno syscall.Errno
	if !errors.As(err, &errno) && s.lowOnSpace() {
		return &noSpaceError{err}
	}
	return err
}

// lowOnSpace reports whether the data directory's file system has less room
// than bbolt may ask for when it grows the file.
func (s *store) lowOnSpace() bool {
	free := s.free
	if free == nil {
		free = freeBytes
	}
	n, err := free(filepath.Dir(s.path))
	growth := uint64(16 << 20) // bbolt's default AllocSize
	if s.db != nil {
		growth = uint64(s.db.AllocSize)
	}
	return err == nil && n < growth
}

// freeBytes returns the bytes an unprivileged writer may still use on the
// file system holding dir.
func freeBytes(dir string) (uint64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return 0, err
	}
	return st.Bavail * uint64(st.Bsize), nil
}

// noSpaceError is a write that failed for want of space: it is ErrNoSpace
// and the error the file system returned, and says what the latter says.
type noSpaceError struct{ err error }

func (e *noSpaceError) Error() string   { return e.err.Error() }
func (e *noSpaceError) Unwrap() []error { return []error{ErrNoSpace, e.err} }

func (s *store) close() error { return s.db.Close() }

// hasWrites reports whether ops change the store: health changes from
// probes publish through the committer to keep their order, but write
// nothing.
func hasWrites(ops []op) bool {
	for _, o := range ops {
		if o.key != "" {
			return true
		}
	}
	return false
}

// batch is a group of writes committed together: every writer that arrives
// while the previous commit is on its way to disk joins the next one.
type batch struct {
	ops  []op
	snap *Snapshot // the state once ops are applied
	// events are the transitions of ops, published with snap.
	events []Event
	done   chan struct{}
	err    error
}

func (b *batch) wait() error {
	<-b.done
	return b.err
}

// Open returns a registry persisted in dir, loaded with what dir holds.
// Every instance with a heartbeat lease gets HeartbeatGrace (or its TTL, if
// longer) to renew before it can expire, so that a restart does not expire
// everyone whose sidecar has not yet noticed. Call Stop to close the file.
func Open(dir string, cfg Config) (*Registry, error) {
	st, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	instances, index, err := st.load()
	if err != nil {
		st.close()
		return nil, err
	}
	r := New(cfg)
	r.store = st
	r.commitc = make(chan struct{}, 1)
	r.committerDone = make(chan struct{})
	r.restore(instances, index)
	go r.commitLoop()
	return r, nil
}

// restore loads instances into an empty registry as one snapshot at index,
// keeping their own indexes.
func (r *Registry) restore(instances []stored, index uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	// The store hands them over in key order already: sort only what is not.
	order := func(a, b stored) int { return compareRecordKeys(a.Service, a.ID, b.Service, b.ID) }
	if !slices.IsSortedFunc(instances, order) {
		slices.SortFunc(instances, order)
	}
	b := newBuilder(r.staged)
	now := r.cfg.Now()
	r.leases.reserve(len(instances))
	// The tables are filled in bulk. An empty registry (a start) is given
	// its services in bulk too.
	addrs := new(tableLoad[[16]byte, int32])
	addrs.reserve(len(instances))
	var services *tableLoad[string, *Service]
	if r.staged.nsvc == 0 {
		services = new(tableLoad[string, *Service])
		services.reserve(len(instances) / 2)
	}
	for i := 0; i < len(instances); {
		name := instances[i].Service
		var list []*Instance
		var svcIndex uint64
		for ; i < len(instances) && instances[i].Service == name; i++ {
			in, expired, output := instances[i].Instance, instances[i].expired, instances[i].output
			instances[i].Instance = nil // the list holds it from now on
			in.Service = name           // one copy for the instances of a service
			if in.Check != "" {
				in.Health = Critical // until its check passes again
			}
			svcIndex = max(svcIndex, in.ModifyIndex)
			k := in.Address.As16()
			addrs.add(hashAddr(k), k, 1)
			switch {
			case in.TTL > 0 && !expired.IsZero():
				// Its lease had run out: it stays critical, and is
				// removed deregister-after that moment.
				in.Health = Critical
				r.leases.grantExpired(key{in.Service, in.ID}, in.TTL, expired)
			case in.TTL > 0:
				// The records' keys are unique, and the registry empty.
				// It keeps the health it was last reported in: one
				// reported critical is not served until it reports
				// passing, within the grace as ever.
				r.leases.grantNew(key{in.Service, in.ID}, in.TTL, now.Add(max(in.TTL, r.cfg.HeartbeatGrace)))
			}
			if output != "" {
				r.setOutput(in, output)
			}
			list = append(list, in)
		}
		if svc := rebuild(name, nil, list, countTags(list), svcIndex); services != nil {
			b.putNew(name, svc, services)
		} else {
			b.put(name, svc)
		}
		index = max(index, svcIndex)
	}
	addrs.apply(b.addrs, func(before, add int32) int32 { return before + add })
	b.next.addrs = b.addrs.t
	if services != nil {
		services.apply(b.services, func(_, add *Service) *Service { return add })
		b.next.services = b.services.t
	}
	b.next.index = index
	r.staged = b.next
	r.cur.Store(r.staged)
}

// putNew is put for a service the builder does not hold, as a start loads
// them: its table entry goes to services, to be applied in bulk.
func (b *builder) putNew(name string, svc *Service, services *tableLoad[string, *Service]) {
	if svc.empty() {
		return
	}
	b.dirty = true
	b.retag(nil, svc)
	b.setChecked(name, false, svc.checks > 0)
	services.add(hashString(name), name, svc)
	b.count(svc, +1)
	b.next.nsvc++
}

// commitLoop writes staged batches to the store one after another and
// publishes each batch's snapshot once it is on disk.
func (r *Registry) commitLoop() {
	defer close(r.committerDone)
	for {
		select {
		case <-r.commitc:
			r.commitPending()
		case <-r.stopc:
			// Commit what writers staged before Stop, then refuse more.
			for {
				r.mu.Lock()
				if r.pending == nil {
					r.closed = true
					r.mu.Unlock()
					return
				}
				r.mu.Unlock()
				r.commitPending()
			}
		}
	}
}

func (r *Registry) commitPending() {
	r.mu.Lock()
	b := r.pending
	r.pending = nil
	r.mu.Unlock()
	if b == nil {
		return
	}
	if hasWrites(b.ops) {
		b.err = r.store.write(b.ops, b.snap.index)
	}
	r.mu.Lock()
	r.noteSpace(b)
	if b.err != nil {
		b.err = fmt.Errorf("writing %s: %w", r.store.path, b.err)
		r.rollback(b.err)
	} else {
		old := r.cur.Swap(b.snap)
		close(old.changed)
		r.events.append(b.events)
	}
	r.mu.Unlock()
	close(b.done)
}

// diskFullHold is how long registrations are refused at once after the disk
// ran out of room, unless a deregistration frees some first: a write batch
// fails whole, so deregistrations, which need no new room, must not share
// theirs with registrations that cannot fit.
const diskFullHold = 5 * time.Second

// noteSpace follows whether the disk is full from the outcome of batch b.
// The caller holds r.mu.
func (r *Registry) noteSpace(b *batch) {
	switch {
	case errors.Is(b.err, ErrNoSpace):
		r.fullUntil = r.cfg.Now().Add(diskFullHold)
	case b.err == nil && hasDelete(b.ops):
		r.fullUntil = time.Time{}
	}
}

// diskFull returns ErrNoSpace while registrations are held back after the
// disk ran out of room. The caller holds r.mu.
func (r *Registry) diskFull() error {
	if r.store != nil && r.cfg.Now().Before(r.fullUntil) {
		return fmt.Errorf("writing %s: %w (refused until a deregistration frees room, or for %s)", r.store.path, ErrNoSpace, diskFullHold)
	}
	return nil
}

func hasDelete(ops []op) bool {
	for _, o := range ops {
		if o.key != "" && o.value == nil {
			return true
		}
	}
	return false
}

// rollback returns the staged state to the last committed snapshot after a
// failed commit. Writes staged on top of the failed ones fail too: they were
// computed from state that never reached the disk. The caller holds r.mu.
func (r *Registry) rollback(err error) {
	r.cfg.Logger.Warningf("registry write failed, changes rolled back: %v", err)
	r.staged = r.cur.Load()
	if p := r.pending; p != nil {
		p.err = fmt.Errorf("rolled back after an earlier write failed: %w", err)
		r.pending = nil
		close(p.done)
	}
	// Make the leases match the restored state.
	for _, k := range r.leases.keys() {
		if _, ok := lookup(r.staged, k.service, k.id); !ok {
			r.leases.revoke(k)
		}
	}
	now := r.cfg.Now()
	for _, svc := range r.staged.Services() {
		for _, in := range svc.instances {
			k := key{in.Service, in.ID}
			if _, ok := r.leases.get(k); in.TTL > 0 && !ok {
				r.leases.grant(k, in.TTL, now.Add(in.TTL))
			}
		}
	}
}
