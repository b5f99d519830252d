package wal

import (
	"fmt"
	"sync"
	"testing"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// The benchmarks run on the real disk (vfs.Default in b.TempDir()), with the
// default 64 MiB segments. Run them with
//
//	go test ./wal -run '^$' -bench . -benchtime 2s
//
// and compare entries/s with BenchmarkRawFsync's fsyncs/s from the same run:
// one synced batch costs about one fsync.

const benchEntryBytes = 256

// BenchmarkRawFsync measures the disk's fsync rate as the WAL sees it: a
// 256-byte write into a preallocated file, then fsync.
func BenchmarkRawFsync(b *testing.B) {
	fs := vfs.Default
	f, err := fs.Create(fs.Join(b.TempDir(), "raw"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := f.Preallocate(0, DefaultSegmentBytes); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, benchEntryBytes)
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := f.WriteAt(buf, int64(i*len(buf))%DefaultSegmentBytes); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "fsyncs/s")
}

func benchEntries(lo uint64, n int) []*raftpb.Entry {
	data := make([]byte, benchEntryBytes)
	es := make([]*raftpb.Entry, n)
	for i := range es {
		es[i] = &raftpb.Entry{Term: 1, Index: lo + uint64(i), Data: data}
	}
	return es
}

func reportThroughput(b *testing.B, entries int) {
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(entries)/s, "entries/s")
	b.ReportMetric(float64(entries*benchEntryBytes)/s/1e6, "MB/s")
}

// BenchmarkAppend saves batches of 1, 16 and 256 entries of 256 bytes, one
// fsync per batch.
func BenchmarkAppend(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(benchName("batch", batch), func(b *testing.B) {
			w, err := Create(vfs.Default, b.TempDir(), testMeta, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			next := uint64(1)
			gen0 := w.syncCount()
			for b.Loop() {
				es := benchEntries(next, batch)
				if err := w.Save(nil, es, true); err != nil {
					b.Fatal(err)
				}
				next += uint64(batch)
			}
			reportThroughput(b, b.N*batch)
			b.ReportMetric(float64(w.syncCount()-gen0)/b.Elapsed().Seconds(), "fsyncs/s")
		})
	}
}

// BenchmarkGroupCommit runs 1, 8 and 64 concurrent appenders, each saving
// one 256-byte entry and waiting until it is durable. Appenders take
// indexes in order under their own lock (Save without sync) and wait with
// Sync outside it, so fsyncs are shared; fsyncs/s counts the fsyncs the WAL
// actually ran.
func BenchmarkGroupCommit(b *testing.B) {
	for _, appenders := range []int{1, 8, 64} {
		b.Run(benchName("appenders", appenders), func(b *testing.B) {
			w, err := Create(vfs.Default, b.TempDir(), testMeta, Options{})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			var mu sync.Mutex
			next := uint64(1)
			work := make(chan struct{}, appenders) // bounded by appenders; the producer blocks when full
			var wg sync.WaitGroup
			var failed error
			var failOnce sync.Once
			gen0 := w.syncCount()
			b.ResetTimer()
			for range appenders {
				wg.Go(func() {
					for range work {
						mu.Lock()
						err := w.Save(nil, benchEntries(next, 1), false)
						next++
						mu.Unlock()
						if err == nil {
							err = w.Sync()
						}
						if err != nil {
							failOnce.Do(func() { failed = err })
						}
					}
				})
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			if failed != nil {
				b.Fatal(failed)
			}
			reportThroughput(b, b.N)
			b.ReportMetric(float64(w.syncCount()-gen0)/b.Elapsed().Seconds(), "fsyncs/s")
		})
	}
}

func benchName(k string, v int) string { return fmt.Sprintf("%s=%d", k, v) }
