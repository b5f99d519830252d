package kv

import (
	"bytes"
	"cmp"
	"sort"

	"github.com/google/btree"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// btreeDegree is the degree of every B-tree in the store.
const btreeDegree = 32

// recordOverheadBytes is what Size counts for one record besides its key and
// value: the record itself, its entry in the revision index and tree slack.
const recordOverheadBytes = 96

// revision names one change: main is the store revision of the write
// transaction, sub its position among the transaction's changes.
type revision struct{ main, sub int64 }

func compareRevision(a, b revision) int {
	if c := cmp.Compare(a.main, b.main); c != 0 {
		return c
	}
	return cmp.Compare(a.sub, b.sub)
}

// record is one version of a key: a put, or a tombstone that deletes the key.
type record struct {
	rev revision
	// create is the revision of the put that created this incarnation of the
	// key. Invariant: 0 < create <= rev.main for a put; 0 for a tombstone.
	create int64
	// version counts the puts since create. Invariant: version >= 1 for a
	// put; 0 marks a tombstone.
	version int64
	// lease is the ID of the lease attached to the key, 0 for none.
	lease int64
	// value is never modified once stored; readers share it.
	value []byte
}

func (r record) tombstone() bool { return r.version == 0 }

// keyValue returns the record as etcd's KeyValue. Key and Value alias the
// store's bytes.
func (r record) keyValue(key []byte, keysOnly bool) *mvccpb.KeyValue {
	kv := &mvccpb.KeyValue{
		Key:            key,
		CreateRevision: r.create,
		ModRevision:    r.rev.main,
		Version:        r.version,
		Lease:          r.lease,
	}
	if !keysOnly {
		kv.Value = r.value
	}
	return kv
}

// keyHistory is every retained version of one key, oldest first.
//
// Invariants: recs is non-empty and sorted by rev. Its elements are never
// modified in place, only appended to or sliced off: a Snapshot's clone of
// the tree shares the backing array, and reads the prefix it saw.
type keyHistory struct {
	key  []byte
	recs []record
}

func lessKeyHistory(a, b keyHistory) bool { return bytes.Compare(a.key, b.key) < 0 }

// at returns the version of the key visible at revision rev: the newest
// record with rev.main <= rev. ok is false if there is none or it is a
// tombstone.
func (h keyHistory) at(rev int64) (record, bool) {
	i := sort.Search(len(h.recs), func(i int) bool { return h.recs[i].rev.main > rev })
	if i == 0 || h.recs[i-1].tombstone() {
		return record{}, false
	}
	return h.recs[i-1], true
}

// find returns the record written at exactly rev.
func (h keyHistory) find(rev revision) (record, bool) {
	i := sort.Search(len(h.recs), func(i int) bool { return compareRevision(h.recs[i].rev, rev) >= 0 })
	if i < len(h.recs) && h.recs[i].rev == rev {
		return h.recs[i], true
	}
	return record{}, false
}

func (h keyHistory) last() record { return h.recs[len(h.recs)-1] }

// revEntry indexes one record by revision, for watchers catching up.
type revEntry struct {
	rev revision
	key []byte
}

func lessRevEntry(a, b revEntry) bool { return compareRevision(a.rev, b.rev) < 0 }

func newKeyTree() *btree.BTreeG[keyHistory] { return btree.NewG(btreeDegree, lessKeyHistory) }

func newRevTree() *btree.BTreeG[revEntry] { return btree.NewG(btreeDegree, lessRevEntry) }

// keyRange is the set of keys a request names, decoded the way etcd does:
// an empty range end names the single key; a range end of "\x00" names every
// key >= key; any other range end names [key, end).
type keyRange struct {
	key    []byte
	end    []byte
	single bool
	toInf  bool
}

func newKeyRange(key, rangeEnd []byte) keyRange {
	switch {
	case len(rangeEnd) == 0:
		return keyRange{key: key, single: true}
	case len(rangeEnd) == 1 && rangeEnd[0] == 0:
		return keyRange{key: key, toInf: true}
	default:
		return keyRange{key: key, end: rangeEnd}
	}
}

func (kr keyRange) contains(k []byte) bool {
	if kr.single {
		return bytes.Equal(k, kr.key)
	}
	if bytes.Compare(k, kr.key) < 0 {
		return false
	}
	return kr.toInf || bytes.Compare(k, kr.end) < 0
}

// beyond reports whether k and every key after it are past the range.
func (kr keyRange) beyond(k []byte) bool {
	if kr.single {
		return bytes.Compare(k, kr.key) > 0
	}
	return !kr.toInf && bytes.Compare(k, kr.end) >= 0
}

// eachKey calls fn, in key order, for every key in kr that has history,
// until fn returns false.
func eachKey(t *btree.BTreeG[keyHistory], kr keyRange, fn func(h keyHistory) bool) {
	if kr.single {
		if h, ok := t.Get(keyHistory{key: kr.key}); ok {
			fn(h)
		}
		return
	}
	t.AscendGreaterOrEqual(keyHistory{key: kr.key}, func(h keyHistory) bool {
		if kr.beyond(h.key) {
			return false
		}
		return fn(h)
	})
}

// eachLive calls fn, in key order, for every key in kr that exists at
// revision rev, with its version at rev, until fn returns false.
func eachLive(t *btree.BTreeG[keyHistory], kr keyRange, rev int64, fn func(key []byte, r record) bool) {
	eachKey(t, kr, func(h keyHistory) bool {
		r, ok := h.at(rev)
		if !ok {
			return true
		}
		return fn(h.key, r)
	})
}

// recordBytes is what Size counts for one record of key.
func recordBytes(key []byte, r record) int64 {
	return int64(len(key) + len(r.value) + recordOverheadBytes)
}
