package e2e

import "syscall"

// procAttr makes the kernel kill a child process if the test binary dies
// (a test timeout's panic, a kill -9 of go test): no ironkv or etcdctl
// process outlives the tests.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
