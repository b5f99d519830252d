package vfs

import (
	"errors"
	"io/fs"
	"testing"
)

// TestFaultHookFailsEachOp injects an error into each operation in turn and
// checks that the call returns it and that the inner FS did not run it.
func TestFaultHookFailsEachOp(t *testing.T) {
	tests := []struct {
		op  Op
		run func(f *FaultFS, file File) error
	}{
		{OpCreate, func(f *FaultFS, _ File) error { _, err := f.Create("/d/new"); return err }},
		{OpOpen, func(f *FaultFS, _ File) error { _, err := f.Open("/d/a"); return err }},
		{OpOpen, func(f *FaultFS, _ File) error { _, err := f.OpenReadWrite("/d/a"); return err }},
		{OpRead, func(f *FaultFS, file File) error { _, err := file.Read(make([]byte, 1)); return err }},
		{OpRead, func(f *FaultFS, file File) error { _, err := file.ReadAt(make([]byte, 1), 0); return err }},
		{OpWrite, func(f *FaultFS, file File) error { _, err := file.Write([]byte("x")); return err }},
		{OpWrite, func(f *FaultFS, file File) error { _, err := file.WriteAt([]byte("x"), 0); return err }},
		{OpSeek, func(f *FaultFS, file File) error { _, err := file.Seek(0, 0); return err }},
		{OpSync, func(f *FaultFS, file File) error { return file.Sync() }},
		{OpTruncate, func(f *FaultFS, file File) error { return file.Truncate(0) }},
		{OpPreallocate, func(f *FaultFS, file File) error { return file.Preallocate(0, 10) }},
		{OpStat, func(f *FaultFS, file File) error { _, err := file.Stat(); return err }},
		{OpStat, func(f *FaultFS, _ File) error { _, err := f.Stat("/d/a"); return err }},
		{OpClose, func(f *FaultFS, file File) error { return file.Close() }},
		{OpRemove, func(f *FaultFS, _ File) error { return f.Remove("/d/a") }},
		{OpRename, func(f *FaultFS, _ File) error { return f.Rename("/d/a", "/d/b") }},
		{OpMkdirAll, func(f *FaultFS, _ File) error { return f.MkdirAll("/d/sub", 0o755) }},
		{OpList, func(f *FaultFS, _ File) error { _, err := f.List("/d"); return err }},
		{OpSyncDir, func(f *FaultFS, _ File) error { return f.SyncDir("/d") }},
	}
	for _, tt := range tests {
		m := newCrashFS(t)
		durableFile(t, m, "/d/a", "abc")
		f := NewFault(m)
		file, err := f.OpenReadWrite("/d/a")
		if err != nil {
			t.Fatal(err)
		}
		before := m.String()
		var seen []Op
		f.SetHook(func(op Op, name string) error {
			seen = append(seen, op)
			if op == tt.op {
				return ErrInjected
			}
			return nil
		})
		err = tt.run(f, file)
		if !errors.Is(err, ErrInjected) {
			t.Errorf("%v: error = %v, want ErrInjected", tt.op, err)
		}
		var pe *fs.PathError
		if !errors.As(err, &pe) || pe.Op != tt.op.String() {
			t.Errorf("%v: error = %#v, want an *fs.PathError with Op %q", tt.op, err, tt.op)
		}
		if len(seen) != 1 || seen[0] != tt.op {
			t.Errorf("%v: hook saw %v, want just that op", tt.op, seen)
		}
		if after := m.String(); after != before {
			t.Errorf("%v: a failed op changed the inner FS:\n%s\nthen\n%s", tt.op, before, after)
		}
		if got := contents(t, m, "/d/a"); got != "abc" {
			t.Errorf("%v: a failed op changed the file to %q", tt.op, got)
		}
	}
}

// TestFaultFsyncErrorIsReturnedAndNothingSynced checks the fsync failure
// the storage must treat as fatal.
func TestFaultFsyncErrorIsReturnedAndNothingSynced(t *testing.T) {
	m := newCrashFS(t)
	durableFile(t, m, "/d/a", "abc")
	f := NewFault(m)
	f.SetHook(func(op Op, name string) error {
		if op == OpSync && name == "/d/a" {
			return ErrInjected
		}
		return nil
	})
	file, _ := f.OpenReadWrite("/d/a")
	file.WriteAt([]byte("def"), 3)
	if err := file.Sync(); !errors.Is(err, ErrInjected) {
		t.Fatalf("Sync = %v, want ErrInjected", err)
	}
	if got := contents(t, m.Crash(), "/d/a"); got != "abc" {
		t.Errorf("after a failed Sync and a crash the file holds %q, want %q", got, "abc")
	}
}

// TestFaultCrashAtEveryPoint runs a fixed script of mutating operations,
// crashing after each possible number of them, and checks that exactly that
// many ran and that everything afterwards, reads included, fails.
func TestFaultCrashAtEveryPoint(t *testing.T) {
	script := func(f FS) (int, error) {
		steps := []func() error{
			func() error { return f.MkdirAll("/d/s", 0o755) },
			func() error { return f.SyncDir("/d") },
			func() error {
				file, err := f.Create("/d/s/a")
				if err != nil {
					return err
				}
				if _, err := file.Write([]byte("abc")); err != nil {
					return err
				}
				if err := file.Sync(); err != nil {
					return err
				}
				return file.Close()
			},
			func() error { return f.Rename("/d/s/a", "/d/s/b") },
			func() error { return f.SyncDir("/d/s") },
		}
		for i, s := range steps {
			if err := s(); err != nil {
				return i, err
			}
		}
		return len(steps), nil
	}
	// Count the mutating operations of the script.
	probe := NewFault(newCrashFS(t))
	if _, err := script(probe); err != nil {
		t.Fatal(err)
	}
	total := probe.MutatingOps()
	if total != 7 { // mkdirall, syncdir, create, write, sync, rename, syncdir
		t.Fatalf("script has %d mutating ops, want 7", total)
	}
	for n := 0; n <= total; n++ {
		m := newCrashFS(t)
		f := NewFault(m)
		f.CrashAfter(n)
		_, err := script(f)
		if n == total {
			if err != nil || f.Crashed() {
				t.Errorf("CrashAfter(%d): script failed (%v) though it has only %d mutating ops", n, err, total)
			}
			continue
		}
		if !errors.Is(err, ErrCrashed) {
			t.Errorf("CrashAfter(%d): script error = %v, want ErrCrashed", n, err)
		}
		if got := f.MutatingOps(); got != n+1 {
			t.Errorf("CrashAfter(%d): %d mutating ops counted, want %d", n, got, n+1)
		}
		if _, err := f.List("/d"); !errors.Is(err, ErrCrashed) {
			t.Errorf("CrashAfter(%d): List after the crash = %v, want ErrCrashed", n, err)
		}
		// The recovered state holds /d/s/b only if everything ran.
		if got := contents(t, m.Crash(), "/d/s/b"); got != "<missing>" {
			t.Errorf("CrashAfter(%d): /d/s/b survived with %q before its SyncDir ran", n, got)
		}
	}
}

// TestFaultCrashThenTearLastWrite crashes at the Sync after a write and
// tears that write: the recovered file holds the synced prefix plus the
// first bytes of the write.
func TestFaultCrashThenTearLastWrite(t *testing.T) {
	m := newCrashFS(t)
	durableFile(t, m, "/d/a", "abc")
	f := NewFault(m)
	file, _ := f.OpenReadWrite("/d/a")
	f.CrashAfter(1) // the write runs, the sync crashes
	if _, err := file.WriteAt([]byte("defgh"), 3); err != nil {
		t.Fatal(err)
	}
	if err := file.Sync(); !errors.Is(err, ErrCrashed) {
		t.Fatalf("Sync = %v, want ErrCrashed", err)
	}
	if err := f.TearLastWrite(2); err != nil {
		t.Fatal(err)
	}
	if got := contents(t, m.Crash(), "/d/a"); got != "abcde" {
		t.Errorf("torn after 2 bytes, the file holds %q, want %q", got, "abcde")
	}
}

func TestFaultFlipBit(t *testing.T) {
	m := newCrashFS(t)
	durableFile(t, m, "/d/a", "abc")
	f := NewFault(m)
	if err := f.FlipBit("/d/a", 2, 1); err != nil {
		t.Fatal(err)
	}
	if got := string(readFile(t, f, "/d/a")); got != "aba" {
		t.Errorf("after FlipBit(2, 1) reads %q, want %q", got, "aba")
	}
}

func TestFaultNeedsMemFSForTearAndFlip(t *testing.T) {
	f := NewFault(Default)
	if err := f.TearLastWrite(0); err == nil {
		t.Errorf("TearLastWrite on an OS inner FS succeeded, want an error")
	}
	if err := f.FlipBit("x", 0, 0); err == nil {
		t.Errorf("FlipBit on an OS inner FS succeeded, want an error")
	}
}

func TestOpString(t *testing.T) {
	for op := OpCreate; op <= OpSyncDir; op++ {
		if s := op.String(); s == "" || s[0] == 'O' {
			t.Errorf("Op(%d).String() = %q, want a name", int(op), s)
		}
	}
	if got := Op(99).String(); got != "Op(99)" {
		t.Errorf("Op(99).String() = %q, want %q", got, "Op(99)")
	}
}
