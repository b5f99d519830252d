package vfs

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"slices"
	"testing"
)

// fsUnderTest is an FS and a directory in it to work in.
type fsUnderTest struct {
	name string
	fs   FS
	dir  string
}

// bothFS returns the OS file system in a fresh temporary directory, a
// fresh MemFS, and a FaultFS injecting nothing over another, so each
// behaviour is checked to be the same on all.
func bothFS(t *testing.T) []fsUnderTest {
	m, m2 := NewMem(), NewMem()
	if err := m.MkdirAll("/work", 0o755); err != nil {
		t.Fatal(err)
	}
	if err := m2.MkdirAll("/work", 0o755); err != nil {
		t.Fatal(err)
	}
	return []fsUnderTest{
		{name: "os", fs: Default, dir: t.TempDir()},
		{name: "mem", fs: m, dir: "/work"},
		{name: "fault", fs: NewFault(m2), dir: "/work"},
	}
}

func mustWriteFile(t *testing.T, fsys FS, name string, data []byte) {
	t.Helper()
	f, err := fsys.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func readFile(t *testing.T, fsys FS, name string) []byte {
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

// TestFSBehaviour runs each behaviour on the OS and on MemFS.
func TestFSBehaviour(t *testing.T) {
	tests := []struct {
		name string
		run  func(t *testing.T, fsys FS, dir string)
	}{
		{"WriteReadBack", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			mustWriteFile(t, fsys, name, []byte("hello"))
			if got := readFile(t, fsys, name); string(got) != "hello" {
				t.Errorf("read back %q, want %q", got, "hello")
			}
		}},
		{"CreateTruncatesExisting", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			mustWriteFile(t, fsys, name, []byte("hello world"))
			mustWriteFile(t, fsys, name, []byte("bye"))
			if got := readFile(t, fsys, name); string(got) != "bye" {
				t.Errorf("read back %q, want %q", got, "bye")
			}
		}},
		{"CreateInMissingDirFails", func(t *testing.T, fsys FS, dir string) {
			_, err := fsys.Create(fsys.Join(dir, "nodir", "a"))
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Create(nodir/a) error = %v, want ErrNotExist", err)
			}
		}},
		{"OpenMissingFails", func(t *testing.T, fsys FS, dir string) {
			if _, err := fsys.Open(fsys.Join(dir, "x")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Open(x) error = %v, want ErrNotExist", err)
			}
			if _, err := fsys.OpenReadWrite(fsys.Join(dir, "x")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("OpenReadWrite(x) error = %v, want ErrNotExist", err)
			}
			if _, err := fsys.Stat(fsys.Join(dir, "x")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat(x) error = %v, want ErrNotExist", err)
			}
			if err := fsys.Remove(fsys.Join(dir, "x")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Remove(x) error = %v, want ErrNotExist", err)
			}
			if err := fsys.Rename(fsys.Join(dir, "x"), fsys.Join(dir, "y")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Rename(x, y) error = %v, want ErrNotExist", err)
			}
			if _, err := fsys.List(fsys.Join(dir, "x")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("List(x) error = %v, want ErrNotExist", err)
			}
		}},
		{"OpenIsReadOnly", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			mustWriteFile(t, fsys, name, []byte("abc"))
			f, err := fsys.Open(name)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte("x")); err == nil {
				t.Errorf("Write on a file from Open succeeded, want an error")
			}
			if err := f.Truncate(0); err == nil {
				t.Errorf("Truncate on a file from Open succeeded, want an error")
			}
		}},
		{"OpenReadWriteKeepsContents", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			mustWriteFile(t, fsys, name, []byte("abcdef"))
			f, err := fsys.OpenReadWrite(name)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt([]byte("XY"), 2); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if got := readFile(t, fsys, name); string(got) != "abXYef" {
				t.Errorf("read back %q, want %q", got, "abXYef")
			}
		}},
		{"ReadAtAndEOF", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			mustWriteFile(t, fsys, name, []byte("abcdef"))
			f, _ := fsys.Open(name)
			defer f.Close()
			p := make([]byte, 4)
			n, err := f.ReadAt(p, 4)
			if n != 2 || err != io.EOF || string(p[:n]) != "ef" {
				t.Errorf("ReadAt(4 bytes, 4) = %d, %v, %q; want 2, EOF, \"ef\"", n, err, p[:n])
			}
			n, err = f.ReadAt(p, 10)
			if n != 0 || err != io.EOF {
				t.Errorf("ReadAt(4 bytes, 10) = %d, %v; want 0, EOF", n, err)
			}
			n, err = f.ReadAt(p, 1)
			if n != 4 || err != nil || string(p) != "bcde" {
				t.Errorf("ReadAt(4 bytes, 1) = %d, %v, %q; want 4, nil, \"bcde\"", n, err, p)
			}
		}},
		{"WriteAtPastEndFillsZeros", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			f, _ := fsys.Create(name)
			if _, err := f.WriteAt([]byte("z"), 3); err != nil {
				t.Fatal(err)
			}
			f.Close()
			if got := readFile(t, fsys, name); !bytes.Equal(got, []byte{0, 0, 0, 'z'}) {
				t.Errorf("read back %q, want \"\\0\\0\\0z\"", got)
			}
		}},
		{"SeekAndWrite", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			f, _ := fsys.Create(name)
			f.Write([]byte("abcdef"))
			if pos, err := f.Seek(-2, io.SeekEnd); pos != 4 || err != nil {
				t.Errorf("Seek(-2, End) = %d, %v; want 4, nil", pos, err)
			}
			f.Write([]byte("XYZ"))
			if pos, err := f.Seek(0, io.SeekCurrent); pos != 7 || err != nil {
				t.Errorf("Seek(0, Current) = %d, %v; want 7, nil", pos, err)
			}
			if _, err := f.Seek(-1, io.SeekStart); err == nil {
				t.Errorf("Seek(-1, Start) succeeded, want an error")
			}
			f.Close()
			if got := readFile(t, fsys, name); string(got) != "abcdXYZ" {
				t.Errorf("read back %q, want %q", got, "abcdXYZ")
			}
		}},
		{"TruncateShrinksAndGrows", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			f, _ := fsys.Create(name)
			f.Write([]byte("abcdef"))
			if err := f.Truncate(2); err != nil {
				t.Fatal(err)
			}
			if err := f.Truncate(4); err != nil {
				t.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				t.Fatal(err)
			}
			fi, err := f.Stat()
			if err != nil || fi.Size() != 4 {
				t.Errorf("Stat() = %v, %v; want size 4", fi, err)
			}
			f.Close()
			if got := readFile(t, fsys, name); !bytes.Equal(got, []byte{'a', 'b', 0, 0}) {
				t.Errorf("read back %q, want \"ab\\0\\0\"", got)
			}
		}},
		{"PreallocateKeepsSize", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			f, _ := fsys.Create(name)
			defer f.Close()
			f.Write([]byte("abc"))
			if err := f.Preallocate(0, 1<<16); err != nil {
				t.Fatalf("Preallocate = %v", err)
			}
			if fi, _ := f.Stat(); fi.Size() != 3 {
				t.Errorf("size after Preallocate = %d, want 3", fi.Size())
			}
			if err := f.Preallocate(-1, 10); err == nil {
				t.Errorf("Preallocate(-1, 10) succeeded, want an error")
			}
		}},
		{"RenameReplaces", func(t *testing.T, fsys FS, dir string) {
			a, b := fsys.Join(dir, "a"), fsys.Join(dir, "b")
			mustWriteFile(t, fsys, a, []byte("new"))
			mustWriteFile(t, fsys, b, []byte("old"))
			if err := fsys.Rename(a, b); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, fsys, b); string(got) != "new" {
				t.Errorf("read back %q, want %q", got, "new")
			}
			if _, err := fsys.Stat(a); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Stat(old name) error = %v, want ErrNotExist", err)
			}
		}},
		{"RenameAcrossDirectories", func(t *testing.T, fsys FS, dir string) {
			sub := fsys.Join(dir, "sub")
			if err := fsys.MkdirAll(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			mustWriteFile(t, fsys, fsys.Join(dir, "a"), []byte("x"))
			if err := fsys.Rename(fsys.Join(dir, "a"), fsys.Join(sub, "b")); err != nil {
				t.Fatal(err)
			}
			if got := readFile(t, fsys, fsys.Join(sub, "b")); string(got) != "x" {
				t.Errorf("read back %q, want %q", got, "x")
			}
		}},
		{"RemoveFileAndDirectory", func(t *testing.T, fsys FS, dir string) {
			sub := fsys.Join(dir, "sub")
			fsys.MkdirAll(sub, 0o755)
			mustWriteFile(t, fsys, fsys.Join(sub, "a"), []byte("x"))
			if err := fsys.Remove(sub); err == nil {
				t.Errorf("Remove(non-empty dir) succeeded, want an error")
			}
			if err := fsys.Remove(fsys.Join(sub, "a")); err != nil {
				t.Fatal(err)
			}
			if err := fsys.Remove(sub); err != nil {
				t.Errorf("Remove(empty dir) = %v", err)
			}
			if names, _ := fsys.List(dir); len(names) != 0 {
				t.Errorf("List after removals = %q, want none", names)
			}
		}},
		{"ListSorted", func(t *testing.T, fsys FS, dir string) {
			for _, n := range []string{"c", "a", "b"} {
				mustWriteFile(t, fsys, fsys.Join(dir, n), nil)
			}
			fsys.MkdirAll(fsys.Join(dir, "d", "e"), 0o755)
			names, err := fsys.List(dir)
			if want := []string{"a", "b", "c", "d"}; err != nil || !slices.Equal(names, want) {
				t.Errorf("List = %q, %v; want %q", names, err, want)
			}
		}},
		{"MkdirAllAndStat", func(t *testing.T, fsys FS, dir string) {
			d := fsys.Join(dir, "x", "y")
			if err := fsys.MkdirAll(d, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := fsys.MkdirAll(d, 0o755); err != nil {
				t.Errorf("MkdirAll of an existing dir = %v", err)
			}
			fi, err := fsys.Stat(d)
			if err != nil || !fi.IsDir() || fi.Name() != "y" {
				t.Errorf("Stat(dir) = %v, %v; want a directory named y", fi, err)
			}
			mustWriteFile(t, fsys, fsys.Join(d, "f"), []byte("12345"))
			fi, err = fsys.Stat(fsys.Join(d, "f"))
			if err != nil || fi.IsDir() || fi.Size() != 5 || fi.Name() != "f" {
				t.Errorf("Stat(file) = %v, %v; want a 5-byte file named f", fi, err)
			}
			if err := fsys.MkdirAll(fsys.Join(d, "f", "g"), 0o755); err == nil {
				t.Errorf("MkdirAll through a file succeeded, want an error")
			}
		}},
		{"SyncAndSyncDir", func(t *testing.T, fsys FS, dir string) {
			f, _ := fsys.Create(fsys.Join(dir, "a"))
			f.Write([]byte("x"))
			if err := f.Sync(); err != nil {
				t.Errorf("Sync = %v", err)
			}
			f.Close()
			if err := fsys.SyncDir(dir); err != nil {
				t.Errorf("SyncDir = %v", err)
			}
			if err := fsys.SyncDir(fsys.Join(dir, "missing")); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("SyncDir(missing) = %v, want ErrNotExist", err)
			}
		}},
		{"ClosedFileFails", func(t *testing.T, fsys FS, dir string) {
			f, _ := fsys.Create(fsys.Join(dir, "a"))
			if err := f.Close(); err != nil {
				t.Fatal(err)
			}
			if _, err := f.Write([]byte("x")); !errors.Is(err, fs.ErrClosed) {
				t.Errorf("Write after Close = %v, want ErrClosed", err)
			}
			if err := f.Close(); err == nil {
				t.Errorf("second Close succeeded, want an error")
			}
		}},
		{"RemovedOpenFileStaysUsable", func(t *testing.T, fsys FS, dir string) {
			name := fsys.Join(dir, "a")
			f, _ := fsys.Create(name)
			defer f.Close()
			f.Write([]byte("abc"))
			if err := fsys.Remove(name); err != nil {
				t.Fatal(err)
			}
			p := make([]byte, 3)
			if n, err := f.ReadAt(p, 0); n != 3 || string(p) != "abc" {
				t.Errorf("ReadAt after Remove = %d, %v, %q; want 3, nil, \"abc\"", n, err, p)
			}
		}},
	}
	for _, tt := range tests {
		for _, fut := range bothFS(t) {
			t.Run(tt.name+"/"+fut.name, func(t *testing.T) {
				tt.run(t, fut.fs, fut.dir)
			})
		}
	}
}
