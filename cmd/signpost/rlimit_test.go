//go:build unix

package main

import (
	"syscall"
	"testing"
)

func TestRaiseOpenFileLimit(t *testing.T) {
	var orig syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &orig); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &orig) })
	if orig.Max < 64 {
		t.Skipf("hard open-file limit %d, too low to lower the soft one", orig.Max)
	}
	low := orig
	low.Cur = 32
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &low); err != nil {
		t.Fatal(err)
	}
	cur, max, err := raiseOpenFileLimit()
	if err != nil || cur != uint64(orig.Max) || max != uint64(orig.Max) {
		t.Fatalf("raiseOpenFileLimit() = %d, %d, %v; want %d, %d", cur, max, err, orig.Max, orig.Max)
	}
	var now syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &now); err != nil || now.Cur != orig.Max {
		t.Errorf("soft limit now %d (%v), want the hard limit %d", now.Cur, err, orig.Max)
	}
	// Once raised, it stays.
	if cur, _, err := raiseOpenFileLimit(); err != nil || cur != uint64(orig.Max) {
		t.Errorf("raising again: %d, %v", cur, err)
	}
}
