package snap

import (
	"bytes"
	"errors"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

func snapshot(term, index uint64, data string, voters ...uint64) *raftpb.Snapshot {
	return &raftpb.Snapshot{
		Data: []byte(data),
		Metadata: &raftpb.SnapshotMetadata{
			Term: term, Index: index, ConfState: &raftpb.ConfState{Voters: voters},
		},
	}
}

// sameSnapshot reports whether got is want as Load returns it (a nil
// configuration comes back empty).
func sameSnapshot(got, want *raftpb.Snapshot) bool {
	wcs := want.GetMetadata().GetConfState()
	if wcs == nil {
		wcs = &raftpb.ConfState{}
	}
	return got.GetMetadata().GetTerm() == want.GetMetadata().GetTerm() &&
		got.GetMetadata().GetIndex() == want.GetMetadata().GetIndex() &&
		bytes.Equal(got.GetData(), want.GetData()) &&
		proto.Equal(got.GetMetadata().GetConfState(), wcs)
}

// testLogger returns a logger writing text lines into the returned buffer.
func testLogger() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, nil)), &buf
}

func mustNew(t *testing.T, fsys vfs.FS, dir string, keep int) (*Snapshotter, *bytes.Buffer) {
	t.Helper()
	logger, buf := testLogger()
	s, err := New(fsys, dir, keep, logger)
	if err != nil {
		t.Fatalf("New(%s, %d) = %v", dir, keep, err)
	}
	return s, buf
}

func TestSaveLoadRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		snap *raftpb.Snapshot
	}{
		{"Simple", snapshot(3, 100, "state", 1, 2, 3)},
		{"EmptyData", snapshot(1, 1, "", 1)},
		{"NoConfState", &raftpb.Snapshot{Data: []byte("x"), Metadata: &raftpb.SnapshotMetadata{Term: 2, Index: 5}}},
		{"Joint", &raftpb.Snapshot{Data: bytes.Repeat([]byte{0xab}, 1<<16), Metadata: &raftpb.SnapshotMetadata{
			Term: 1<<64 - 1, Index: 1<<64 - 1, ConfState: &raftpb.ConfState{
				Voters: []uint64{1, 2, 4}, Learners: []uint64{5}, VotersOutgoing: []uint64{1, 2, 3},
				LearnersNext: []uint64{3}, AutoLeave: true,
			},
		}}},
	}
	for _, tt := range tests {
		for _, fsys := range []struct {
			name string
			fs   vfs.FS
			dir  string
		}{{"os", vfs.Default, t.TempDir() + "/snap"}, {"mem", vfs.NewMem(), "/data/snap"}} {
			t.Run(tt.name+"/"+fsys.name, func(t *testing.T) {
				s, logs := mustNew(t, fsys.fs, fsys.dir, 1)
				if err := s.Save(tt.snap); err != nil {
					t.Fatalf("Save = %v", err)
				}
				got, err := s.Load()
				if err != nil || !sameSnapshot(got, tt.snap) {
					t.Errorf("Load() = %v, %v; want %v", got, err, tt.snap)
				}
				if logs.Len() != 0 {
					t.Errorf("Load of a good snapshot logged: %s", logs)
				}
			})
		}
	}
}

func TestLoadNoSnapshot(t *testing.T) {
	m := vfs.NewMem()
	s, _ := mustNew(t, m, "/snap", 1)
	mustWrite(t, m, "/snap/other-file", []byte("x")) // not a snapshot name: ignored
	if _, err := s.Load(); !errors.Is(err, ErrNoSnapshot) {
		t.Errorf("Load() error = %v, want ErrNoSnapshot", err)
	}
}

func TestNewRejectsBadArguments(t *testing.T) {
	logger, _ := testLogger()
	if _, err := New(vfs.NewMem(), "/snap", 0, logger); err == nil {
		t.Errorf("New with keep 0 succeeded, want an error")
	}
	if _, err := New(vfs.NewMem(), "/snap", 1, nil); err == nil {
		t.Errorf("New with a nil logger succeeded, want an error")
	}
}

func listDir(t *testing.T, fsys vfs.FS, dir string) []string {
	t.Helper()
	names, err := fsys.List(dir)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

func TestSaveKeepsNewestN(t *testing.T) {
	for _, keep := range []int{1, 2, 3} {
		m := vfs.NewMem()
		s, _ := mustNew(t, m, "/snap", keep)
		var want []string
		for i := uint64(1); i <= 5; i++ {
			if err := s.Save(snapshot(i, 10*i, "d")); err != nil {
				t.Fatal(err)
			}
			want = append(want, fileName(i, 10*i))
		}
		want = want[len(want)-keep:]
		if got := listDir(t, m, "/snap"); !slices.Equal(got, want) {
			t.Errorf("keep %d: files after 5 saves = %q, want %q", keep, got, want)
		}
		// The removals are durable.
		if got := listDir(t, m.Crash(), "/snap"); !slices.Equal(got, want) {
			t.Errorf("keep %d: files after 5 saves and a crash = %q, want %q", keep, got, want)
		}
	}
}

func TestSaveRefusesOlderSnapshot(t *testing.T) {
	s, _ := mustNew(t, vfs.NewMem(), "/snap", 2)
	if err := s.Save(snapshot(2, 20, "new")); err != nil {
		t.Fatal(err)
	}
	if err := s.Save(snapshot(2, 10, "old")); err == nil {
		t.Errorf("Save of an older snapshot succeeded, want an error")
	}
	if err := s.Save(snapshot(2, 20, "again")); err != nil {
		t.Errorf("Save of the same term and index again = %v, want nil", err)
	}
	if got, _ := s.Load(); string(got.GetData()) != "again" {
		t.Errorf("Load after saving again = %q, want %q", got.GetData(), "again")
	}
}

func TestSaveRejectsMissingMetadata(t *testing.T) {
	s, _ := mustNew(t, vfs.NewMem(), "/snap", 1)
	if err := s.Save(&raftpb.Snapshot{Data: []byte("x")}); err == nil {
		t.Errorf("Save without metadata succeeded, want an error")
	}
}

func mustWrite(t *testing.T, fsys vfs.FS, name string, b []byte) {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

func readAll(t *testing.T, fsys vfs.FS, name string) []byte {
	t.Helper()
	f, err := fsys.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestLoadCorruptNewestUsesPreviousAndLogs damages the newest of two
// snapshots in each way and checks that Load returns the older one and logs
// the damage at Error level with the file and the reason.
func TestLoadCorruptNewestUsesPreviousAndLogs(t *testing.T) {
	older, newer := snapshot(1, 10, "older", 1), snapshot(2, 20, "newer", 1, 2)
	newest := "/snap/" + fileName(2, 20)
	tests := []struct {
		name   string
		damage func(t *testing.T, m *vfs.MemFS)
		reason string
	}{
		{"BitFlipInData", func(t *testing.T, m *vfs.MemFS) {
			m.FlipBit(newest, int64(len(readAll(t, m, newest))-6), 3)
		}, "checksum mismatch"},
		{"BitFlipInTerm", func(t *testing.T, m *vfs.MemFS) { m.FlipBit(newest, 16, 0) }, "checksum mismatch"},
		{"BitFlipInChecksum", func(t *testing.T, m *vfs.MemFS) {
			m.FlipBit(newest, int64(len(readAll(t, m, newest))-1), 7)
		}, "checksum mismatch"},
		{"BitFlipInLength", func(t *testing.T, m *vfs.MemFS) { m.FlipBit(newest, 32, 1) }, "size"},
		{"BadMagic", func(t *testing.T, m *vfs.MemFS) { m.FlipBit(newest, 0, 0) }, "bad magic"},
		{"BadVersion", func(t *testing.T, m *vfs.MemFS) { m.FlipBit(newest, 8, 1) }, "unsupported format version"},
		{"Truncated", func(t *testing.T, m *vfs.MemFS) {
			b := readAll(t, m, newest)
			mustWrite(t, m, newest, b[:len(b)-1])
		}, "size"},
		{"TruncatedIntoHeader", func(t *testing.T, m *vfs.MemFS) {
			mustWrite(t, m, newest, readAll(t, m, newest)[:20])
		}, "truncated"},
		{"Empty", func(t *testing.T, m *vfs.MemFS) { mustWrite(t, m, newest, nil) }, "truncated"},
		{"Extended", func(t *testing.T, m *vfs.MemFS) {
			mustWrite(t, m, newest, append(readAll(t, m, newest), 0))
		}, "size"},
		{"NameDisagreesWithHeader", func(t *testing.T, m *vfs.MemFS) {
			mustWrite(t, m, newest, readAll(t, m, "/snap/"+fileName(1, 10)))
		}, "the name says"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := vfs.NewMem()
			s, logs := mustNew(t, m, "/snap", 2)
			if err := s.Save(older); err != nil {
				t.Fatal(err)
			}
			if err := s.Save(newer); err != nil {
				t.Fatal(err)
			}
			tt.damage(t, m)
			got, err := s.Load()
			if err != nil || !sameSnapshot(got, older) {
				t.Fatalf("Load() = %v, %v; want the older snapshot %v", got, err, older)
			}
			line := logs.String()
			for _, want := range []string{"level=ERROR", newest, tt.reason} {
				if !strings.Contains(line, want) {
					t.Errorf("log = %q, want it to contain %q", line, want)
				}
			}
		})
	}
}

func TestLoadAllCorruptIsCorruptError(t *testing.T) {
	m := vfs.NewMem()
	s, logs := mustNew(t, m, "/snap", 2)
	s.Save(snapshot(1, 10, "a"))
	s.Save(snapshot(2, 20, "b"))
	m.FlipBit("/snap/"+fileName(1, 10), 41, 0)
	m.FlipBit("/snap/"+fileName(2, 20), 41, 0)
	_, err := s.Load()
	var ce *CorruptError
	if !errors.As(err, &ce) || errors.Is(err, ErrNoSnapshot) {
		t.Fatalf("Load() error = %v, want a *CorruptError and not ErrNoSnapshot", err)
	}
	if ce.File != "/snap/"+fileName(2, 20) || !strings.Contains(err.Error(), fileName(1, 10)) {
		t.Errorf("Load() error = %v, want both files named, the newest first", err)
	}
	if logs.Len() != 0 {
		t.Errorf("Load both logged and returned the errors: %s", logs)
	}
}

// TestLoadReadErrorIsReturnedNotSkipped checks that an I/O error is not
// mistaken for corruption: Load fails instead of falling back.
func TestLoadReadErrorIsReturnedNotSkipped(t *testing.T) {
	m := vfs.NewMem()
	f := vfs.NewFault(m)
	s, _ := mustNew(t, f, "/snap", 2)
	s.Save(snapshot(1, 10, "a"))
	s.Save(snapshot(2, 20, "b"))
	f.SetHook(func(op vfs.Op, name string) error {
		if op == vfs.OpRead && strings.HasSuffix(name, fileName(2, 20)) {
			return vfs.ErrInjected
		}
		return nil
	})
	got, err := s.Load()
	var ce *CorruptError
	if !errors.Is(err, vfs.ErrInjected) || errors.As(err, &ce) {
		t.Errorf("Load() = %v, %v; want the injected read error", got, err)
	}
}

// TestSaveReturnsEachInjectedError fails each operation of Save in turn
// (the fsyncs included) and checks that Save returns the error and that a
// crash afterwards recovers the previous snapshot or the new one.
func TestSaveReturnsEachInjectedError(t *testing.T) {
	for _, op := range []vfs.Op{vfs.OpCreate, vfs.OpWrite, vfs.OpSync, vfs.OpClose, vfs.OpRename, vfs.OpSyncDir, vfs.OpRemove, vfs.OpList} {
		m := vfs.NewMem()
		f := vfs.NewFault(m)
		s, _ := mustNew(t, f, "/snap", 1)
		if err := s.Save(snapshot(1, 10, "old")); err != nil {
			t.Fatal(err)
		}
		f.SetHook(func(o vfs.Op, name string) error {
			if o == op {
				return vfs.ErrInjected
			}
			return nil
		})
		if err := s.Save(snapshot(2, 20, "new")); !errors.Is(err, vfs.ErrInjected) {
			t.Errorf("Save with %v failing = %v, want ErrInjected", op, err)
		}
		s2, _ := mustNew(t, m.Crash(), "/snap", 1)
		if got, err := s2.Load(); err != nil || (string(got.GetData()) != "old" && string(got.GetData()) != "new") {
			t.Errorf("with %v failing, after a crash Load() = %v, %v; want the old or the new snapshot", op, got, err)
		}
	}
}

// TestNewCreatesDirectoryDurably checks that the snapshot directory and its
// new parents survive a crash.
func TestNewCreatesDirectoryDurably(t *testing.T) {
	m := vfs.NewMem()
	s, _ := mustNew(t, m, "/a/b/snap", 1)
	if err := s.Save(snapshot(1, 1, "x")); err != nil {
		t.Fatal(err)
	}
	s2, _ := mustNew(t, m.Crash(), "/a/b/snap", 1)
	if got, err := s2.Load(); err != nil || string(got.GetData()) != "x" {
		t.Errorf("after a crash Load() = %v, %v; want the saved snapshot", got, err)
	}
}

func TestNewRemovesTemporaryFiles(t *testing.T) {
	m := vfs.NewMem()
	mustNew(t, m, "/snap", 1)
	tmp := "/snap/" + fileName(1, 1) + tmpSuffix
	mustWrite(t, m, tmp, []byte("partial"))
	mustWrite(t, m, "/snap/unrelated.tmp", []byte("x"))
	mustNew(t, m, "/snap", 1)
	if got, want := listDir(t, m, "/snap"), []string{"unrelated.tmp"}; !slices.Equal(got, want) {
		t.Errorf("files after New = %q, want %q", got, want)
	}
}

// TestSaveCrashAtEveryPointLoadsOldOrNew crashes Save after each of its
// mutating operations, optionally tearing its last write at several
// lengths, and checks that after recovery Load returns the previous
// snapshot or the new one — the new one once the rename is durable — and
// logs no corruption: a torn temporary file is never loaded.
func TestSaveCrashAtEveryPointLoadsOldOrNew(t *testing.T) {
	old, next := snapshot(1, 10, "old state", 1), snapshot(2, 20, strings.Repeat("new state ", 20), 1, 2, 3)
	encoded, _ := encode(next)
	tears := []int{-1, 0, 1, headerSize - 1, headerSize, len(encoded) / 2, len(encoded) - 1}
	for _, keep := range []int{1, 2} {
		setup := func() (*vfs.MemFS, *vfs.FaultFS, *Snapshotter) {
			m := vfs.NewMem()
			s, _ := mustNew(t, m, "/data/snap", keep)
			if err := s.Save(old); err != nil {
				t.Fatal(err)
			}
			f := vfs.NewFault(m)
			s, _ = mustNew(t, f, "/data/snap", keep)
			return m, f, s
		}
		_, f, s := setup()
		start := f.MutatingOps()
		if err := s.Save(next); err != nil {
			t.Fatal(err)
		}
		total := f.MutatingOps() - start
		// create, write, sync, rename, sync dir (+ remove, sync dir)
		const durableAfter = 5
		if want := durableAfter + 2*(2-keep); total != want {
			t.Fatalf("keep %d: Save has %d mutating ops, want %d", keep, total, want)
		}
		for n := 0; n < total; n++ {
			for _, tear := range tears {
				m, f, s := setup()
				f.CrashAfter(n)
				if err := s.Save(next); !errors.Is(err, vfs.ErrCrashed) {
					t.Fatalf("keep %d, crash after %d: Save = %v, want ErrCrashed", keep, n, err)
				}
				if tear >= 0 && f.TearLastWrite(tear) != nil {
					continue // no unsynced write to tear at this point
				}
				c := m.Crash()
				s2, logs := mustNew(t, c, "/data/snap", keep)
				got, err := s2.Load()
				switch {
				case err != nil:
					t.Errorf("keep %d, crash after %d, tear %d: Load() = %v\n%s", keep, n, tear, err, c)
				case n >= durableAfter && !sameSnapshot(got, next):
					t.Errorf("keep %d, crash after %d, tear %d: Load() = %v, want the new snapshot", keep, n, tear, got)
				case !sameSnapshot(got, old) && !sameSnapshot(got, next):
					t.Errorf("keep %d, crash after %d, tear %d: Load() = %v, want the old or the new snapshot", keep, n, tear, got)
				}
				if logs.Len() != 0 {
					t.Errorf("keep %d, crash after %d, tear %d: Load logged %s", keep, n, tear, logs)
				}
				for _, name := range listDir(t, c, "/data/snap") {
					if strings.HasSuffix(name, tmpSuffix) {
						t.Errorf("keep %d, crash after %d, tear %d: temporary file %s left after New", keep, n, tear, name)
					}
				}
			}
		}
	}
}

// FuzzLoad stores arbitrary bytes as a snapshot file: Load must never
// panic, and must return either a snapshot matching the file's name or a
// *CorruptError.
func FuzzLoad(f *testing.F) {
	valid, err := encode(snapshot(1, 1, "data", 1, 2, 3))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid)
	f.Add(valid[:headerSize])
	f.Add([]byte{})
	f.Add([]byte(magic))
	bad := bytes.Clone(valid)
	bad[40] ^= 0xff
	f.Add(bad)
	f.Fuzz(func(t *testing.T, b []byte) {
		m := vfs.NewMem()
		s, err := New(m, "/snap", 1, slog.New(slog.DiscardHandler))
		if err != nil {
			t.Fatal(err)
		}
		mustWrite(t, m, "/snap/"+fileName(1, 1), b)
		got, err := s.Load()
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("Load() error = %v, want a *CorruptError", err)
			}
			return
		}
		if md := got.GetMetadata(); md.GetTerm() != 1 || md.GetIndex() != 1 {
			t.Fatalf("Load() = %v, want term 1 index 1 as the name says", got)
		}
	})
}
