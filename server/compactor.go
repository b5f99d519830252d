package server

import (
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// compactLoop is auto-compaction, on the leader only (as etcd's compactor
// runs only while its member leads):
//
//   - revision mode keeps the last AutoCompactionRetention revisions:
//     every RevisionCompactionInterval it compacts to revision - retention;
//   - periodic mode keeps AutoCompactionRetention of history: it samples
//     the revision every tenth of the retention and compacts to the
//     newest sample at least one retention old.
//
// A failed compaction is tried again at the next check.
func (s *Server) compactLoop() {
	interval := s.cfg.RevisionCompactionInterval
	if s.comp.mode == CompactionPeriodic {
		interval = max(s.comp.period/10, time.Second)
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	// samples of (time, revision), oldest first, for periodic mode;
	// bounded: entries older than the retention are dropped as they are
	// used.
	type sample struct {
		at  time.Time
		rev int64
	}
	var samples []sample
	for {
		select {
		case <-t.C:
		case <-s.stopCtx.Done():
			return
		}
		now, rev := time.Now(), s.store.Revision()
		if !s.isLeader() {
			samples = samples[:0]
			continue
		}
		var target int64
		if s.comp.mode == CompactionRevision {
			target = rev - s.comp.revisions
		} else {
			samples = append(samples, sample{now, rev})
			for len(samples) > 0 && now.Sub(samples[0].at) >= s.comp.period {
				target = samples[0].rev
				samples = samples[1:]
			}
		}
		if target > s.store.CompactRevision() && target > 1 {
			s.compactTo(target)
		}
	}
}

func (s *Server) compactTo(rev int64) {
	_, err := s.proposeKV(s.stopCtx, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}})
	if err != nil {
		s.log.Warn("auto-compaction failed; will retry", "revision", rev, "err", err)
		return
	}
	s.log.Info("auto-compacted", "revision", rev)
}
