package raft

import (
	"fmt"
	"testing"
	"time"

	"github.com/ironraft/ironraft/raftpb"
)

// BenchmarkPropose measures the protocol's own CPU cost: a 3-node cluster
// in one goroutine, MemoryStorage, no I/O and no serialization. Each
// iteration proposes `batch` 256-byte entries on the leader and runs Ready
// handling and message delivery until the leader has applied them. It
// reports committed entries per second.
func BenchmarkPropose(b *testing.B) {
	for _, batch := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("proposals-per-ready=%d", batch), func(b *testing.B) {
			benchmarkPropose(b, batch)
		})
	}
}

func benchmarkPropose(b *testing.B, batch int) {
	tn := newTestNet(b, 3, func(c *Config) {
		c.MaxUncommittedEntriesSize = 1 << 30
		c.MaxInflightBytes = 1 << 30
	})
	if err := tn.nodes[1].Campaign(); err != nil {
		b.Fatal(err)
	}
	tn.stabilize()
	data := make([]byte, 256)
	leader := tn.nodes[1]
	var applied uint64
	var queue []*raftpb.Message
	step := func() {
		for _, id := range tn.ids {
			rn := tn.nodes[id]
			for rn.HasReady() {
				rd := rn.Ready()
				queue = append(queue, rd.MessagesBeforePersist...)
				ms := tn.storage[id]
				if err := ms.Append(rd.Entries); err != nil {
					b.Fatal(err)
				}
				if rd.HardState != nil {
					ms.SetHardState(rd.HardState)
				}
				queue = append(queue, rd.MessagesAfterPersist...)
				if id == 1 {
					applied += uint64(len(rd.CommittedEntries))
				}
				rn.Advance()
			}
		}
		msgs := queue
		queue = queue[len(queue):]
		for _, m := range msgs {
			if err := tn.nodes[m.To].Step(m); err != nil {
				b.Fatal(err)
			}
		}
		if len(queue) == 0 {
			queue = queue[:0:0]
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	want := applied
	for i := 0; i < b.N; i++ {
		for j := 0; j < batch; j++ {
			if err := leader.Propose(data); err != nil {
				b.Fatal(err)
			}
		}
		want += uint64(batch)
		for applied < want {
			step()
		}
		if i%1024 == 1023 {
			// Keep memory bounded: drop applied entries from every log.
			for _, id := range tn.ids {
				st := tn.nodes[id].Status()
				if st.Applied > 1 {
					_ = tn.storage[id].Compact(st.Applied - 1)
				}
			}
		}
	}
	elapsed := time.Since(start)
	b.ReportMetric(float64(b.N*batch)/elapsed.Seconds(), "commits/s")
}
