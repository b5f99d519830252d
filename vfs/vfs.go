// Package vfs is the file-system interface that ironraft's storage
// packages (wal, snap, storage) use for every disk access, so that tests can
// run them on an in-memory file system that simulates crashes — losing
// exactly what was not synced — and injects faults.
//
// Implementations: Default (the operating system), NewMem (in memory, with
// crash simulation) and NewFault (wraps another FS to inject errors, torn
// writes and bit flips).
package vfs

import (
	"io"
	"os"
)

// File is an open file. Writes are not durable until Sync returns nil.
type File interface {
	io.Reader
	io.ReaderAt
	io.Writer
	io.WriterAt
	io.Seeker
	io.Closer
	// Sync makes the file's data and size durable.
	Sync() error
	// Truncate changes the file's size; it is durable after Sync.
	Truncate(size int64) error
	// Preallocate reserves space for [offset, offset+length) without
	// changing the file's visible size where the OS allows it (the size may
	// grow, filled with zeros, where it does not).
	Preallocate(offset, length int64) error
	// Stat describes the file.
	Stat() (os.FileInfo, error)
	// Name returns the name the file was opened with.
	Name() string
}

// FS is a file system. Names are slash-separated paths; creating, renaming
// or removing a name is durable only after SyncDir of its directory.
type FS interface {
	// Create creates name (truncating it if it exists) for reading and
	// writing.
	Create(name string) (File, error)
	// Open opens name for reading.
	Open(name string) (File, error)
	// OpenReadWrite opens an existing file for reading and writing.
	OpenReadWrite(name string) (File, error)
	// Remove removes a file or an empty directory.
	Remove(name string) error
	// Rename renames oldname to newname, replacing newname if it exists.
	Rename(oldname, newname string) error
	// MkdirAll creates a directory and its parents.
	MkdirAll(dir string, perm os.FileMode) error
	// List returns the names (not paths) in dir, sorted.
	List(dir string) ([]string, error)
	// Stat describes name.
	Stat(name string) (os.FileInfo, error)
	// SyncDir makes the entries of dir (creations, renames, removals)
	// durable.
	SyncDir(dir string) error
	// Join joins path elements.
	Join(elem ...string) string
}
