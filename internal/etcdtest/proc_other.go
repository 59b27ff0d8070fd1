//go:build !linux

package etcdtest

import "syscall"

// sysProcAttr is empty where the kernel cannot kill etcd with the test
// binary; the cleanups still kill it.
func sysProcAttr() *syscall.SysProcAttr { return nil }
