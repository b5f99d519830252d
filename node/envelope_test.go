package node

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestEnvelopeRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		origin, pid uint64
		cmd         []byte
	}{{1, 1, nil}, {7, 1 << 62, []byte("put x=1")}, {1<<64 - 1, 1<<64 - 1, bytes.Repeat([]byte{0}, 100)}} {
		env, err := decodeEnvelope(encodeEnvelope(tc.origin, tc.pid, tc.cmd))
		if err != nil || env.origin != tc.origin || env.pid != tc.pid || !bytes.Equal(env.cmd, tc.cmd) {
			t.Errorf("decodeEnvelope(encodeEnvelope(%d, %d, %q)) = %+v, %v", tc.origin, tc.pid, tc.cmd, env, err)
		}
	}
	o, p, addr, err := decodeConfContext(encodeConfContext(3, 9, "10.0.0.3:2380"))
	if err != nil || o != 3 || p != 9 || addr != "10.0.0.3:2380" {
		t.Errorf("decodeConfContext = %d, %d, %q, %v", o, p, addr, err)
	}
}

func TestSnapshotHeaderRoundTrip(t *testing.T) {
	book := map[uint64]string{1: "a:1", 2: "b:2", 300: ""}
	data := append(encodeSnapshotHeader(book), "state"...)
	got, rest, err := decodeSnapshotHeader(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(book, got); diff != "" || string(rest) != "state" {
		t.Errorf("decodeSnapshotHeader: book diff (-want +got):\n%s rest %q", diff, rest)
	}
	data[6] ^= 0xff // inside the header: the checksum must catch it
	if _, _, err := decodeSnapshotHeader(data); err == nil {
		t.Errorf("decodeSnapshotHeader accepted a corrupt header")
	}
}

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(encodeEnvelope(1, 2, []byte("x")))
	f.Add(encodeConfContext(1, 2, "addr"))
	f.Add([]byte{1, 0xff})
	f.Fuzz(func(t *testing.T, b []byte) {
		if env, err := decodeEnvelope(b); err == nil {
			if re := encodeEnvelope(env.origin, env.pid, env.cmd); len(re) > len(b) {
				t.Fatalf("re-encoding grew: %d > %d", len(re), len(b))
			}
		}
		_, _, _, _ = decodeConfContext(b)
	})
}

func FuzzDecodeSnapshotHeader(f *testing.F) {
	f.Add(encodeSnapshotHeader(map[uint64]string{1: "x", 2: "y"}))
	f.Add([]byte("IRSN\x01\xff\xff\xff\xff\x0f"))
	f.Fuzz(func(t *testing.T, b []byte) {
		book, _, err := decodeSnapshotHeader(b)
		if err != nil {
			return
		}
		// What was accepted re-encodes to a header that decodes the same.
		again, rest, err := decodeSnapshotHeader(encodeSnapshotHeader(book))
		if err != nil || len(rest) != 0 || !cmp.Equal(book, again) {
			t.Fatalf("re-encoded header: %v, %v, rest %d", again, err, len(rest))
		}
	})
}
