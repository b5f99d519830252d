package vfs

import (
	"os"
	"path/filepath"
	"slices"
)

// Default is the operating system's file system. It is a value with no
// state; it is never reassigned.
var Default FS = osFS{}

// osFS implements FS with package os. Names are slash-separated and are
// converted with filepath.FromSlash.
type osFS struct{}

var _ FS = osFS{}

// osFile is an *os.File with Preallocate.
type osFile struct {
	*os.File
}

var _ File = osFile{}

func (osFS) Create(name string) (File, error) {
	f, err := os.Create(filepath.FromSlash(name))
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Open(name string) (File, error) {
	f, err := os.Open(filepath.FromSlash(name))
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) OpenReadWrite(name string) (File, error) {
	f, err := os.OpenFile(filepath.FromSlash(name), os.O_RDWR, 0)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error {
	return os.Remove(filepath.FromSlash(name))
}

func (osFS) Rename(oldname, newname string) error {
	return os.Rename(filepath.FromSlash(oldname), filepath.FromSlash(newname))
}

func (osFS) MkdirAll(dir string, perm os.FileMode) error {
	return os.MkdirAll(filepath.FromSlash(dir), perm)
}

func (osFS) List(dir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.FromSlash(dir))
	if err != nil {
		return nil, err
	}
	names := make([]string, len(ents))
	for i, e := range ents {
		names[i] = e.Name()
	}
	slices.Sort(names) // ReadDir sorts already; the contract says sorted, so make it so
	return names, nil
}

func (osFS) Stat(name string) (os.FileInfo, error) {
	return os.Stat(filepath.FromSlash(name))
}

// SyncDir opens dir and fsyncs it, which makes the creations, renames and
// removals of its entries durable on Linux file systems.
func (osFS) SyncDir(dir string) error {
	d, err := os.Open(filepath.FromSlash(dir))
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		d.Close()
		return err
	}
	return d.Close()
}

func (osFS) Join(elem ...string) string {
	return filepath.ToSlash(filepath.Join(elem...))
}

// Preallocate reserves space with fallocate(2) and FALLOC_FL_KEEP_SIZE on
// Linux, so the visible size does not change. Where the file system or the
// OS does not support it, it does nothing: preallocation is an optimisation,
// and writes still allocate space as they go.
func (f osFile) Preallocate(offset, length int64) error {
	if offset < 0 || length < 0 {
		return &os.PathError{Op: "preallocate", Path: f.Name(), Err: os.ErrInvalid}
	}
	if length == 0 {
		return nil
	}
	return preallocate(f.File, offset, length)
}
