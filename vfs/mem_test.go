package vfs

import (
	"bytes"
	"errors"
	"io/fs"
	"strings"
	"sync"
	"testing"
)

// memFile opens name for writing on m, failing the test on error.
func openRW(t *testing.T, m FS, name string) File {
	t.Helper()
	f, err := m.OpenReadWrite(name)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// contents returns name's contents on m, or "<missing>".
func contents(t *testing.T, m FS, name string) string {
	t.Helper()
	if _, err := m.Stat(name); errors.Is(err, fs.ErrNotExist) {
		return "<missing>"
	}
	return string(readFile(t, m, name))
}

// durableFile makes /d/name with data, synced, with its entry synced.
func durableFile(t *testing.T, m *MemFS, name, data string) {
	t.Helper()
	f, err := m.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte(data))
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := m.SyncDir("/d"); err != nil {
		t.Fatal(err)
	}
}

// newCrashFS returns a MemFS with a durable directory /d.
func newCrashFS(t *testing.T) *MemFS {
	m := NewMem()
	if err := m.MkdirAll("/d", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m.SyncDir("/"); err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMemCrash checks each rule of what a crash keeps: the setup runs on a
// MemFS with a durable, empty /d; after Crash, each listed file must hold
// the given contents ("<missing>" for none).
func TestMemCrash(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, m *MemFS)
		want  map[string]string
	}{
		{"SyncedFileAndEntrySurvive", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abc")
		}, map[string]string{"/d/a": "abc"}},
		{"CreatedFileWithoutSyncDirVanishes", func(t *testing.T, m *MemFS) {
			f, _ := m.Create("/d/a")
			f.Write([]byte("abc"))
			f.Sync()
		}, map[string]string{"/d/a": "<missing>"}},
		{"SyncDirWithoutFileSyncKeepsEmptyFile", func(t *testing.T, m *MemFS) {
			f, _ := m.Create("/d/a")
			f.Write([]byte("abc"))
			m.SyncDir("/d")
		}, map[string]string{"/d/a": ""}},
		{"UnsyncedWriteIsLost", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abc")
			f := openRW(t, m, "/d/a")
			f.WriteAt([]byte("XYZW"), 1)
		}, map[string]string{"/d/a": "abc"}},
		{"WritesUpToLastSyncSurvive", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abc")
			f := openRW(t, m, "/d/a")
			f.WriteAt([]byte("def"), 3)
			f.Sync()
			f.WriteAt([]byte("ghi"), 6)
		}, map[string]string{"/d/a": "abcdef"}},
		{"OverwriteInTheMiddleSyncs", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abcdef")
			f := openRW(t, m, "/d/a")
			f.WriteAt([]byte("X"), 2)
			f.Sync()
		}, map[string]string{"/d/a": "abXdef"}},
		{"UnsyncedTruncateIsUndone", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abcdef")
			f := openRW(t, m, "/d/a")
			f.Truncate(2)
		}, map[string]string{"/d/a": "abcdef"}},
		{"SyncedTruncateSurvives", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abcdef")
			f := openRW(t, m, "/d/a")
			f.Truncate(2)
			f.WriteAt([]byte("Z"), 4)
			f.Sync()
		}, map[string]string{"/d/a": "ab\x00\x00Z"}},
		{"UnsyncedCreateTruncationIsUndone", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abc")
			f, _ := m.Create("/d/a")
			f.Write([]byte("x"))
		}, map[string]string{"/d/a": "abc"}},
		{"UnsyncedRenameIsUndone", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abc")
			m.Rename("/d/a", "/d/b")
		}, map[string]string{"/d/a": "abc", "/d/b": "<missing>"}},
		{"SyncedRenameSurvives", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abc")
			m.Rename("/d/a", "/d/b")
			m.SyncDir("/d")
		}, map[string]string{"/d/a": "<missing>", "/d/b": "abc"}},
		{"UnsyncedRenameOverExistingKeepsOldTarget", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "old")
			f, _ := m.Create("/d/tmp")
			f.Write([]byte("new"))
			f.Sync()
			m.Rename("/d/tmp", "/d/a")
		}, map[string]string{"/d/a": "old", "/d/tmp": "<missing>"}},
		{"DataSyncedAfterUnsyncedRenameIsKeptUnderOldName", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abc")
			m.Rename("/d/a", "/d/b")
			f := openRW(t, m, "/d/b")
			f.WriteAt([]byte("d"), 3)
			f.Sync()
		}, map[string]string{"/d/a": "abcd", "/d/b": "<missing>"}},
		{"UnsyncedRemoveIsUndone", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abc")
			m.Remove("/d/a")
		}, map[string]string{"/d/a": "abc"}},
		{"SyncedRemoveSurvives", func(t *testing.T, m *MemFS) {
			durableFile(t, m, "/d/a", "abc")
			m.Remove("/d/a")
			m.SyncDir("/d")
		}, map[string]string{"/d/a": "<missing>"}},
		{"NewDirectoryWithoutParentSyncVanishes", func(t *testing.T, m *MemFS) {
			m.MkdirAll("/d/sub", 0o755)
			f, _ := m.Create("/d/sub/a")
			f.Write([]byte("abc"))
			f.Sync()
			m.SyncDir("/d/sub")
		}, map[string]string{"/d/sub/a": "<missing>"}},
		{"NewDirectoryWithParentSyncSurvives", func(t *testing.T, m *MemFS) {
			m.MkdirAll("/d/sub", 0o755)
			m.SyncDir("/d")
			f, _ := m.Create("/d/sub/a")
			f.Write([]byte("abc"))
			f.Sync()
			m.SyncDir("/d/sub")
		}, map[string]string{"/d/sub/a": "abc"}},
		{"RenameAcrossDirsSyncedOnlyAtTargetKeepsBothNames", func(t *testing.T, m *MemFS) {
			m.MkdirAll("/d/sub", 0o755)
			m.SyncDir("/d")
			durableFile(t, m, "/d/a", "abc")
			m.Rename("/d/a", "/d/sub/b")
			m.SyncDir("/d/sub")
		}, map[string]string{"/d/a": "abc", "/d/sub/b": "abc"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := newCrashFS(t)
			tt.setup(t, m)
			before := m.String()
			c := m.Crash()
			for name, want := range tt.want {
				if got := contents(t, c, name); got != want {
					t.Errorf("after Crash, %s holds %q, want %q\nbefore the crash:\n%s", name, got, want, before)
				}
			}
			if again := c.Crash().String(); again != c.String() {
				t.Errorf("crashing a crashed FS changed it:\n%s\nthen\n%s", c, again)
			}
		})
	}
}

// TestMemCrashIsDeterministic checks that Crash depends only on the state:
// two crashes of the same FS dump the same, and the crashed FS is usable.
func TestMemCrashIsDeterministic(t *testing.T) {
	m := newCrashFS(t)
	for _, n := range []string{"/d/c", "/d/a", "/d/b"} {
		durableFile(t, m, n, n)
	}
	m.Remove("/d/b")
	c1, c2 := m.Crash(), m.Crash()
	if c1.String() != c2.String() {
		t.Errorf("two crashes differ:\n%s\n%s", c1, c2)
	}
	mustWriteFile(t, c1, "/d/new", []byte("x"))
	if got := contents(t, c1, "/d/new"); got != "x" {
		t.Errorf("write after crash read back %q, want %q", got, "x")
	}
	if got := contents(t, c2, "/d/new"); got != "<missing>" {
		t.Errorf("write to one crashed FS is visible in another: %q", got)
	}
}

func TestMemStringShowsDurability(t *testing.T) {
	m := newCrashFS(t)
	durableFile(t, m, "/d/a", "abc")
	f, _ := m.Create("/d/b")
	f.Write([]byte("xy"))
	m.Remove("/d/a")
	s := m.String()
	for _, want := range []string{
		"/d/ (entry durable)",
		"/d/b size=2 durable-size=0 synced=false (entry NOT durable)",
		"/d/a (removed or renamed, NOT durable)",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("String() = \n%s\nwant a line %q", s, want)
		}
	}
}

func TestMemFlipBit(t *testing.T) {
	m := newCrashFS(t)
	durableFile(t, m, "/d/a", "abc")
	if err := m.FlipBit("/d/a", 1, 0); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, m, "/d/a"); got != "acc" {
		t.Errorf("after FlipBit(1, 0) reads %q, want %q", got, "acc")
	}
	if got := contents(t, m.Crash(), "/d/a"); got != "acc" {
		t.Errorf("after FlipBit(1, 0) and Crash reads %q, want %q", got, "acc")
	}
	for _, bad := range []struct {
		name string
		off  int64
		bit  uint
	}{{"/d/a", 3, 0}, {"/d/a", -1, 0}, {"/d/a", 0, 8}, {"/d/x", 0, 0}, {"/d", 0, 0}} {
		if err := m.FlipBit(bad.name, bad.off, bad.bit); err == nil {
			t.Errorf("FlipBit(%s, %d, %d) succeeded, want an error", bad.name, bad.off, bad.bit)
		}
	}
}

// TestMemTearLastWrite checks the torn state for each prefix length of the
// last write, appended or overwriting, with an earlier unsynced write in the
// same file.
func TestMemTearLastWrite(t *testing.T) {
	tests := []struct {
		name string
		off  int64
		data string
		want []string // by prefix length n
	}{
		// Durable "abc"; unsynced "de" at 3 (kept by any tear); last write at off.
		{"Append", 5, "XYZ", []string{"abcde", "abcdeX", "abcdeXY", "abcdeXYZ"}},
		{"Overwrite", 1, "XY", []string{"abcde", "aXcde", "aXYde"}},
		{"OverwritePastEnd", 4, "XYZ", []string{"abcde", "abcdX", "abcdXY", "abcdXYZ"}},
		{"Gap", 7, "X", []string{"abcde", "abcde\x00\x00X"}},
	}
	for _, tt := range tests {
		for n, want := range tt.want {
			m := newCrashFS(t)
			durableFile(t, m, "/d/a", "abc")
			f := openRW(t, m, "/d/a")
			f.WriteAt([]byte("de"), 3)
			f.WriteAt([]byte(tt.data), tt.off)
			if err := m.TearLastWrite(n); err != nil {
				t.Fatalf("%s: TearLastWrite(%d) = %v", tt.name, n, err)
			}
			if got := contents(t, m, "/d/a"); got != want {
				t.Errorf("%s: TearLastWrite(%d) leaves %q, want %q", tt.name, n, got, want)
			}
			if got := contents(t, m.Crash(), "/d/a"); got != want {
				t.Errorf("%s: TearLastWrite(%d) then Crash leaves %q, want %q", tt.name, n, got, want)
			}
		}
	}
}

func TestMemTearLastWriteRefusesWhatIsNotATornWrite(t *testing.T) {
	tests := []struct {
		name  string
		setup func(m *MemFS, f File)
		n     int
	}{
		{"NoWrite", func(m *MemFS, f File) {}, 0},
		{"SyncedSince", func(m *MemFS, f File) { f.Write([]byte("abc")); f.Sync() }, 1},
		{"TruncatedSince", func(m *MemFS, f File) { f.Write([]byte("abc")); f.Truncate(1) }, 1},
		{"TooLong", func(m *MemFS, f File) { f.Write([]byte("abc")) }, 4},
		{"Negative", func(m *MemFS, f File) { f.Write([]byte("abc")) }, -1},
	}
	for _, tt := range tests {
		m := newCrashFS(t)
		f, _ := m.Create("/d/a")
		tt.setup(m, f)
		if err := m.TearLastWrite(tt.n); err == nil {
			t.Errorf("%s: TearLastWrite(%d) succeeded, want an error", tt.name, tt.n)
		}
	}
}

// TestMemConcurrentUse is for the race detector.
func TestMemConcurrentUse(t *testing.T) {
	m := newCrashFS(t)
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := m.Join("/d", string(rune('a'+i)))
			for range 50 {
				f, err := m.Create(name)
				if err != nil {
					t.Error(err)
					return
				}
				f.Write(bytes.Repeat([]byte{byte(i)}, 10))
				f.Sync()
				f.Close()
				m.SyncDir("/d")
				m.List("/d")
				m.Crash()
			}
		}()
	}
	wg.Wait()
}
