package snap

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// ErrNoSnapshot is returned by Load when the directory holds no snapshot
// file.
var ErrNoSnapshot = errors.New("snap: no snapshot")

// CorruptError says a snapshot file's contents are not a valid snapshot.
type CorruptError struct {
	File   string // the file's path
	Reason string // what is wrong, e.g. "checksum mismatch: ..."
}

func (e *CorruptError) Error() string {
	return "snap: " + e.File + ": corrupt: " + e.Reason
}

const (
	snapSuffix = ".snap"
	tmpSuffix  = ".tmp"
)

// Snapshotter saves and loads the snapshots in one directory. It is safe
// for concurrent use; Save and Load run one at a time.
type Snapshotter struct {
	fs     vfs.FS
	dir    string
	keep   int // Invariant: keep >= 1
	logger *slog.Logger

	mu sync.Mutex // serializes Save and Load
}

// New returns a Snapshotter for dir, creating dir durably (each directory
// it creates is made durable by syncing its parent) and removing temporary
// files left by a crash in the middle of Save. Save keeps the keep newest
// snapshots (keep >= 1). logger receives the Error-level lines about
// corrupt snapshots that Load skips; it must not be nil.
func New(fsys vfs.FS, dir string, keep int, logger *slog.Logger) (*Snapshotter, error) {
	if keep < 1 {
		return nil, fmt.Errorf("snap: keep = %d, want at least 1", keep)
	}
	if logger == nil {
		return nil, errors.New("snap: nil logger: corrupt snapshots must be reported")
	}
	if err := mkdirDurable(fsys, dir); err != nil {
		return nil, err
	}
	s := &Snapshotter{fs: fsys, dir: dir, keep: keep, logger: logger}
	if err := s.removeTemps(); err != nil {
		return nil, err
	}
	return s, nil
}

// mkdirDurable creates dir and its missing parents and syncs the parent of
// each directory it creates, top-down, so the new directories survive a
// crash.
func mkdirDurable(fsys vfs.FS, dir string) error {
	var missing []string // deepest first
	for d := dir; ; d = path.Dir(d) {
		_, err := fsys.Stat(d)
		if err == nil {
			break
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("snap: stat %s: %w", d, err)
		}
		missing = append(missing, d)
		if path.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil
	}
	if err := fsys.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("snap: create directory %s: %w", dir, err)
	}
	for _, d := range slices.Backward(missing) {
		if err := fsys.SyncDir(path.Dir(d)); err != nil {
			return fmt.Errorf("snap: sync directory %s: %w", path.Dir(d), err)
		}
	}
	return nil
}

// removeTemps removes every temporary file in the directory.
func (s *Snapshotter) removeTemps() error {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return fmt.Errorf("snap: list %s: %w", s.dir, err)
	}
	removed := false
	for _, n := range names {
		if !strings.HasSuffix(n, snapSuffix+tmpSuffix) {
			continue
		}
		if err := s.fs.Remove(s.fs.Join(s.dir, n)); err != nil {
			return fmt.Errorf("snap: remove temporary file: %w", err)
		}
		removed = true
	}
	if removed {
		if err := s.fs.SyncDir(s.dir); err != nil {
			return fmt.Errorf("snap: sync directory %s: %w", s.dir, err)
		}
	}
	return nil
}

// fileName returns the name of the snapshot of term at index.
func fileName(term, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", term, index, snapSuffix)
}

// parseName returns the term and index a snapshot file name encodes; ok is
// false for any name fileName would not produce.
func parseName(name string) (term, index uint64, ok bool) {
	if len(name) != 33+len(snapSuffix) || name[16] != '-' || !strings.HasSuffix(name, snapSuffix) {
		return 0, 0, false
	}
	term, err1 := strconv.ParseUint(name[:16], 16, 64)
	index, err2 := strconv.ParseUint(name[17:33], 16, 64)
	if err1 != nil || err2 != nil || fileName(term, index) != name {
		return 0, 0, false
	}
	return term, index, true
}

// snapNames returns the snapshot file names in the directory, oldest first.
func (s *Snapshotter) snapNames() ([]string, error) {
	names, err := s.fs.List(s.dir)
	if err != nil {
		return nil, fmt.Errorf("snap: list %s: %w", s.dir, err)
	}
	var out []string
	for _, n := range names {
		if _, _, ok := parseName(n); ok {
			out = append(out, n)
		}
	}
	slices.Sort(out) // fixed-width hex: name order is (term, index) order
	return out, nil
}

// Save stores snap durably, then removes the oldest snapshots beyond the
// number to keep. A snapshot older than the newest stored one is refused
// (it would be the first removed); saving the same term and index again
// replaces the file. Any error, an fsync error included, must be treated as
// fatal by the caller: what is on disk is then not known.
func (s *Snapshotter) Save(snap *raftpb.Snapshot) error {
	md := snap.GetMetadata()
	if md == nil {
		return errors.New("snap: snapshot has no metadata")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	name := fileName(md.GetTerm(), md.GetIndex())
	names, err := s.snapNames()
	if err != nil {
		return err
	}
	if len(names) > 0 && names[len(names)-1] > name {
		return fmt.Errorf("snap: snapshot at term %d index %d is older than the newest stored, %s",
			md.GetTerm(), md.GetIndex(), names[len(names)-1])
	}
	b, err := encode(snap)
	if err != nil {
		return err
	}
	final := s.fs.Join(s.dir, name)
	tmp := final + tmpSuffix
	if err := s.writeSynced(tmp, b); err != nil {
		s.fs.Remove(tmp) // best effort: New removes it otherwise
		return err
	}
	if err := s.fs.Rename(tmp, final); err != nil {
		s.fs.Remove(tmp)
		return fmt.Errorf("snap: rename %s: %w", tmp, err)
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("snap: sync directory %s: %w", s.dir, err)
	}
	return s.purge()
}

// writeSynced creates name holding b and fsyncs it.
func (s *Snapshotter) writeSynced(name string, b []byte) error {
	f, err := s.fs.Create(name)
	if err != nil {
		return fmt.Errorf("snap: create %s: %w", name, err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("snap: write %s: %w", name, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("snap: fsync %s: %w", name, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("snap: close %s: %w", name, err)
	}
	return nil
}

// purge removes the oldest snapshot files beyond s.keep and syncs the
// directory if it removed any.
func (s *Snapshotter) purge() error {
	names, err := s.snapNames()
	if err != nil {
		return err
	}
	if len(names) <= s.keep {
		return nil
	}
	for _, n := range names[:len(names)-s.keep] {
		if err := s.fs.Remove(s.fs.Join(s.dir, n)); err != nil {
			return fmt.Errorf("snap: remove old snapshot: %w", err)
		}
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("snap: sync directory %s: %w", s.dir, err)
	}
	return nil
}

// Load returns the newest valid snapshot. Newer files that are corrupt are
// logged at Error level, each with its file and reason, and skipped. It
// returns ErrNoSnapshot if there is no snapshot file, and an error wrapping
// every file's *CorruptError if none is valid. An I/O error reading a file
// is returned as it is, not skipped: it says nothing about the file's
// contents.
func (s *Snapshotter) Load() (*raftpb.Snapshot, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	names, err := s.snapNames()
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, ErrNoSnapshot
	}
	var corrupt []error // each a *CorruptError
	for _, name := range slices.Backward(names) {
		snap, err := s.read(name)
		var ce *CorruptError
		if errors.As(err, &ce) {
			corrupt = append(corrupt, ce)
			continue
		}
		if err != nil {
			return nil, err
		}
		for _, err := range corrupt {
			var ce *CorruptError
			errors.As(err, &ce)
			s.logger.Error("snap: skipping corrupt snapshot; using an older one",
				"file", ce.File, "reason", ce.Reason, "using", s.fs.Join(s.dir, name),
				"moved_to", ce.File+CorruptSuffix)
		}
		if err := s.setAside(corrupt); err != nil {
			return nil, err
		}
		return snap, nil
	}
	return nil, fmt.Errorf("snap: no valid snapshot among %d files in %s: %w", len(names), s.dir, errors.Join(corrupt...))
}

// read reads and decodes the snapshot file name.
func (s *Snapshotter) read(name string) (*raftpb.Snapshot, error) {
	p := s.fs.Join(s.dir, name)
	f, err := s.fs.Open(p)
	if err != nil {
		return nil, fmt.Errorf("snap: open %s: %w", p, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("snap: stat %s: %w", p, err)
	}
	b := make([]byte, fi.Size())
	if _, err := io.ReadFull(f, b); err != nil {
		return nil, fmt.Errorf("snap: read %s: %w", p, err)
	}
	snap, err := decode(p, b)
	if err != nil {
		return nil, err
	}
	term, index, _ := parseName(name)
	if md := snap.GetMetadata(); md.GetTerm() != term || md.GetIndex() != index {
		return nil, &CorruptError{File: p, Reason: fmt.Sprintf(
			"header says term %d index %d, the name says term %d index %d", md.GetTerm(), md.GetIndex(), term, index)}
	}
	return snap, nil
}

// CorruptSuffix is appended to the name of a corrupt snapshot file that Load
// skipped. The file is kept for inspection but no longer counts as a
// snapshot, so it neither blocks saving newer snapshots nor is loaded again.
const CorruptSuffix = ".corrupt"

// setAside renames the files of corrupt (each a *CorruptError) out of the
// way and syncs the directory.
func (s *Snapshotter) setAside(corrupt []error) error {
	if len(corrupt) == 0 {
		return nil
	}
	for _, err := range corrupt {
		var ce *CorruptError
		errors.As(err, &ce)
		if err := s.fs.Rename(ce.File, ce.File+CorruptSuffix); err != nil {
			return fmt.Errorf("snap: setting aside corrupt snapshot: %w", err)
		}
	}
	if err := s.fs.SyncDir(s.dir); err != nil {
		return fmt.Errorf("snap: sync directory %s: %w", s.dir, err)
	}
	return nil
}
