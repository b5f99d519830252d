//go:build !linux

package vfs

import "os"

// preallocate does nothing where fallocate(2) is not available; see
// osFile.Preallocate.
func preallocate(f *os.File, offset, length int64) error {
	return nil
}
