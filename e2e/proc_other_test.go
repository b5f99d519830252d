//go:build !linux

package e2e

import "syscall"

// procAttr: only Linux has a parent-death signal; elsewhere t.Cleanup alone
// stops the processes.
func procAttr() *syscall.SysProcAttr { return nil }
