package registry

import (
	"encoding/json"
	"fmt"
	"io"
)

// backupVersion is the version of the backup format.
const backupVersion = 1

// backup is the portable form of a registry's API registrations: the same
// records the data directory holds, in one JSON document.
type backup struct {
	Version   int               `json:"version"`
	Index     uint64            `json:"index"`
	Instances []json.RawMessage `json:"instances"`
}

// SaveBackup writes every instance registered through the API, as of the
// current snapshot, to w. Corefile instances are left out: the Corefile is
// their source.
func (r *Registry) SaveBackup(w io.Writer) error {
	snap := r.Snapshot()
	b := backup{Version: backupVersion, Index: snap.index, Instances: []json.RawMessage{}}
	for _, svc := range snap.Services() {
		for _, in := range svc.instances {
			if in.Source == SourceAPI {
				b.Instances = append(b.Instances, putOp(in).value)
			}
		}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(b)
}

// BackupError is the error RestoreBackup returns for a backup it refuses:
// one that does not decode, of another format version, or with a record
// that is not a valid instance. Nothing of such a backup is applied. Other
// errors of RestoreBackup (a closed registry, a failed write) are not about
// the backup.
type BackupError struct {
	Err error // what is wrong with it; a *FieldError where a field is
}

func (e *BackupError) Error() string { return "backup: " + e.Err.Error() }

// Unwrap returns what is wrong with the backup.
func (e *BackupError) Unwrap() error { return e.Err }

// RestoreBackup replaces every instance registered through the API with the
// ones in a backup, in one change. The backup is read and checked whole
// before anything is applied: a bad record refuses it all. Restored leases
// get the heartbeat grace, as after a restart.
func (r *Registry) RestoreBackup(rd io.Reader) error {
	var b backup
	dec := json.NewDecoder(rd)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&b); err != nil {
		return &BackupError{Err: err}
	}
	if b.Version != backupVersion {
		return &BackupError{Err: fmt.Errorf("format version %d, this server reads version %d", b.Version, backupVersion)}
	}
	instances := make([]Instance, 0, len(b.Instances))
	seen := make(map[key]bool, len(b.Instances))
	for i, raw := range b.Instances {
		var rec record
		if err := json.Unmarshal(raw, &rec); err != nil {
			return &BackupError{Err: fmt.Errorf("instance %d: %w", i, err)}
		}
		st, err := decode([]byte(recordKey(rec.Service, rec.ID)), raw)
		if err != nil {
			return &BackupError{Err: fmt.Errorf("instance %d (%s/%s): %w", i, rec.Service, rec.ID, err)}
		}
		in := *st.Instance
		k := key{in.Service, in.ID}
		if seen[k] {
			return &BackupError{Err: fmt.Errorf("instance %s of service %s appears twice", in.ID, in.Service)}
		}
		seen[k] = true
		instances = append(instances, in)
	}
	if r.shared != nil {
		return r.restoreShared(instances)
	}
	return r.restoreBackup(instances)()
}

func (r *Registry) restoreBackup(instances []Instance) func() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	b := newBuilder(r.staged)
	b.because("", "replaced by a restored backup")
	var ops []op
	for _, svc := range r.staged.Services() {
		for _, in := range svc.instances {
			if in.Source == SourceAPI {
				b.removeInstance(in.Service, in.ID)
				r.leases.revoke(key{in.Service, in.ID})
				ops = append(ops, deleteOp(in.Service, in.ID))
			}
		}
	}
	now := r.cfg.Now()
	b.because("", "restored from a backup")
	for _, in := range instances {
		if old, ok := lookup(b.next, in.Service, in.ID); ok && old.Source == SourceCorefile {
			r.cfg.Logger.Warningf("backup: instance %s of service %s is declared in the Corefile, not restored", in.ID, in.Service)
			continue
		}
		if in.Check != "" {
			in.Health = Critical
		}
		stored := b.setInstance(in)
		ops = append(ops, putOp(stored))
		if in.TTL > 0 {
			r.leases.grant(key{in.Service, in.ID}, in.TTL, now.Add(max(in.TTL, r.cfg.HeartbeatGrace)))
		}
	}
	return r.apply(b, ops...)
}
