package kv

import (
	"errors"
	"slices"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"pgregory.net/rapid"
)

// model is the obvious version of the store: a full copy of the key space
// at every revision.
type model struct {
	// states[r] is the key space at revision r; states[0] is unused.
	states     []map[string]*mvccpb.KeyValue
	compactRev int64
}

func newModel() *model {
	return &model{states: []map[string]*mvccpb.KeyValue{nil, {}}, compactRev: -1}
}

func (m *model) rev() int64 { return int64(len(m.states) - 1) }

// write applies puts (key to value) and then deletes of [key, end) ranges
// (end "" for one key) as one transaction.
func (m *model) write(puts [][2]string, dels [][2]string) {
	cur := m.states[m.rev()]
	next := make(map[string]*mvccpb.KeyValue, len(cur))
	for k, v := range cur {
		next[k] = v
	}
	rev := m.rev() + 1
	changed := false
	for _, p := range puts {
		kv := &mvccpb.KeyValue{Key: []byte(p[0]), Value: []byte(p[1]), CreateRevision: rev, ModRevision: rev, Version: 1}
		if old, ok := next[p[0]]; ok {
			kv.CreateRevision, kv.Version = old.CreateRevision, old.Version+1
		}
		next[p[0]] = kv
		changed = true
	}
	for _, d := range dels {
		for k := range next {
			if modelInRange(k, d[0], d[1]) {
				delete(next, k)
				changed = true
			}
		}
	}
	if changed {
		m.states = append(m.states, next)
	}
}

func modelInRange(k, key, end string) bool {
	switch end {
	case "":
		return k == key
	case "\x00":
		return k >= key
	}
	return k >= key && k < end
}

// rangeKeys is the model's answer to a Range without sorting or filters.
func (m *model) rangeKeys(key, end string, rev, limit int64) (kvs []*mvccpb.KeyValue, count int64, more bool, err error) {
	switch {
	case rev > m.rev():
		return nil, 0, false, rpctypes.ErrGRPCFutureRev
	case rev <= 0:
		rev = m.rev()
	}
	if rev < m.compactRev {
		return nil, 0, false, rpctypes.ErrGRPCCompacted
	}
	var keys []string
	for k := range m.states[rev] {
		if modelInRange(k, key, end) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	count = int64(len(keys))
	if limit > 0 && int64(len(keys)) > limit {
		keys, more = keys[:limit], true
	}
	for _, k := range keys {
		kvs = append(kvs, m.states[rev][k])
	}
	return kvs, count, more, nil
}

// TestStoreMatchesModel checks the store against the model for random
// sequences of puts, deletes, transactions, compactions and ranges.
func TestStoreMatchesModel(t *testing.T) {
	keys := []string{"a", "ab", "b", "ba", "c", "d"}
	genKey := rapid.SampledFrom(keys)
	genEnd := rapid.SampledFrom(append([]string{"", "\x00"}, keys...))
	rapid.Check(t, func(t *rapid.T) {
		h := newHarness(t)
		m := newModel()
		t.Repeat(map[string]func(*rapid.T){
			"put": func(t *rapid.T) {
				k, v := genKey.Draw(t, "key"), rapid.StringN(0, 3, -1).Draw(t, "value")
				resp := h.put(k, v)
				m.write([][2]string{{k, v}}, nil)
				if resp.Header.Revision != m.rev() {
					t.Fatalf("put revision = %d, want %d", resp.Header.Revision, m.rev())
				}
			},
			"delete": func(t *rapid.T) {
				k, end := genKey.Draw(t, "key"), genEnd.Draw(t, "end")
				resp := h.del(k, end)
				before := m.rev()
				m.write(nil, [][2]string{{k, end}})
				if resp.Header.Revision != m.rev() || (resp.Deleted > 0) != (m.rev() > before) {
					t.Fatalf("delete [%q, %q) = revision %d, %d deleted; model revision %d", k, end, resp.Header.Revision, resp.Deleted, m.rev())
				}
			},
			"txn": func(t *rapid.T) {
				// Puts on distinct keys, then a delete that avoids them.
				ks := rapid.SliceOfNDistinct(genKey, 1, 3, rapid.ID[string]).Draw(t, "keys")
				var ops []*pb.RequestOp
				var puts [][2]string
				for _, k := range ks {
					ops = append(ops, opPut(k, "t"+k))
					puts = append(puts, [2]string{k, "t" + k})
				}
				var dels [][2]string
				if d := genKey.Draw(t, "del"); !slices.Contains(ks, d) {
					ops = append(ops, opDel(d, ""))
					dels = append(dels, [2]string{d, ""})
				}
				if _, err := h.txn(&pb.TxnRequest{Success: ops}); err != nil {
					t.Fatalf("txn: %v", err)
				}
				m.write(puts, dels)
			},
			"compact": func(t *rapid.T) {
				rev := rapid.Int64Range(1, m.rev()+1).Draw(t, "rev")
				err := h.compact(rev)
				var want error
				switch {
				case rev <= m.compactRev:
					want = rpctypes.ErrGRPCCompacted
				case rev > m.rev():
					want = rpctypes.ErrGRPCFutureRev
				default:
					m.compactRev = rev
				}
				if !errors.Is(err, want) {
					t.Fatalf("compact(%d) = %v, want %v", rev, err, want)
				}
			},
			"range": func(t *rapid.T) {
				k, end := genKey.Draw(t, "key"), genEnd.Draw(t, "end")
				rev := rapid.Int64Range(0, m.rev()+1).Draw(t, "rev")
				limit := rapid.Int64Range(0, 3).Draw(t, "limit")
				got, err := h.s.Range(&pb.RangeRequest{Key: []byte(k), RangeEnd: bytesOrNil(end), Revision: rev, Limit: limit})
				kvs, count, more, wantErr := m.rangeKeys(k, end, rev, limit)
				if !errors.Is(err, wantErr) {
					t.Fatalf("Range(%q, %q, rev %d) error = %v, want %v", k, end, rev, err, wantErr)
				}
				if err != nil {
					return
				}
				want := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: m.rev()}, Kvs: kvs, Count: count, More: more}
				if diff := protoDiff(want, got); diff != "" {
					t.Fatalf("Range(%q, %q, rev %d, limit %d) (-model +store):\n%s", k, end, rev, limit, diff)
				}
			},
			"": func(t *rapid.T) {
				if got := h.s.Revision(); got != m.rev() {
					t.Fatalf("Revision() = %d, model %d", got, m.rev())
				}
			},
		})
	})
}
