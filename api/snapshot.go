package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/signpost-dns/signpost/registry"
)

// DefaultMaxSnapshotBytes limits the body of a restore: a backup holds the
// whole registry, so it may be far larger than a registration. A backup
// record takes about 200 bytes, so this is room for some 300,000 instances.
const DefaultMaxSnapshotBytes = 64 << 20

// restoreReadTimeout bounds the reading of a restore's body, which may be
// far larger than the server's read timeout allows for: 64 MiB in it is
// about 220 KiB a second.
const restoreReadTimeout = 5 * time.Minute

// snapshotPath is the resource of the registry's backup.
const snapshotPath = "/v1/snapshot"

// restoreJSON is the answer to a restore.
type restoreJSON struct {
	// Instances is the number of instances registered through the API once
	// the backup was applied: those the backup held.
	Instances int `json:"instances"`
	// Index is the registry change index once the backup was applied.
	Index uint64 `json:"index"`
}

// saveSnapshot serves GET /v1/snapshot: a backup of every instance
// registered through the API, as registry.SaveBackup writes it, secrets
// included. The X-Signpost-Index header is the registry's index just
// before the backup was taken; the document's own "index" is that of the
// state it holds: the same, or later where a write raced the request.
func (h *handler) saveSnapshot(w http.ResponseWriter, r *http.Request) {
	setIndex(w, h.reg.Snapshot())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.Header().Set("Cache-Control", "no-store") // it holds the whole registry
	w.Header().Set("Content-Disposition", `attachment; filename="signpost-snapshot.json"`)
	if err := h.reg.SaveBackup(w); err != nil {
		// The status is sent: all that is left is to cut the answer short,
		// which the client sees as a truncated document.
		h.opts.Logger.Warningf("api: %s %s: %v", r.Method, r.URL.Path, err)
	}
}

// restoreSnapshot serves PUT /v1/snapshot: it replaces every instance
// registered through the API with those of the backup in the body, in one
// change. The body is decoded as it arrives, not read into memory first,
// and one restore runs at a time. The registry checks the whole backup
// before it applies any of it, and backupReader keeps it from seeing a
// complete backup that has anything after it, so a bad, oversized or
// interrupted body changes nothing.
func (h *handler) restoreSnapshot(w http.ResponseWriter, r *http.Request) {
	limit := h.opts.MaxSnapshotBytes
	if r.ContentLength > limit {
		refuse(w, r, http.StatusRequestEntityTooLarge, tooLarge(limit))
		return
	}
	if !h.restoring.TryLock() {
		refuse(w, r, http.StatusConflict, "another restore is in progress: try again once it is done")
		return
	}
	defer h.restoring.Unlock()
	// Without deadline support (a test recorder) there is no connection to
	// bound; the server's read timeout applies otherwise.
	_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(restoreReadTimeout))
	body := &backupReader{r: http.MaxBytesReader(w, r.Body, limit)}
	if err := h.reg.RestoreBackup(body); err != nil {
		h.fail(w, r, restoreError(err, limit))
		return
	}
	snap := h.reg.Snapshot()
	n := apiInstances(snap)
	h.opts.Logger.Infof("api: restored a backup of %d instances, index now %d", n, snap.Index())
	setIndex(w, snap)
	writeJSON(w, http.StatusOK, restoreJSON{Instances: n, Index: snap.Index()})
}

// apiInstances counts the instances of snap registered through the API.
func apiInstances(snap *registry.Snapshot) int {
	n := 0
	for _, svc := range snap.Services() {
		for _, in := range svc.Instances() {
			if in.Source == registry.SourceAPI {
				n++
			}
		}
	}
	return n
}

func tooLarge(limit int64) string {
	return fmt.Sprintf("body: larger than %d bytes", limit)
}

// Errors of a restore's body that backupReader finds.
var (
	errBackupNotObject = &registry.FieldError{Field: "body", Reason: "is not a backup: must be a JSON object"}
	errBackupTrailing  = &registry.FieldError{Field: "body", Reason: "must hold one backup and nothing after it"}
)

// restoreError classifies an error of RestoreBackup over a body of at most
// limit bytes. The registry checks the whole backup before it applies any
// of it and returns a *registry.BackupError for what it finds wrong, which
// wraps the errors of reading the body; anything else (a closed registry,
// a failed write to the data directory) is the server's fault.
func restoreError(err error, limit int64) error {
	var (
		tooBig *http.MaxBytesError
		be     *registry.BackupError
		fe     *registry.FieldError
	)
	switch {
	case errors.As(err, &tooBig):
		return &statusError{http.StatusRequestEntityTooLarge, tooLarge(limit)}
	case errors.Is(err, os.ErrDeadlineExceeded):
		return &statusError{http.StatusRequestTimeout, "body: not received within " + restoreReadTimeout.String()}
	case errors.Is(err, errBackupNotObject), errors.Is(err, errBackupTrailing):
		return err
	case errors.As(err, &be):
		return backupError(be)
	case errors.Is(err, registry.ErrClosed):
		return &statusError{http.StatusServiceUnavailable, "registry is shutting down, try again"}
	case errors.As(err, &fe):
		return &statusError{http.StatusBadRequest, err.Error()}
	}
	return err
}

// backupError words the errors of decoding the backup document itself in
// terms of the body; the registry's own words describe the rest.
func backupError(be *registry.BackupError) error {
	typeErr, isType := be.Err.(*json.UnmarshalTypeError)
	switch {
	case be.Err == io.EOF:
		return &registry.FieldError{Field: "body", Reason: "is empty, must be a backup as GET " + snapshotPath + " returns it"}
	case be.Err == io.ErrUnexpectedEOF:
		return &registry.FieldError{Field: "body", Reason: "ends in the middle of the backup"}
	case isType && typeErr.Field == "instances":
		return &registry.FieldError{Field: "body", Reason: "is not a backup: " + strconv.Quote(typeErr.Field) + " must be a list"}
	}
	return &statusError{http.StatusBadRequest, be.Error()}
}

// backupReader passes a restore's body to registry.RestoreBackup, which
// decodes the first JSON value of its input and ignores whatever follows.
// To refuse a body with more after the backup, without holding the body in
// memory to look first, it follows the nesting of the JSON object as the
// bytes pass, and before it hands over the chunk where the object ends it
// reads the rest of the body: anything but white space there ends the read
// with errBackupTrailing, and the decoder never sees a complete object.
// A body that does not start with an object ends with errBackupNotObject.
type backupReader struct {
	r       io.Reader
	started bool // the object's opening brace was seen
	depth   int  // objects and arrays open
	inStr   bool // within a string
	escaped bool // after a backslash within a string
	err     error
}

func (b *backupReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	end, serr := b.scan(p[:n])
	switch {
	case serr != nil:
		n, err = 0, serr
	case end < 0:
		// The object goes on, or the body ended early: the decoder says which.
	case !isSpace(p[end:n]):
		n, err = 0, errBackupTrailing
	case err == nil:
		if err = b.rest(); err == nil {
			err = io.EOF
		} else {
			n = 0
		}
	case err != io.EOF:
		n = 0 // over the limit, or cut off: not a complete backup either
	}
	if err != nil {
		b.err = err
	}
	return n, err
}

// scan follows the object through chunk and returns the offset just past
// its closing brace, or -1 when it does not close within chunk. Malformed
// JSON is the decoder's to report: scan only needs to find the end of a
// well-formed object.
func (b *backupReader) scan(chunk []byte) (int, error) {
	for i, c := range chunk {
		switch {
		case !b.started:
			if isSpaceByte(c) {
				continue
			}
			if c != '{' {
				return -1, errBackupNotObject
			}
			b.started, b.depth = true, 1
		case b.escaped:
			b.escaped = false
		case b.inStr && c == '\\':
			b.escaped = true
		case b.inStr:
			b.inStr = c != '"'
		case c == '"':
			b.inStr = true
		case c == '{' || c == '[':
			b.depth++
		case c == '}' || c == ']':
			b.depth--
			if b.depth == 0 {
				return i + 1, nil
			}
		}
	}
	return -1, nil
}

// rest reads the body after the object to its end and returns nil when it
// holds only white space.
func (b *backupReader) rest() error {
	var buf [4 << 10]byte
	for {
		n, err := b.r.Read(buf[:])
		if !isSpace(buf[:n]) {
			return errBackupTrailing
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

func isSpace(b []byte) bool {
	for _, c := range b {
		if !isSpaceByte(c) {
			return false
		}
	}
	return true
}

// isSpaceByte reports whether c is JSON white space.
func isSpaceByte(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r'
}
