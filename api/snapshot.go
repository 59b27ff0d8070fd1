package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strconv"

	"github.com/signpost-dns/signpost/registry"
)

// DefaultMaxSnapshotBytes limits the body of a restore: a backup holds the
// whole registry, so it may be far larger than a registration.
const DefaultMaxSnapshotBytes = 256 << 20

// snapshotPath is the resource of the registry's backup.
const snapshotPath = "/v1/snapshot"

// restoreJSON is the answer to a restore.
type restoreJSON struct {
	// Instances is the number of instances the backup held.
	Instances int `json:"instances"`
	// Index is the registry change index once the backup was applied.
	Index uint64 `json:"index"`
}

// saveSnapshot serves GET /v1/snapshot: a backup of every instance
// registered through the API, as registry.SaveBackup writes it. The
// X-Signpost-Index header is the registry's index just before the backup
// was taken; the document's own "index" is that of the state it holds:
// the same, or later where a write raced the request.
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
// change. The body is read whole and checked before anything is applied,
// so a bad or oversized backup changes nothing.
func (h *handler) restoreSnapshot(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxSnapshotBytes))
	if err != nil {
		h.fail(w, r, bodyError(err, h.opts.MaxSnapshotBytes))
		return
	}
	n, err := countBackup(body)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.reg.RestoreBackup(bytes.NewReader(body)); err != nil {
		h.fail(w, r, restoreError(err))
		return
	}
	snap := h.reg.Snapshot()
	h.opts.Logger.Infof("api: restored a backup of %d instances, index now %d", n, snap.Index())
	setIndex(w, snap)
	writeJSON(w, http.StatusOK, restoreJSON{Instances: n, Index: snap.Index()})
}

// countBackup checks that body is one JSON object and nothing after it, and
// returns how many instances it lists. registry.RestoreBackup reads the
// first JSON value of its input and ignores the rest; checking the whole
// body here keeps a backup with trailing garbage from being half-trusted.
func countBackup(body []byte) (int, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return 0, &registry.FieldError{Field: "body", Reason: "is empty, must be a backup as GET " + snapshotPath + " returns it"}
	}
	var doc struct {
		Instances []json.RawMessage `json:"instances"`
	}
	err := json.Unmarshal(body, &doc)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr) && typeErr.Field == "":
		return 0, &registry.FieldError{Field: "body", Reason: "is not a backup: must be a JSON object"}
	case errors.As(err, &typeErr):
		return 0, &registry.FieldError{Field: "body", Reason: "is not a backup: " + strconv.Quote(typeErr.Field) + " must be a list"}
	case err != nil:
		return 0, &registry.FieldError{Field: "body", Reason: "is not a backup: " + err.Error()}
	}
	return len(doc.Instances), nil
}

// restoreError classifies an error of RestoreBackup. The registry checks
// the whole backup before it applies any of it and returns a
// *registry.BackupError for what it finds wrong; anything else (a closed
// registry, a failed write to the data directory) is the server's fault.
func restoreError(err error) error {
	var (
		be *registry.BackupError
		fe *registry.FieldError
	)
	switch {
	case errors.Is(err, registry.ErrClosed):
		return &statusError{http.StatusServiceUnavailable, "registry is shutting down, try again"}
	case errors.As(err, &be), errors.As(err, &fe):
		return &statusError{http.StatusBadRequest, err.Error()}
	}
	return err
}
