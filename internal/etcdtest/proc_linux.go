package etcdtest

import "syscall"

// sysProcAttr has the kernel kill etcd when the test binary dies, even by a
// panic or a timeout that skips the cleanups. The signal follows the thread
// that started etcd; Go ends a thread only when a goroutine locked to it
// exits, which nothing here does.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
