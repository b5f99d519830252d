package sim

import (
	"fmt"

	ironnode "github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/storage"
	"github.com/ironraft/ironraft/vfs"
	"github.com/ironraft/ironraft/wal"
)

// Durable backends.
//
// A node's durable state is either a raft.MemoryStorage (memStore: it
// survives crashes whole, and a torn persist is modelled by writing only
// the first parts of a Ready) or the real package storage (diskStore) on
// the node's own in-memory file system (vfs.MemFS under a vfs.FaultFS): a
// crash keeps only what was synced (MemFS.Crash) and the node's storage is
// recovered from it by storage.Open, so every crash exercises the WAL's and
// the snapshots' recovery.

// Backend selects the nodes' durable storage.
type Backend int

const (
	// BackendAuto is the default: the real storage.
	BackendAuto Backend = iota
	// BackendMemory is raft.MemoryStorage, which survives crashes whole.
	BackendMemory
	// BackendStorage is package storage (WAL and snapshot files) on a
	// crash-simulating in-memory file system per node.
	BackendStorage
)

func (b Backend) String() string {
	switch b {
	case BackendAuto:
		return "auto"
	case BackendMemory:
		return "memory"
	case BackendStorage:
		return "storage"
	}
	return fmt.Sprintf("Backend(%d)", int(b))
}

// ParseBackend parses "auto", "memory" or "storage".
func ParseBackend(s string) (Backend, bool) {
	for _, b := range []Backend{BackendAuto, BackendMemory, BackendStorage} {
		if b.String() == s {
			return b, true
		}
	}
	return 0, false
}

// store is a node's durable state as the simulator uses it: the node's
// Replica persists its Readys into it and the core reads it
// (ironnode.LogStore), and the simulator's compaction writes it.
type store interface {
	ironnode.LogStore
	createSnapshot(i uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error)
	compact(i uint64) error
}

var (
	_ store = memStore{}
	_ store = (*diskStore)(nil)
)

// memStore is the MemoryStorage backend.
type memStore struct{ *raft.MemoryStorage }

// SaveReady persists a Ready: its snapshot, then its entries and hard
// state. Memory survives crashes whole, so there is nothing to sync.
func (m memStore) SaveReady(hs *raftpb.HardState, ents []*raftpb.Entry, snap *raftpb.Snapshot, _ bool) error {
	if snap != nil {
		if err := m.ApplySnapshot(snap); err != nil {
			return fmt.Errorf("apply snapshot: %w", err)
		}
	}
	if err := m.Append(ents); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if hs != nil {
		m.SetHardState(hs)
	}
	return nil
}

func (m memStore) createSnapshot(i uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	return m.CreateSnapshot(i, cs, data)
}

func (m memStore) compact(i uint64) error { return m.Compact(i) }

// diskStore is the real storage backend: a storage.Storage in dir on the
// node's own file system, mem (the disk) under fault (crash points for torn
// persists) under sized (which remembers the size of the last write, for
// MemFS.TearLastWrite).
type diskStore struct {
	*storage.Storage
	mem   *vfs.MemFS
	fault *vfs.FaultFS
	sized *sizedFS
	dir   string
	meta  wal.Meta
	opts  storage.Options
	// opens counts storage.Open calls (the first one included).
	opens int
}

// newDiskStore opens an empty storage for node id on a new MemFS.
func newDiskStore(id uint64, opts storage.Options) (*diskStore, error) {
	d := &diskStore{dir: fmt.Sprintf("/n%d", id), meta: wal.Meta{ClusterID: 1, NodeID: id}, opts: opts}
	return d, d.open(vfs.NewMem())
}

// open opens the storage on mem.
func (d *diskStore) open(mem *vfs.MemFS) error {
	d.mem = mem
	d.fault = vfs.NewFault(mem)
	d.sized = &sizedFS{FS: d.fault}
	d.opens++
	st, err := storage.Open(d.sized, d.dir, d.meta, d.opts)
	if err != nil {
		d.Storage = nil
		return err
	}
	d.Storage = st
	return nil
}

// crash keeps only the durable state of the disk and recovers the storage
// from it. The old Storage is dropped, not closed: a crash closes nothing.
func (d *diskStore) crash() error { return d.open(d.mem.Crash()) }

func (d *diskStore) createSnapshot(i uint64, cs *raftpb.ConfState, data []byte) (*raftpb.Snapshot, error) {
	return d.CreateSnapshot(i, cs, data)
}

func (d *diskStore) compact(i uint64) error { return d.Compact(i) }

// sizedFS remembers the size of the last write that reached the file
// system below it: the bound of MemFS.TearLastWrite.
type sizedFS struct {
	vfs.FS
	lastWrite int
}

func (f *sizedFS) Create(name string) (vfs.File, error) { return f.wrap(f.FS.Create(name)) }

func (f *sizedFS) OpenReadWrite(name string) (vfs.File, error) {
	return f.wrap(f.FS.OpenReadWrite(name))
}

func (f *sizedFS) wrap(file vfs.File, err error) (vfs.File, error) {
	if err != nil {
		return nil, err
	}
	return &sizedFile{File: file, fs: f}, nil
}

type sizedFile struct {
	vfs.File
	fs *sizedFS
}

func (f *sizedFile) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	if err == nil {
		f.fs.lastWrite = len(p)
	}
	return n, err
}

func (f *sizedFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := f.File.WriteAt(p, off)
	if err == nil {
		f.fs.lastWrite = len(p)
	}
	return n, err
}
