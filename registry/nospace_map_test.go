package registry

import (
	"errors"
	"fmt"
	"io/fs"
	"syscall"
	"testing"
)

// TestNoSpaceMapping checks which write errors are ErrNoSpace: the file
// system's ENOSPC and EDQUOT however bbolt wraps them, also when it keeps
// only their text, and no other error.
func TestNoSpaceMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&fs.PathError{Op: "write", Path: "/d/registry.db", Err: syscall.ENOSPC}, true},
		{fmt.Errorf("commit: %w", &fs.PathError{Op: "write", Path: "/d/registry.db", Err: syscall.EDQUOT}), true},
		{fmt.Errorf("file resize error: %s", syscall.ENOSPC), true}, // bbolt's grow
		{fmt.Errorf("file sync error: %s", syscall.EDQUOT), true},
		{&fs.PathError{Op: "write", Path: "/d/registry.db", Err: syscall.EIO}, false},
		{errors.New("database not open"), false},
	} {
		err := noSpace(tc.err)
		if got := errors.Is(err, ErrNoSpace); got != tc.want {
			t.Errorf("noSpace(%v) is ErrNoSpace: %v, want %v", tc.err, got, tc.want)
		}
		if err.Error() != tc.err.Error() || !errors.Is(err, tc.err) {
			t.Errorf("noSpace(%v) = %v: the error the disk gave is lost", tc.err, err)
		}
	}
	if noSpace(nil) != nil {
		t.Error("noSpace(nil) is not nil")
	}
}
