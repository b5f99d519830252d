package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
)

// Op names an operation of FS or File, for FaultFS hooks.
type Op int

// The operations a FaultFS hook sees. File methods report the file's name;
// FS methods report their name argument (for Rename, the old name).
const (
	OpCreate      Op = iota + 1 // FS.Create
	OpOpen                      // FS.Open and FS.OpenReadWrite
	OpRead                      // File.Read and File.ReadAt
	OpWrite                     // File.Write and File.WriteAt
	OpSeek                      // File.Seek
	OpSync                      // File.Sync
	OpTruncate                  // File.Truncate
	OpPreallocate               // File.Preallocate
	OpStat                      // FS.Stat and File.Stat
	OpClose                     // File.Close
	OpRemove                    // FS.Remove
	OpRename                    // FS.Rename
	OpMkdirAll                  // FS.MkdirAll
	OpList                      // FS.List
	OpSyncDir                   // FS.SyncDir
)

var opNames = [...]string{
	OpCreate: "create", OpOpen: "open", OpRead: "read", OpWrite: "write",
	OpSeek: "seek", OpSync: "sync", OpTruncate: "truncate",
	OpPreallocate: "preallocate", OpStat: "stat", OpClose: "close",
	OpRemove: "remove", OpRename: "rename", OpMkdirAll: "mkdirall",
	OpList: "list", OpSyncDir: "syncdir",
}

// String returns the operation's lower-case name.
func (op Op) String() string {
	if op > 0 && int(op) < len(opNames) {
		return opNames[op]
	}
	return fmt.Sprintf("Op(%d)", int(op))
}

// Mutates reports whether op changes the file system or makes a change
// durable: these are the crash points FaultFS counts (Create, Write, Sync,
// Truncate, Preallocate, Remove, Rename, MkdirAll, SyncDir).
func (op Op) Mutates() bool {
	switch op {
	case OpCreate, OpWrite, OpSync, OpTruncate, OpPreallocate, OpRemove, OpRename, OpMkdirAll, OpSyncDir:
		return true
	}
	return false
}

// ErrCrashed is returned (wrapped in an *fs.PathError) by every call to a
// FaultFS, and to its files, after its crash point.
var ErrCrashed = errors.New("vfs: crashed by fault injection")

// ErrInjected is a ready-made error for hooks to return.
var ErrInjected = errors.New("vfs: injected fault")

// FaultFS wraps an FS to inject faults. It is safe for concurrent use.
//
// Before each operation, FaultFS, in this order:
//
//  1. fails it with ErrCrashed if the crash point has passed;
//  2. if the operation mutates (Op.Mutates), counts it, and if it is past
//     the crash point set by CrashAfter, marks the FS crashed and fails it
//     with ErrCrashed;
//  3. calls the hook, if any, and fails the operation with the hook's error
//     if it is not nil.
//
// A failed operation is not passed to the inner FS at all: an injected
// Write writes nothing, an injected Sync syncs nothing. Errors are wrapped
// in an *fs.PathError, so errors.Is finds ErrCrashed or the hook's error.
//
// Crash testing: run the code under test on NewFault(mem) with
// CrashAfter(n), let it fail, optionally TearLastWrite, then recover from
// mem.Crash(). Operations already inside the inner FS when the crash point
// passes (from other goroutines) complete; this is the same as a real crash
// racing with them.
//
// TearLastWrite and FlipBit need the inner FS to be a *MemFS.
type FaultFS struct {
	inner FS

	mu      sync.Mutex
	hook    func(op Op, name string) error
	ops     int  // mutating operations counted so far
	crashAt int  // ops value after which everything fails; -1 for never
	crashed bool // Invariant: once true, stays true
}

var _ FS = (*FaultFS)(nil)

// NewFault returns a FaultFS over inner that injects nothing until told to.
func NewFault(inner FS) *FaultFS {
	return &FaultFS{inner: inner, crashAt: -1}
}

// Inner returns the wrapped FS.
func (f *FaultFS) Inner() FS { return f.inner }

// SetHook sets the function consulted before every operation (after the
// crash checks); a non-nil error fails the operation without running it.
// nil removes the hook. The hook runs without FaultFS's lock held, so it may
// call FaultFS's methods, and it must be safe for concurrent use if the code
// under test is concurrent.
func (f *FaultFS) SetHook(hook func(op Op, name string) error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.hook = hook
}

// CrashAfter lets the next n mutating operations run; the one after them
// and every later call of any kind fail with ErrCrashed. CrashAfter(0)
// crashes at the next mutating operation. A negative n cancels a pending
// crash point (not a crash that has happened).
func (f *FaultFS) CrashAfter(n int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if n < 0 {
		f.crashAt = -1
		return
	}
	f.crashAt = f.ops + n
}

// Crash crashes f now: every later call fails with ErrCrashed.
func (f *FaultFS) Crash() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.crashed = true
}

// Crashed reports whether f has crashed.
func (f *FaultFS) Crashed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.crashed
}

// MutatingOps returns how many mutating operations have been counted,
// including one that crashed or that a hook failed.
func (f *FaultFS) MutatingOps() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ops
}

// TearLastWrite calls MemFS.TearLastWrite on the inner FS: the last write
// keeps only its first n bytes, made durable along with the file's other
// unsynced changes from before it. It works after a crash too, which is when
// it is meant to be called.
func (f *FaultFS) TearLastWrite(n int) error {
	m, ok := f.inner.(*MemFS)
	if !ok {
		return fmt.Errorf("vfs: TearLastWrite needs a *MemFS inner FS, not %T", f.inner)
	}
	return m.TearLastWrite(n)
}

// FlipBit calls MemFS.FlipBit on the inner FS: bit of the byte at offset of
// name flips in both the current and the durable contents.
func (f *FaultFS) FlipBit(name string, offset int64, bit uint) error {
	m, ok := f.inner.(*MemFS)
	if !ok {
		return fmt.Errorf("vfs: FlipBit needs a *MemFS inner FS, not %T", f.inner)
	}
	return m.FlipBit(name, offset, bit)
}

// before applies the rules in FaultFS's doc to op on name.
func (f *FaultFS) before(op Op, name string) error {
	f.mu.Lock()
	if !f.crashed && op.Mutates() {
		if f.crashAt >= 0 && f.ops >= f.crashAt {
			f.crashed = true
		}
		f.ops++
	}
	crashed, hook := f.crashed, f.hook
	f.mu.Unlock()
	if crashed {
		return &fs.PathError{Op: op.String(), Path: name, Err: ErrCrashed}
	}
	if hook != nil {
		if err := hook(op, name); err != nil {
			return &fs.PathError{Op: op.String(), Path: name, Err: err}
		}
	}
	return nil
}

// Create implements FS.Create.
func (f *FaultFS) Create(name string) (File, error) {
	if err := f.before(OpCreate, name); err != nil {
		return nil, err
	}
	return f.wrap(f.inner.Create(name))
}

// Open implements FS.Open.
func (f *FaultFS) Open(name string) (File, error) {
	if err := f.before(OpOpen, name); err != nil {
		return nil, err
	}
	return f.wrap(f.inner.Open(name))
}

// OpenReadWrite implements FS.OpenReadWrite.
func (f *FaultFS) OpenReadWrite(name string) (File, error) {
	if err := f.before(OpOpen, name); err != nil {
		return nil, err
	}
	return f.wrap(f.inner.OpenReadWrite(name))
}

func (f *FaultFS) wrap(file File, err error) (File, error) {
	if err != nil {
		return nil, err
	}
	return &faultFile{fs: f, inner: file}, nil
}

// Remove implements FS.Remove.
func (f *FaultFS) Remove(name string) error {
	if err := f.before(OpRemove, name); err != nil {
		return err
	}
	return f.inner.Remove(name)
}

// Rename implements FS.Rename; the hook sees oldname.
func (f *FaultFS) Rename(oldname, newname string) error {
	if err := f.before(OpRename, oldname); err != nil {
		return err
	}
	return f.inner.Rename(oldname, newname)
}

// MkdirAll implements FS.MkdirAll.
func (f *FaultFS) MkdirAll(dir string, perm os.FileMode) error {
	if err := f.before(OpMkdirAll, dir); err != nil {
		return err
	}
	return f.inner.MkdirAll(dir, perm)
}

// List implements FS.List.
func (f *FaultFS) List(dir string) ([]string, error) {
	if err := f.before(OpList, dir); err != nil {
		return nil, err
	}
	return f.inner.List(dir)
}

// Stat implements FS.Stat.
func (f *FaultFS) Stat(name string) (os.FileInfo, error) {
	if err := f.before(OpStat, name); err != nil {
		return nil, err
	}
	return f.inner.Stat(name)
}

// SyncDir implements FS.SyncDir.
func (f *FaultFS) SyncDir(dir string) error {
	if err := f.before(OpSyncDir, dir); err != nil {
		return err
	}
	return f.inner.SyncDir(dir)
}

// Join implements FS.Join. It is pure, so it is never failed.
func (f *FaultFS) Join(elem ...string) string {
	return f.inner.Join(elem...)
}

// faultFile is a file of a FaultFS.
type faultFile struct {
	fs    *FaultFS
	inner File
}

var _ File = (*faultFile)(nil)

func (f *faultFile) Read(p []byte) (int, error) {
	if err := f.fs.before(OpRead, f.inner.Name()); err != nil {
		return 0, err
	}
	return f.inner.Read(p)
}

func (f *faultFile) ReadAt(p []byte, off int64) (int, error) {
	if err := f.fs.before(OpRead, f.inner.Name()); err != nil {
		return 0, err
	}
	return f.inner.ReadAt(p, off)
}

func (f *faultFile) Write(p []byte) (int, error) {
	if err := f.fs.before(OpWrite, f.inner.Name()); err != nil {
		return 0, err
	}
	return f.inner.Write(p)
}

func (f *faultFile) WriteAt(p []byte, off int64) (int, error) {
	if err := f.fs.before(OpWrite, f.inner.Name()); err != nil {
		return 0, err
	}
	return f.inner.WriteAt(p, off)
}

func (f *faultFile) Seek(offset int64, whence int) (int64, error) {
	if err := f.fs.before(OpSeek, f.inner.Name()); err != nil {
		return 0, err
	}
	return f.inner.Seek(offset, whence)
}

// Close closes the inner file even when it fails the call, so no
// descriptor leaks; closing changes no data.
func (f *faultFile) Close() error {
	if err := f.fs.before(OpClose, f.inner.Name()); err != nil {
		f.inner.Close()
		return err
	}
	return f.inner.Close()
}

func (f *faultFile) Sync() error {
	if err := f.fs.before(OpSync, f.inner.Name()); err != nil {
		return err
	}
	return f.inner.Sync()
}

func (f *faultFile) Truncate(size int64) error {
	if err := f.fs.before(OpTruncate, f.inner.Name()); err != nil {
		return err
	}
	return f.inner.Truncate(size)
}

func (f *faultFile) Preallocate(offset, length int64) error {
	if err := f.fs.before(OpPreallocate, f.inner.Name()); err != nil {
		return err
	}
	return f.inner.Preallocate(offset, length)
}

func (f *faultFile) Stat() (os.FileInfo, error) {
	if err := f.fs.before(OpStat, f.inner.Name()); err != nil {
		return nil, err
	}
	return f.inner.Stat()
}

func (f *faultFile) Name() string { return f.inner.Name() }
