package tracker

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var cmpInflights = cmp.AllowUnexported(Inflights{}, inflight{})

// state is a compact view of an Inflights for comparisons: its indexes from
// oldest to newest, their total bytes and whether it is full.
type inflightsState struct {
	Indexes []uint64
	Bytes   uint64
	Full    bool
}

func stateOf(in *Inflights) inflightsState {
	var s inflightsState
	for i := range in.count {
		s.Indexes = append(s.Indexes, in.buffer[in.pos(i)].index)
	}
	s.Bytes = in.Bytes()
	s.Full = in.Full()
	if len(s.Indexes) != in.Count() {
		panic("Count disagrees with buffer")
	}
	return s
}

// op is one step applied to an Inflights: Add(index, bytes) or, if free is
// set, FreeLE(index).
type op struct {
	free         bool
	index, bytes uint64
}

func (o op) apply(in *Inflights) {
	if o.free {
		in.FreeLE(o.index)
	} else {
		in.Add(o.index, o.bytes)
	}
}

func (o op) String() string {
	if o.free {
		return fmt.Sprintf("FreeLE(%d)", o.index)
	}
	return fmt.Sprintf("Add(%d, %d)", o.index, o.bytes)
}

func add(index, bytes uint64) op { return op{index: index, bytes: bytes} }
func free(to uint64) op          { return op{free: true, index: to} }

func TestInflights(t *testing.T) {
	tests := []struct {
		name     string
		maxCount int
		maxBytes uint64
		ops      []op
		want     inflightsState
	}{
		{"empty", 3, 0, nil, inflightsState{}},
		{"count bound", 3, 0, []op{add(1, 10), add(2, 10), add(3, 10)},
			inflightsState{Indexes: []uint64{1, 2, 3}, Bytes: 30, Full: true}},
		{"below count bound", 3, 0, []op{add(1, 10), add(2, 10)},
			inflightsState{Indexes: []uint64{1, 2}, Bytes: 20}},
		{"byte bound reached exactly", 10, 100, []op{add(1, 60), add(2, 40)},
			inflightsState{Indexes: []uint64{1, 2}, Bytes: 100, Full: true}},
		{"one message overshoots byte bound", 10, 100, []op{add(1, 60), add(2, 500)},
			inflightsState{Indexes: []uint64{1, 2}, Bytes: 560, Full: true}},
		{"byte bound freed", 10, 100, []op{add(1, 60), add(2, 40), free(1)},
			inflightsState{Indexes: []uint64{2}, Bytes: 40}},
		{"zero bytes means no byte bound", 3, 0, []op{add(1, 1<<40)},
			inflightsState{Indexes: []uint64{1}, Bytes: 1 << 40}},
		{"FreeLE below oldest", 5, 0, []op{add(5, 1), add(7, 1), free(4)},
			inflightsState{Indexes: []uint64{5, 7}, Bytes: 2}},
		{"FreeLE between", 5, 0, []op{add(5, 1), add(7, 2), add(9, 4), free(8)},
			inflightsState{Indexes: []uint64{9}, Bytes: 4}},
		{"FreeLE all", 5, 0, []op{add(5, 1), add(7, 2), free(100)},
			inflightsState{}},
		{"FreeLE on empty", 5, 0, []op{free(3)}, inflightsState{}},
		{"wrap around", 4, 0, []op{
			add(1, 1), add(2, 1), add(3, 1), add(4, 1), // full, buffer at maxCount
			free(2),              // start moves to 2
			add(5, 2), add(6, 2), // these wrap to positions 0 and 1
		}, inflightsState{Indexes: []uint64{3, 4, 5, 6}, Bytes: 6, Full: true}},
		{"wrap around then free across the end", 4, 0, []op{
			add(1, 1), add(2, 1), add(3, 1), add(4, 1),
			free(3), add(5, 1), add(6, 1), free(5),
		}, inflightsState{Indexes: []uint64{6}, Bytes: 1}},
		{"grow while wrapped", 8, 0, []op{
			add(1, 1), add(2, 1), // buffer of 2
			free(1), add(3, 1), // wrapped: [3 2], start 1
			add(4, 1), // grows to 4 and unwraps
			add(5, 1),
		}, inflightsState{Indexes: []uint64{2, 3, 4, 5}, Bytes: 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := NewInflights(tt.maxCount, tt.maxBytes)
			for _, o := range tt.ops {
				o.apply(in)
			}
			if diff := cmp.Diff(tt.want, stateOf(in)); diff != "" {
				t.Errorf("%v: state mismatch (-want +got):\n%s", tt.ops, diff)
			}
			if len(in.buffer) > tt.maxCount {
				t.Errorf("%v: buffer of %d, want at most %d", tt.ops, len(in.buffer), tt.maxCount)
			}
		})
	}
}

func TestInflightsGrowsLazily(t *testing.T) {
	in := NewInflights(100, 0)
	if got := len(in.buffer); got != 0 {
		t.Errorf("NewInflights(100, 0) buffer = %d, want 0", got)
	}
	for i := uint64(1); i <= 5; i++ {
		in.Add(i, 1)
	}
	if got := len(in.buffer); got != 8 {
		t.Errorf("after 5 Add: buffer = %d, want 8", got)
	}
	for i := uint64(6); i <= 100; i++ {
		in.Add(i, 1)
	}
	if got := len(in.buffer); got != 100 {
		t.Errorf("after 100 Add: buffer = %d, want 100", got)
	}
	if !in.Full() {
		t.Errorf("after 100 Add: Full() = false, want true")
	}
}

// TestInflightsRingMatchesSlice runs many Add/FreeLE rounds through a small
// ring, so that it wraps many times, and checks it against a plain slice.
func TestInflightsRingMatchesSlice(t *testing.T) {
	in := NewInflights(5, 0)
	var model []inflight
	next := uint64(1)
	for round := range 200 {
		for !in.Full() && round%3 != 0 {
			in.Add(next, next%7)
			model = append(model, inflight{next, next % 7})
			next++
			if len(model) > 3 {
				break
			}
		}
		to := next - uint64(round%4) - 1
		in.FreeLE(to)
		for len(model) > 0 && model[0].index <= to {
			model = model[1:]
		}
		var want inflightsState
		for _, m := range model {
			want.Indexes = append(want.Indexes, m.index)
			want.Bytes += m.bytes
		}
		want.Full = len(model) == 5
		if diff := cmp.Diff(want, stateOf(in)); diff != "" {
			t.Fatalf("round %d: state mismatch (-want +got):\n%s", round, diff)
		}
	}
}

func TestInflightsResetAndClone(t *testing.T) {
	in := NewInflights(4, 50)
	in.Add(1, 10)
	in.Add(2, 20)
	c := in.Clone()
	if diff := cmp.Diff(in, c, cmpInflights); diff != "" {
		t.Errorf("Clone() mismatch (-orig +clone):\n%s", diff)
	}
	in.Add(3, 30)
	in.Reset()
	if got, want := stateOf(in), (inflightsState{}); !cmp.Equal(got, want) {
		t.Errorf("after Reset: %+v, want %+v", got, want)
	}
	// The clone does not share the buffer.
	if got, want := stateOf(c), (inflightsState{Indexes: []uint64{1, 2}, Bytes: 30}); !cmp.Equal(got, want) {
		t.Errorf("clone after original changed: %+v, want %+v", got, want)
	}
	// After Reset any index may be added again.
	in.Add(1, 5)
	if got, want := stateOf(in), (inflightsState{Indexes: []uint64{1}, Bytes: 5}); !cmp.Equal(got, want) {
		t.Errorf("Add after Reset: %+v, want %+v", got, want)
	}
}

func TestInflightsPanics(t *testing.T) {
	tests := []struct {
		name string
		f    func()
	}{
		{"zero window", func() { NewInflights(0, 0) }},
		{"add to full by count", func() {
			in := NewInflights(1, 0)
			in.Add(1, 1)
			in.Add(2, 1)
		}},
		{"add to full by bytes", func() {
			in := NewInflights(10, 5)
			in.Add(1, 5)
			in.Add(2, 1)
		}},
		{"add same index", func() {
			in := NewInflights(10, 0)
			in.Add(3, 1)
			in.Add(3, 1)
		}},
		{"add lower index", func() {
			in := NewInflights(10, 0)
			in.Add(3, 1)
			in.Add(2, 1)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic, want panic", tt.name)
				}
			}()
			tt.f()
		})
	}
}

func TestInflightsFreeFirstOne(t *testing.T) {
	in := NewInflights(3, 0)
	in.FreeFirstOne() // empty: no-op
	for _, i := range []uint64{4, 7, 9} {
		in.Add(i, 10)
	}
	in.FreeFirstOne()
	if in.Count() != 2 || in.Bytes() != 20 || in.Full() {
		t.Fatalf("FreeFirstOne() left count %d bytes %d full %v, want 2, 20, false", in.Count(), in.Bytes(), in.Full())
	}
	in.Add(10, 10)
	in.FreeLE(7)
	if in.Count() != 2 {
		t.Fatalf("FreeLE(7) left %d, want 2", in.Count())
	}
}
