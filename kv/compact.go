package kv

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// applyCompaction compacts history at r.Revision: every key keeps its
// newest version at or below it (none if that is a tombstone) and all later
// ones, so reads at revisions >= r.Revision still work and reads below fail
// with ErrGRPCCompacted. r.Physical needs nothing: compaction is done when
// the response is.
func (s *Store) applyCompaction(r *pb.CompactionRequest) (*pb.CompactionResponse, error) {
	switch {
	case r.Revision <= s.compactRev:
		return nil, rpctypes.ErrGRPCCompacted
	case r.Revision > s.rev:
		return nil, rpctypes.ErrGRPCFutureRev
	}
	s.compact(r.Revision)
	return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: s.rev}}, nil
}

// compact drops the history below rev. Only keys changed after the previous
// compaction can hold records to drop, so it visits those through the
// revision index rather than every key.
func (s *Store) compact(rev int64) {
	var touched [][]byte
	from := revEntry{rev: revision{main: s.compactRev + 1}}
	to := revEntry{rev: revision{main: rev + 1}}
	s.revs.AscendRange(from, to, func(e revEntry) bool {
		touched = append(touched, e.key)
		return true
	})
	s.compactRev = rev
	for _, key := range touched {
		h, ok := s.keys.Get(keyHistory{key: key})
		if !ok {
			continue // an earlier entry of the same key removed it
		}
		s.compactKey(h, rev)
	}
}

// compactKey drops the records of h that compaction at rev makes
// unreachable.
func (s *Store) compactKey(h keyHistory, rev int64) {
	// keep is the index of the newest record at or below rev.
	keep := -1
	for i, r := range h.recs {
		if r.rev.main > rev {
			break
		}
		keep = i
	}
	drop := keep
	if keep >= 0 && h.recs[keep].tombstone() {
		drop = keep + 1
	}
	if drop <= 0 {
		return
	}
	for _, r := range h.recs[:drop] {
		s.revs.Delete(revEntry{rev: r.rev})
		s.sizeBytes -= recordBytes(h.key, r)
	}
	h.recs = h.recs[drop:]
	if len(h.recs) == 0 {
		s.keys.Delete(h)
		return
	}
	s.keys.ReplaceOrInsert(h)
}
