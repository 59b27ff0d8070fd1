package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

// TestNoSpaceMapping checks which write errors are ErrNoSpace: the file
// system's ENOSPC and EDQUOT however bbolt wraps them, and an error whose
// type bbolt dropped when the file system is out of room; no other error.
func TestNoSpaceMapping(t *testing.T) {
	const full, roomy = 4096, 1 << 30
	for _, tc := range []struct {
		err  error
		free uint64
		want bool
	}{
		{&fs.PathError{Op: "write", Path: "/d/registry.db", Err: syscall.ENOSPC}, roomy, true},
		{fmt.Errorf("commit: %w", &fs.PathError{Op: "write", Path: "/d/registry.db", Err: syscall.EDQUOT}), roomy, true},
		{fmt.Errorf("file resize error: %s", syscall.ENOSPC), full, true}, // bbolt's grow, on a full disk
		{fmt.Errorf("file sync error: %s", syscall.EDQUOT), full, true},
		{fmt.Errorf("file resize error: %s", syscall.EIO), roomy, false}, // the same, with room left
		{&fs.PathError{Op: "write", Path: "/d/registry.db", Err: syscall.EIO}, full, false},
		{errors.New("database not open"), roomy, false},
	} {
		s := &store{path: "/d/registry.db", free: func(string) (uint64, error) { return tc.free, nil }}
		err := s.noSpace(tc.err)
		if got := errors.Is(err, ErrNoSpace); got != tc.want {
			t.Errorf("noSpace(%v) with %d bytes free is ErrNoSpace: %v, want %v", tc.err, tc.free, got, tc.want)
		}
		if err.Error() != tc.err.Error() || !errors.Is(err, tc.err) {
			t.Errorf("noSpace(%v) = %v: the error the disk gave is lost", tc.err, err)
		}
	}
	if (&store{}).noSpace(nil) != nil {
		t.Error("noSpace(nil) is not nil")
	}
}
