package vfs

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
)

// MemFS is an in-memory FS that simulates what a crash keeps. It is safe for
// concurrent use.
//
// It keeps two states side by side. The current state is what reads, List
// and Stat see. The durable state is what survives a crash:
//
//   - a file's durable contents (data and size) are its contents as of its
//     last successful File.Sync; writes and truncations after it are not
//     durable;
//   - a directory's durable entries (names and the files or directories
//     they point to) are its entries as of its last SyncDir; creations,
//     renames and removals after it are not durable. This applies to
//     directories made by MkdirAll too: a new directory survives a crash
//     only once its parent has been synced.
//
// Crash returns a new MemFS holding only the durable state. Files are
// inodes, so a name and its contents are durable independently: a file that
// was synced but whose directory entry was not vanishes; a file renamed
// without syncing its directory is back under its old name, with whatever
// contents were synced through either name.
//
// There is one root directory, which always exists and is durable; "/a" and
// "a" name the same file. Names are cleaned with path.Clean.
//
// Preallocate only checks its arguments: it never changes the size, as with
// Linux's FALLOC_FL_KEEP_SIZE.
type MemFS struct {
	mu   sync.Mutex
	root *memNode
	// last is the most recent write through any file, for TearLastWrite.
	last lastWrite
}

var _ FS = (*MemFS)(nil)

// clean is memNode.dirtyLo for a file whose contents equal its durable
// contents.
const clean = math.MaxInt64

// memNode is a file or a directory: an inode.
type memNode struct {
	dir bool

	// Files.
	data    []byte // current contents
	durable []byte // contents as of the last Sync
	// dirtyLo is the lowest offset written or truncated since the last
	// Sync, or clean. Invariant: data[:dirtyLo] equals durable[:dirtyLo]
	// (where both are long enough), so Sync copies only data[dirtyLo:].
	dirtyLo int64

	// Directories.
	entries        map[string]*memNode // current entries
	durableEntries map[string]*memNode // entries as of the last SyncDir
}

// lastWrite records a write well enough to undo part of it: the bytes it
// overwrote and the size the file had before it.
type lastWrite struct {
	node    *memNode // nil when there is no write to tear
	off     int64
	n       int64  // bytes written
	oldSize int64  // file size before the write
	old     []byte // the old contents of [off, min(off+n, oldSize))
}

// NewMem returns an empty in-memory file system.
func NewMem() *MemFS {
	return &MemFS{root: newDir()}
}

func newDir() *memNode {
	return &memNode{dir: true, dirtyLo: clean, entries: map[string]*memNode{}, durableEntries: map[string]*memNode{}}
}

// errIsDir, errNotDir and errNotEmpty mirror the errno values the OS returns.
var (
	errIsDir    = errors.New("is a directory")
	errNotDir   = errors.New("not a directory")
	errNotEmpty = errors.New("directory not empty")
	errReadOnly = errors.New("file opened read-only")
)

// splitPath returns the elements of a cleaned name; the root has none.
func splitPath(name string) []string {
	p := path.Clean("/" + name)
	if p == "/" {
		return nil
	}
	return strings.Split(p[1:], "/")
}

// lookup returns the node that name refers to in the current state, or nil.
// The caller holds m.mu.
func (m *MemFS) lookup(name string) *memNode {
	n := m.root
	for _, e := range splitPath(name) {
		if !n.dir {
			return nil
		}
		if n = n.entries[e]; n == nil {
			return nil
		}
	}
	return n
}

// parent returns the directory holding name and name's last element. The
// caller holds m.mu.
func (m *MemFS) parent(op, name string) (*memNode, string, error) {
	elems := splitPath(name)
	if len(elems) == 0 {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	d := m.lookup(strings.Join(elems[:len(elems)-1], "/"))
	if d == nil {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: fs.ErrNotExist}
	}
	if !d.dir {
		return nil, "", &fs.PathError{Op: op, Path: name, Err: errNotDir}
	}
	return d, elems[len(elems)-1], nil
}

// Create implements FS.Create. Creating an existing file truncates it in
// place (the same inode, as O_TRUNC does); the truncation is durable after
// Sync.
func (m *MemFS) Create(name string) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent("open", name)
	if err != nil {
		return nil, err
	}
	n := d.entries[base]
	switch {
	case n == nil:
		n = &memNode{dirtyLo: clean}
		d.entries[base] = n
	case n.dir:
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	default:
		m.truncate(n, 0)
	}
	return &memFile{m: m, n: n, name: name, write: true}, nil
}

// Open implements FS.Open. Unlike the OS, MemFS does not open directories.
func (m *MemFS) Open(name string) (File, error) {
	return m.open(name, false)
}

// OpenReadWrite implements FS.OpenReadWrite.
func (m *MemFS) OpenReadWrite(name string) (File, error) {
	return m.open(name, true)
}

func (m *MemFS) open(name string, write bool) (File, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.lookup(name)
	if n == nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir {
		return nil, &fs.PathError{Op: "open", Path: name, Err: errIsDir}
	}
	return &memFile{m: m, n: n, name: name, write: write}, nil
}

// Remove implements FS.Remove. Open files stay readable and writable, as
// on Unix.
func (m *MemFS) Remove(name string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d, base, err := m.parent("remove", name)
	if err != nil {
		return err
	}
	n := d.entries[base]
	if n == nil {
		return &fs.PathError{Op: "remove", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir && len(n.entries) > 0 {
		return &fs.PathError{Op: "remove", Path: name, Err: errNotEmpty}
	}
	delete(d.entries, base)
	return nil
}

// Rename implements FS.Rename. A file may replace a file; a directory may
// move only to a name that does not exist. Across directories, the removal
// and the addition become durable separately, with SyncDir of each.
func (m *MemFS) Rename(oldname, newname string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	od, obase, err := m.parent("rename", oldname)
	if err != nil {
		return err
	}
	n := od.entries[obase]
	if n == nil {
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrNotExist}
	}
	nd, nbase, err := m.parent("rename", newname)
	if err != nil {
		return err
	}
	target := nd.entries[nbase]
	if target == n {
		return nil
	}
	switch {
	case target != nil && target.dir:
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrExist}
	case target != nil && n.dir:
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: errNotDir}
	case n.dir && strings.HasPrefix(path.Clean("/"+newname)+"/", path.Clean("/"+oldname)+"/"):
		return &os.LinkError{Op: "rename", Old: oldname, New: newname, Err: fs.ErrInvalid}
	}
	delete(od.entries, obase)
	nd.entries[nbase] = n
	return nil
}

// MkdirAll implements FS.MkdirAll. perm is ignored.
func (m *MemFS) MkdirAll(dir string, perm os.FileMode) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.root
	for _, e := range splitPath(dir) {
		c := n.entries[e]
		if c == nil {
			c = newDir()
			n.entries[e] = c
		}
		if !c.dir {
			return &fs.PathError{Op: "mkdir", Path: dir, Err: errNotDir}
		}
		n = c
	}
	return nil
}

// List implements FS.List.
func (m *MemFS) List(dir string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.lookup(dir)
	if d == nil {
		return nil, &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	if !d.dir {
		return nil, &fs.PathError{Op: "readdirent", Path: dir, Err: errNotDir}
	}
	return slices.Sorted(maps.Keys(d.entries)), nil
}

// Stat implements FS.Stat.
func (m *MemFS) Stat(name string) (os.FileInfo, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.lookup(name)
	if n == nil {
		return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
	}
	return n.info(name), nil
}

// SyncDir implements FS.SyncDir: the current entries of dir become its
// durable entries. It does not make dir's own entry in its parent durable.
func (m *MemFS) SyncDir(dir string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	d := m.lookup(dir)
	if d == nil {
		return &fs.PathError{Op: "open", Path: dir, Err: fs.ErrNotExist}
	}
	if !d.dir {
		return &fs.PathError{Op: "sync", Path: dir, Err: errNotDir}
	}
	d.durableEntries = maps.Clone(d.entries)
	return nil
}

// Join implements FS.Join with path.Join.
func (m *MemFS) Join(elem ...string) string {
	return path.Join(elem...)
}

// Crash returns a new MemFS holding only m's durable state, as the disk
// would after a power failure: every durable directory entry, starting from
// the root, with every file's durable contents. m itself is left as it was.
// The result is a function of m's state alone.
func (m *MemFS) Crash() *MemFS {
	m.mu.Lock()
	defer m.mu.Unlock()
	return &MemFS{root: crashNode(m.root, map[*memNode]*memNode{})}
}

// crashNode returns the durable copy of n. memo maps each inode to its copy,
// so a file reachable by two durable names (a rename across directories
// whose both sides were synced at different times) stays one inode.
func crashNode(n *memNode, memo map[*memNode]*memNode) *memNode {
	if c, ok := memo[n]; ok {
		return c
	}
	if !n.dir {
		c := &memNode{data: slices.Clone(n.durable), durable: slices.Clone(n.durable), dirtyLo: clean}
		memo[n] = c
		return c
	}
	c := newDir()
	memo[n] = c
	for name, child := range n.durableEntries {
		c.entries[name] = crashNode(child, memo)
	}
	c.durableEntries = maps.Clone(c.entries)
	return c
}

// FlipBit flips bit (0 is the least significant) of the byte at offset of
// name, in both its current and its durable contents where they are long
// enough, modelling media corruption that reads see now and that survives a
// crash. It fails if offset is beyond both.
func (m *MemFS) FlipBit(name string, offset int64, bit uint) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.lookup(name)
	if n == nil {
		return &fs.PathError{Op: "flipbit", Path: name, Err: fs.ErrNotExist}
	}
	if n.dir || bit > 7 || offset < 0 || (offset >= int64(len(n.data)) && offset >= int64(len(n.durable))) {
		return &fs.PathError{Op: "flipbit", Path: name, Err: fs.ErrInvalid}
	}
	if offset < int64(len(n.data)) {
		n.data[offset] ^= 1 << bit
	}
	if offset < int64(len(n.durable)) {
		n.durable[offset] ^= 1 << bit
	}
	return nil
}

// TearLastWrite models a crash in the middle of flushing the most recent
// write (through any file of m), as a disk that wrote only some sectors
// would leave it. Let the last write have put len(p) bytes at offset off into
// a file of size s. TearLastWrite(n), 0 <= n <= len(p), sets that file's
// current and durable contents to: the contents just before that write,
// with only p[:n] written at off (so the size is max(s, off+n) for n > 0,
// and s for n == 0: a write that left nothing did not extend the file
// either). Every other unsynced change to that file made before the last
// write is thereby made durable; other files are untouched. Call Crash afterwards to drop
// everything else that was not synced.
//
// It fails if there was no write, if n is out of range, or if the file was
// synced, truncated or re-created since the write (its tail is then no
// longer a torn write).
func (m *MemFS) TearLastWrite(n int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	lw := m.last
	if lw.node == nil {
		return errors.New("vfs: TearLastWrite: no unsynced last write to tear")
	}
	if n < 0 || int64(n) > lw.n {
		return fmt.Errorf("vfs: TearLastWrite(%d): the last write was %d bytes", n, lw.n)
	}
	f := lw.node
	kept := lw.off + int64(n)
	size := lw.oldSize
	if n > 0 {
		size = max(size, kept)
	}
	t := slices.Clone(f.data[:size])
	for i := kept; i < min(lw.off+lw.n, size); i++ {
		t[i] = lw.old[i-lw.off]
	}
	f.data = t
	f.durable = slices.Clone(t)
	f.dirtyLo = clean
	m.last = lastWrite{}
	return nil
}

// String dumps the current tree for debugging: one line per name with its
// size, its durable size, and whether its directory entry is durable. Names
// that were removed but whose removal is not durable are listed as such.
func (m *MemFS) String() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var b strings.Builder
	dumpDir(&b, "", m.root)
	return b.String()
}

func dumpDir(b *strings.Builder, prefix string, d *memNode) {
	names := slices.Sorted(maps.Keys(d.entries))
	for _, name := range names {
		n := d.entries[name]
		p := prefix + "/" + name
		entry := "entry durable"
		if d.durableEntries[name] != n {
			entry = "entry NOT durable"
		}
		if n.dir {
			fmt.Fprintf(b, "%s/ (%s)\n", p, entry)
			dumpDir(b, p, n)
			continue
		}
		fmt.Fprintf(b, "%s size=%d durable-size=%d synced=%t (%s)\n",
			p, len(n.data), len(n.durable), n.dirtyLo == clean, entry)
	}
	for _, name := range slices.Sorted(maps.Keys(d.durableEntries)) {
		if d.entries[name] != d.durableEntries[name] && d.entries[name] == nil {
			fmt.Fprintf(b, "%s/%s (removed or renamed, NOT durable)\n", prefix, name)
		}
	}
}

// truncate sets n's size. The caller holds m.mu.
func (m *MemFS) truncate(n *memNode, size int64) {
	old := int64(len(n.data))
	n.dirtyLo = min(n.dirtyLo, size, old)
	if size <= old {
		n.data = n.data[:size]
	} else {
		n.data = append(n.data, make([]byte, size-old)...)
	}
	if m.last.node == n {
		m.last = lastWrite{}
	}
}

// writeAt writes p at off into n, filling any gap with zeros, and records
// the write for TearLastWrite. The caller holds m.mu.
func (m *MemFS) writeAt(n *memNode, p []byte, off int64) {
	old := int64(len(n.data))
	end := off + int64(len(p))
	lw := lastWrite{node: n, off: off, n: int64(len(p)), oldSize: old}
	if off < old {
		lw.old = slices.Clone(n.data[off:min(end, old)])
	}
	m.last = lw
	if end > old {
		n.data = append(n.data, make([]byte, end-old)...)
	}
	copy(n.data[off:], p)
	n.dirtyLo = min(n.dirtyLo, off, old)
}

// sync makes n's contents durable. The caller holds m.mu.
func (m *MemFS) sync(n *memNode) {
	lo := min(n.dirtyLo, int64(len(n.durable)), int64(len(n.data)))
	n.durable = append(n.durable[:lo], n.data[lo:]...)
	n.dirtyLo = clean
	if m.last.node == n {
		m.last = lastWrite{}
	}
}

func (n *memNode) info(name string) os.FileInfo {
	return memInfo{name: path.Base(path.Clean("/" + name)), size: int64(len(n.data)), dir: n.dir}
}
