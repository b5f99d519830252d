package storage

import (
	"testing"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// BenchmarkRecover1GiB measures Open on the real disk (vfs.Default in
// b.TempDir()) of a node whose WAL holds 1 GiB of entries after its
// snapshot (1 KiB entries, default 64 MiB segments). Writing the WAL is not
// timed. The page cache is warm: this is the CPU cost of recovery plus
// reading from cache, not a cold-disk figure. Run it with
//
//	go test ./storage -run '^$' -bench Recover1GiB -benchtime 3x
//
// Storage keeps only the newest entries within Options.CacheBytes (64 MiB
// by default) in memory, plus 24 bytes of position and term per entry in
// the WAL's index (about 25 MiB here) and the term runs.
func BenchmarkRecover1GiB(b *testing.B) {
	if testing.Short() {
		b.Skip("writes 1 GiB to disk")
	}
	const (
		entryBytes = 1 << 10
		batch      = 1 << 10 // entries per SaveReady: 1 MiB
		totalBytes = 1 << 30
	)
	fs := vfs.Default
	dir := fs.Join(b.TempDir(), "n1")
	s, err := Open(fs, dir, testMeta, Options{})
	if err != nil {
		b.Fatal(err)
	}
	if err := s.Bootstrap(voters); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, entryBytes)
	var index uint64
	for written := 0; written < totalBytes; written += batch * entryBytes {
		es := make([]*raftpb.Entry, batch)
		for i := range es {
			index++
			es[i] = &raftpb.Entry{Term: 1, Index: index, Data: data}
		}
		if err := s.SaveReady(hs(1, 1, index), es, nil, false); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		s, err := Open(fs, dir, testMeta, Options{})
		if err != nil {
			b.Fatal(err)
		}
		if last, _ := s.LastIndex(); last != index {
			b.Fatalf("recovered last index %d, want %d", last, index)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/recovery")
	b.ReportMetric(float64(totalBytes)/(1<<20)*float64(b.N)/b.Elapsed().Seconds(), "MiB/s")
	b.ReportMetric(float64(index)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
