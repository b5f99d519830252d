package check

import (
	"bytes"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
	"github.com/google/go-cmp/cmp"
)

func TestKVCommandRoundTrip(t *testing.T) {
	tests := []KVCommand{
		{},
		{Client: 1, Op: 1, Key: "k", Value: "v"},
		{Client: 3, Op: 17, Key: "key", Value: ""},
		{Client: 3, Op: 18, Key: "", Value: "value"},
		{Client: math.MaxUint32, Op: math.MaxUint32, Key: "k", Value: "v"},
		{Client: 0x01020304, Op: 0x0a0b0c0d, Key: "\x00\xff\x6b", Value: "\x6b\x00\xff"},
		{Client: 2, Op: 5, Key: strings.Repeat("k", 255), Value: strings.Repeat("v", 1000)},
	}
	for _, c := range tests {
		b := c.Encode()
		got, ok := DecodeKVCommand(b)
		if !ok {
			t.Errorf("DecodeKVCommand(%x) = _, false, want %+v, true", b, c)
			continue
		}
		if diff := cmp.Diff(c, got); diff != "" {
			t.Errorf("DecodeKVCommand(Encode(%+v)) mismatch (-want +got):\n%s", c, diff)
		}
	}
}

func TestDecodeKVCommandMalformed(t *testing.T) {
	valid := KVCommand{Client: 1, Op: 2, Key: "key", Value: "value"}.Encode()
	tests := []struct {
		name string
		b    []byte
	}{
		{name: "nil (a leader's no-op)", b: nil},
		{name: "empty", b: []byte{}},
		{name: "magic only", b: []byte{kvMagic}},
		{name: "header one byte short", b: valid[:9]},
		{name: "wrong magic", b: append([]byte{kvMagic + 1}, valid[1:]...)},
		{name: "key longer than the data", b: valid[:12]},
		{name: "key length 255, no key", b: []byte{kvMagic, 0, 0, 0, 1, 0, 0, 0, 1, 255}},
		{name: "text", b: []byte("hello, world")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, ok := DecodeKVCommand(tt.b); ok {
				t.Errorf("DecodeKVCommand(%x) = %+v, true, want false", tt.b, got)
			}
		})
	}
}

// FuzzDecodeKVCommand checks that DecodeKVCommand never panics and that
// whatever it accepts encodes back to the same bytes.
func FuzzDecodeKVCommand(f *testing.F) {
	f.Add([]byte(nil))
	f.Add([]byte{kvMagic})
	f.Add(KVCommand{Client: 1, Op: 2, Key: "key", Value: "value"}.Encode())
	f.Add(KVCommand{}.Encode())
	f.Add([]byte{kvMagic, 0, 0, 0, 1, 0, 0, 0, 1, 255})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, ok := DecodeKVCommand(b)
		if !ok {
			return
		}
		if got := c.Encode(); !bytes.Equal(got, b) {
			t.Errorf("Encode(DecodeKVCommand(%x)) = %x, want %x", b, got, b)
		}
	})
}

func TestDescribeData(t *testing.T) {
	tests := []struct {
		b    []byte
		want string
	}{
		{nil, "noop"},
		{[]byte{}, "noop"},
		{KVCommand{Client: 3, Op: 7, Key: "x", Value: "v1"}.Encode(), "put(x=v1 c3#7)"},
		{[]byte("abc"), "3 bytes"},
		{[]byte{kvMagic, 0, 0}, "3 bytes"},
	}
	for _, tt := range tests {
		if got := DescribeData(tt.b); got != tt.want {
			t.Errorf("DescribeData(%x) = %q, want %q", tt.b, got, tt.want)
		}
	}
}

// unknown is the return time of an op whose outcome the client never
// learned.
const unknown = math.MaxInt64

func put(client int, key, value string, call, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: KVInput{Kind: KVPut, Key: key, Value: value},
		Output: KVOutput{}, Call: call, Return: ret}
}

func get(client int, key, value string, call, ret int64) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: KVInput{Kind: KVGet, Key: key},
		Output: KVOutput{Value: value}, Call: call, Return: ret}
}

// describeHistory renders a history for test messages.
func describeHistory(h []porcupine.Operation) string {
	var sb strings.Builder
	for _, op := range h {
		ret := fmt.Sprint(op.Return)
		if op.Return == unknown {
			ret = "?"
		}
		fmt.Fprintf(&sb, "\n  [%d,%s] c%d %s", op.Call, ret, op.ClientId, KVModel.DescribeOperation(op.Input, op.Output))
	}
	return sb.String()
}

func TestCheckKVLinearizable(t *testing.T) {
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    string
	}{
		{name: "empty history"},
		{name: "get of an absent key", history: []porcupine.Operation{get(0, "x", "", 0, 1)}},
		{
			name: "put then get",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 1),
				get(1, "x", "a", 2, 3),
			},
		},
		{
			name: "get concurrent with a put sees either value",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 10),
				get(1, "x", "", 1, 2),
				get(2, "x", "a", 3, 4),
			},
		},
		{
			name: "overlapping puts in either order",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 10),
				put(1, "x", "b", 1, 9),
				get(2, "x", "a", 11, 12),
			},
		},
		{
			name: "keys are independent",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 1),
				put(1, "y", "b", 2, 3),
				get(2, "x", "a", 4, 5),
				get(2, "y", "b", 6, 7),
				get(2, "z", "", 8, 9),
			},
		},
		{
			name: "unknown put explains a later read",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 1),
				put(1, "x", "b", 2, unknown),
				get(2, "x", "b", 5, 6),
			},
		},
		{
			name: "unknown put that never took effect",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 1),
				put(1, "x", "b", 2, unknown),
				get(2, "x", "a", 5, 6),
				get(2, "x", "a", 7, 8),
			},
		},
		{
			name: "unknown put that took effect late",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 1),
				put(1, "x", "b", 2, unknown),
				get(2, "x", "a", 5, 6),
				get(2, "x", "b", 7, 8),
			},
		},
		{
			name: "unknown put before a later acknowledged put",
			history: []porcupine.Operation{
				put(1, "x", "b", 0, unknown),
				put(0, "x", "a", 2, 3),
				get(2, "x", "b", 4, 5),
			},
		},
		{
			name: "many unknown puts, one observed",
			history: append(unknownPuts(2, 100),
				put(0, "x", "a", 0, 1),
				put(1, "x", "seen", 50, unknown),
				get(0, "x", "seen", 200, 201),
			),
		},
		{
			name: "stale read after an acknowledged put",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 1),
				put(0, "x", "b", 2, 3),
				get(1, "x", "a", 4, 5),
			},
			want: LinearizabilityName,
		},
		{
			name: "read of an absent value after an acknowledged put",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 1),
				get(1, "x", "", 2, 3),
			},
			want: LinearizabilityName,
		},
		{
			name: "read of a value never written",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 1),
				get(1, "x", "z", 2, 3),
			},
			want: LinearizabilityName,
		},
		{
			name: "read of a value written to another key",
			history: []porcupine.Operation{
				put(0, "y", "a", 0, 1),
				get(1, "x", "a", 2, 3),
			},
			want: LinearizabilityName,
		},
		{
			name: "reads go back in time",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 10),
				get(1, "x", "a", 1, 2),
				get(2, "x", "", 3, 4),
			},
			want: LinearizabilityName,
		},
		{
			name: "unknown put seen before its call",
			history: []porcupine.Operation{
				get(2, "x", "b", 0, 1),
				put(1, "x", "b", 2, unknown),
			},
			want: LinearizabilityName,
		},
		{
			name: "unknown put seen, then undone",
			history: []porcupine.Operation{
				put(0, "x", "a", 0, 1),
				put(1, "x", "b", 2, unknown),
				get(2, "x", "b", 3, 4),
				get(2, "x", "a", 5, 6),
			},
			want: LinearizabilityName,
		},
		{
			name: "unknown puts do not hide a stale read",
			history: append(unknownPuts(2, 100),
				put(0, "x", "a", 0, 1),
				put(0, "x", "b", 2, 3),
				get(1, "x", "a", 200, 201),
			),
			want: LinearizabilityName,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckKVLinearizable(tt.history, 10*time.Second)
			if got := checkerOf(err); got != tt.want {
				t.Errorf("CheckKVLinearizable(%s) = %v, want %q", describeHistory(tt.history), err, tt.want)
			}
		})
	}
}

// unknownPuts returns n puts with unknown outcome to key x, of values
// u0 .. u<n-1>, issued by clients from firstClient on, none returning.
func unknownPuts(firstClient, n int) []porcupine.Operation {
	var h []porcupine.Operation
	for k := range n {
		h = append(h, put(firstClient+k, "x", fmt.Sprintf("u%d", k), int64(10+k), unknown))
	}
	return h
}

// TestCheckKVLinearizableNamesKey checks that a violation names the key
// whose history is not linearizable.
func TestCheckKVLinearizableNamesKey(t *testing.T) {
	h := []porcupine.Operation{
		put(0, "x", "a", 0, 1),
		put(0, "y", "b", 2, 3),
		get(1, "x", "a", 4, 5),
		get(1, "y", "a", 6, 7),
	}
	err := CheckKVLinearizable(h, 10*time.Second)
	if err == nil || !strings.Contains(err.Error(), "; key y (2 ops)") {
		t.Errorf("CheckKVLinearizable(%s) = %v, want a violation naming key y", describeHistory(h), err)
	}
}

func TestPruneUnobservedUnknownPuts(t *testing.T) {
	tests := []struct {
		name    string
		history []porcupine.Operation
		want    []porcupine.Operation
	}{
		{name: "empty"},
		{
			name:    "unobserved unknown put is dropped",
			history: []porcupine.Operation{put(0, "x", "a", 0, 1), put(1, "x", "b", 2, unknown), get(2, "x", "a", 3, 4)},
			want:    []porcupine.Operation{put(0, "x", "a", 0, 1), get(2, "x", "a", 3, 4)},
		},
		{
			name:    "observed unknown put is kept",
			history: []porcupine.Operation{put(1, "x", "b", 2, unknown), get(2, "x", "b", 3, 4)},
			want:    []porcupine.Operation{put(1, "x", "b", 2, unknown), get(2, "x", "b", 3, 4)},
		},
		{
			name:    "value observed on another key does not keep it",
			history: []porcupine.Operation{put(1, "x", "b", 2, unknown), get(2, "y", "b", 3, 4)},
			want:    []porcupine.Operation{get(2, "y", "b", 3, 4)},
		},
		{
			name:    "acknowledged puts are kept even if never read",
			history: []porcupine.Operation{put(0, "x", "a", 0, 1), put(0, "x", "b", 2, 3)},
			want:    []porcupine.Operation{put(0, "x", "a", 0, 1), put(0, "x", "b", 2, 3)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pruneUnobservedUnknownPuts(tt.history)
			if diff := cmp.Diff(tt.want, got, cmpEmptyOps); diff != "" {
				t.Errorf("pruneUnobservedUnknownPuts(%s) mismatch (-want +got):\n%s", describeHistory(tt.history), diff)
			}
		})
	}
}

// cmpEmptyOps treats nil and empty histories as equal.
var cmpEmptyOps = cmp.FilterValues(func(a, b []porcupine.Operation) bool { return len(a) == 0 && len(b) == 0 },
	cmp.Comparer(func(_, _ []porcupine.Operation) bool { return true }))

func TestKVModelPartitionIsSortedByKey(t *testing.T) {
	h := []porcupine.Operation{
		put(0, "y", "1", 0, 1),
		put(0, "x", "2", 2, 3),
		get(1, "y", "1", 4, 5),
		get(1, "a", "", 6, 7),
	}
	want := [][]porcupine.Operation{
		{get(1, "a", "", 6, 7)},
		{put(0, "x", "2", 2, 3)},
		{put(0, "y", "1", 0, 1), get(1, "y", "1", 4, 5)},
	}
	if diff := cmp.Diff(want, KVModel.Partition(h)); diff != "" {
		t.Errorf("KVModel.Partition(%s) mismatch (-want +got):\n%s", describeHistory(h), diff)
	}
}
