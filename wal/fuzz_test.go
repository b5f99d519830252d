package wal

import (
	"bytes"
	"testing"

	"github.com/ironraft/ironraft/raftpb"
	"github.com/ironraft/ironraft/vfs"
)

// fuzzSegments returns real segment files to seed the fuzzers with.
func fuzzSegments(f *testing.F) [][]byte {
	fs := vfs.NewMem()
	w := mustCreate(f, fs, smallOpts)
	mustSave(f, w, hs(1, 1, 0), ents(1, 1, 3, 40), true)
	mustSave(f, w, hs(2, 0, 2), ents(2, 3, 4, 10), true)
	if err := w.SaveSnapshotMarker(2, 1); err != nil {
		f.Fatal(err)
	}
	mustSave(f, w, nil, ents(2, 5, 30, 200), true)
	w.Close()
	var out [][]byte
	for _, s := range w.Segments() {
		data, err := readFile(fs, testDir+"/"+s)
		if err != nil {
			f.Fatal(err)
		}
		out = append(out, data)
	}
	return out
}

// FuzzRecordReader decodes arbitrary bytes as one record and its payload: it
// must never panic, and whatever decodes must encode back to the same value.
func FuzzRecordReader(f *testing.F) {
	for _, seg := range fuzzSegments(f) {
		f.Add(seg[segmentHeaderBytes:min(len(seg), segmentHeaderBytes+600)])
	}
	f.Add([]byte{})
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 1})
	f.Fuzz(func(t *testing.T, b []byte) {
		typ, payload, n, err := decodeFrame(b)
		if err != nil {
			return
		}
		if n > len(b) || n != frameHeaderBytes+len(payload) {
			t.Fatalf("decodeFrame: size %d for %d payload bytes of %d", n, len(payload), len(b))
		}
		var again []byte
		switch typ {
		case recEntries:
			es, err := decodeEntries(payload)
			if err != nil {
				return
			}
			again = appendFrame(nil, typ, func(b []byte) []byte { return appendEntries(b, es) })
			es2, err := decodeEntries(again[frameHeaderBytes:])
			if err != nil || len(es2) != len(es) {
				t.Fatalf("entries do not round trip: %v", err)
			}
			for i := range es {
				if !equalEntry(es[i], es2[i]) {
					t.Fatalf("entry %d: %v, then %v", i, es[i], es2[i])
				}
			}
			return
		case recHardState:
			h, err := decodeHardState(payload)
			if err != nil {
				return
			}
			again = appendFrame(nil, typ, func(b []byte) []byte { return appendHardState(b, h) })
		case recSnapshot:
			m, err := decodeSnapshot(payload)
			if err != nil {
				return
			}
			again = appendFrame(nil, typ, func(b []byte) []byte { return appendSnapshot(b, m) })
		case recTruncate:
			i, err := decodeTruncate(payload)
			if err != nil {
				return
			}
			again = appendFrame(nil, typ, func(b []byte) []byte { return appendTruncate(b, i) })
		}
		// Uvarints may be non-minimal on input, so compare decoded values
		// by decoding the canonical encoding once more.
		typ2, payload2, _, err := decodeFrame(again)
		if err != nil || typ2 != typ {
			t.Fatalf("re-encoded record does not decode: %v", err)
		}
		if canon := appendFrame(nil, typ2, func(b []byte) []byte { return append(b, payload2...) }); !bytes.Equal(canon, again) {
			t.Fatalf("re-encoding is not stable")
		}
	})
}

func equalEntry(a, b *raftpb.Entry) bool {
	return a.Term == b.Term && a.Index == b.Index && a.Type == b.Type && bytes.Equal(a.Data, b.Data)
}

// FuzzSegmentScanner scans arbitrary segment data and replays it into a
// log state: it must never panic, a last segment's valid prefix must scan
// cleanly as a non-last segment, and the replayed log must keep its
// invariants.
func FuzzSegmentScanner(f *testing.F) {
	for _, seg := range fuzzSegments(f) {
		f.Add(seg, true)
		f.Add(seg[:len(seg)-7], true)
		f.Add(seg, false)
	}
	f.Fuzz(func(t *testing.T, data []byte, last bool) {
		if _, err := decodeSegmentHeader(data); err != nil {
			return
		}
		st := logState{first: 1, keep: true}
		w := &WAL{st: st}
		replay := func(off int64, typ byte, payload []byte) error {
			return w.replay(0, off, typ, payload)
		}
		res, err := scanRecords("s", data, last, replay)
		if err != nil {
			return
		}
		if res.end > int64(len(data)) || res.dirtyEnd > int64(len(data)) || res.end > res.dirtyEnd || res.end < segmentHeaderBytes {
			t.Fatalf("scan result %+v for %d bytes", res, len(data))
		}
		if got, want := len(w.st.ents), len(w.st.pos); got != want {
			t.Fatalf("%d entries, %d positions", got, want)
		}
		for i, e := range w.st.ents {
			if e.Index != w.st.first+uint64(i) {
				t.Fatalf("entry %d has index %d, want %d", i, e.Index, w.st.first+uint64(i))
			}
		}
		if w.st.next() <= w.st.marker.Index {
			t.Fatalf("next index %d at or below the marker %d", w.st.next(), w.st.marker.Index)
		}
		// What recovery keeps must scan cleanly as a full segment.
		w2 := &WAL{st: logState{first: 1, keep: true}}
		cut := append([]byte(nil), data[:res.end]...)
		res2, err := scanRecords("s", cut, false, func(off int64, typ byte, payload []byte) error {
			return w2.replay(0, off, typ, payload)
		})
		if err != nil || res2.end != res.end || len(w2.st.ents) != len(w.st.ents) {
			t.Fatalf("the kept prefix rescans as %+v, %v", res2, err)
		}
	})
}

// FuzzSegmentReplay builds a well-framed segment (valid checksums) from
// arbitrary records, so the fuzzer reaches the payload decoders and the
// replay rules that checksums hide from FuzzSegmentScanner. The input is a
// sequence of [type][length][payload] with one-byte type and length.
func FuzzSegmentReplay(f *testing.F) {
	f.Add([]byte{recHardState, 3, 1, 1, 0, recEntries, 5, 1, 1, 1, 0, 0, recTruncate, 1, 1})
	f.Add([]byte{recEntries, 8, 1, 2, 1, 0, 0, 1, 0, 0, recSnapshot, 2, 2, 1, recEntries, 5, 3, 1, 1, 0, 0})
	f.Fuzz(func(t *testing.T, in []byte) {
		seg := appendSegmentHeader(nil, segmentHeader{meta: testMeta, first: 1})
		for len(in) >= 2 {
			typ, n := in[0], min(int(in[1]), len(in)-2)
			payload := in[2 : 2+n]
			in = in[2+n:]
			if n == 0 {
				continue
			}
			seg = appendFrame(seg, typ, func(b []byte) []byte { return append(b, payload...) })
		}
		w := &WAL{st: logState{first: 1, keep: true}}
		_, err := scanRecords("s", seg, true, func(off int64, typ byte, payload []byte) error {
			return w.replay(0, off, typ, payload)
		})
		if err != nil {
			return
		}
		for i, e := range w.st.ents {
			if e.Index != w.st.first+uint64(i) {
				t.Fatalf("entry %d has index %d, want %d", i, e.Index, w.st.first+uint64(i))
			}
		}
		if w.st.next() <= w.st.marker.Index {
			t.Fatalf("next index %d at or below the marker %d", w.st.next(), w.st.marker.Index)
		}
		// The segment starts at index 1, so nothing can be missing.
		w.segs = []segment{{first: 1}}
		if _, err := w.recovered(); err != nil {
			t.Fatalf("recovered: %v", err)
		}
	})
}
