package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/signpost-dns/signpost/client"
)

var snapshotCmd = &command{
	name:     "snapshot",
	synopsis: "save FILE | restore FILE",
	args:     "save FILE or restore FILE",
	summary:  "Save a backup of the registrations to FILE, or restore one.",
	details: `save writes every instance registered through the API (not those the
Corefile declares) to FILE, as a JSON document. The backup is written to a
temporary file beside FILE, checked, synced and renamed over FILE only when
complete, so an interrupted save never leaves a partial backup in its place.
FILE is created with mode 0600.

restore replaces every instance registered through the API on the server
with those in FILE, in one change: registrations not in the backup are
removed, Corefile instances are kept, and instances with a ttl get the
server's heartbeat-grace to renew. A backup the server finds wrong is
refused whole and changes nothing.

Both need the server's token, even for saving: a backup holds the whole
registry, with the credentials of its health checks, and a restore replaces
it. A server without a token refuses both (HTTP 403). A server takes one
restore at a time, of at most 64 MiB. --timeout bounds the whole transfer;
raise it for a large registry.`,
	minArgs: 2, maxArgs: 2,
	examples: `  # Nightly backup; the old file stays until the new one is complete.
  SIGNPOST_TOKEN=$(cat /etc/signpost/token) \
      signpostctl --server http://10.0.0.2:8053 snapshot save /var/backups/signpost.json

  # Bring the registrations back on a new server (its own data directory).
  SIGNPOST_TOKEN=$(cat /etc/signpost/token) \
      signpostctl --server http://10.0.0.3:8053 snapshot restore /var/backups/signpost.json
`,
	setup: func(a *app, fs *flag.FlagSet) runFunc {
		return func(ctx context.Context, args []string) error {
			action, file := args[0], args[1]
			if action != "save" && action != "restore" {
				return usagef("unknown action %q, want save FILE or restore FILE", action)
			}
			c, err := a.client(a.timeout)
			if err != nil {
				return err
			}
			if action == "save" {
				return a.saveSnapshot(ctx, c, file)
			}
			return a.restoreSnapshot(ctx, c, file)
		}
	},
}

// backupSummary is what the command tells about a backup. It reads no more
// of the document than it needs: the server checks the records.
type backupSummary struct {
	Index     uint64            `json:"index"`
	Instances []json.RawMessage `json:"instances"`
}

// readBackup checks that b is a backup document and summarizes it.
func readBackup(b []byte) (backupSummary, error) {
	var s backupSummary
	if len(bytes.TrimSpace(b)) == 0 {
		return s, errors.New("it is empty")
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, err
	}
	if s.Instances == nil {
		return s, errors.New(`it has no "instances" list`)
	}
	return s, nil
}

// saveSnapshot writes a backup to file atomically: into a temporary file in
// the same directory, synced, checked, then renamed over file.
func (a *app) saveSnapshot(ctx context.Context, c *client.Client, file string) (err error) {
	dir := filepath.Dir(file)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(file)+".tmp-*")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err := c.Snapshot(ctx, tmp); err != nil {
		return err
	}
	sum, err := checkSaved(tmp)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), file); err != nil {
		return err
	}
	syncDir(dir)
	fmt.Fprintf(a.stdout, "saved %d instances at index %d to %s\n", len(sum.Instances), sum.Index, file)
	return nil
}

// checkSaved reads back what the server sent, so that an answer that is no
// backup (from a proxy, say) never replaces a good one.
func checkSaved(f *os.File) (backupSummary, error) {
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return backupSummary{}, err
	}
	b, err := io.ReadAll(f)
	if err != nil {
		return backupSummary{}, err
	}
	sum, err := readBackup(b)
	if err != nil {
		return sum, fmt.Errorf("the server's answer is not a backup: %v", err)
	}
	return sum, nil
}

// syncDir makes a rename in dir durable. Where the system cannot sync a
// directory the rename stands all the same, so errors are ignored.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	d.Close()
}

// restoreSnapshot sends the backup in file to the server.
func (a *app) restoreSnapshot(ctx context.Context, c *client.Client, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	sum, err := readBackup(b)
	if err != nil {
		return fmt.Errorf("%s is not a Signpost backup: %v", file, err)
	}
	if err := c.Restore(ctx, bytes.NewReader(b)); err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "restored %d instances from %s (saved at index %d)\n", len(sum.Instances), file, sum.Index)
	return nil
}
