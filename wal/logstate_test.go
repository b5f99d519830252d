package wal

import (
	"strings"
	"testing"
)

func TestLogStateApplyMarker(t *testing.T) {
	// The log holds 5..9 of term 2 (index 5 has term 1).
	base := func() *logState {
		s := &logState{first: 5, marker: SnapshotMarker{Index: 4, Term: 1}}
		for i := uint64(5); i <= 9; i++ {
			term := uint64(2)
			if i == 5 {
				term = 1
			}
			s.append(entryPos{term: term}, nil)
		}
		return s
	}
	tests := []struct {
		name      string
		m         SnapshotMarker
		wantFirst uint64
		wantNext  uint64
	}{
		{"same term keeps the rest", SnapshotMarker{Index: 7, Term: 2}, 5, 10},
		{"other term discards the log", SnapshotMarker{Index: 7, Term: 3}, 8, 8},
		{"beyond the log discards it", SnapshotMarker{Index: 20, Term: 3}, 21, 21},
		{"at the last entry keeps nothing after it", SnapshotMarker{Index: 9, Term: 2}, 5, 10},
	}
	for _, tt := range tests {
		s := base()
		if err := s.checkMarker(tt.m); err != nil {
			t.Fatalf("%s: checkMarker(%+v) = %v", tt.name, tt.m, err)
		}
		s.applyMarker(tt.m)
		if s.first != tt.wantFirst || s.next() != tt.wantNext {
			t.Errorf("%s: applyMarker(%+v): first, next = %d, %d, want %d, %d", tt.name, tt.m, s.first, s.next(), tt.wantFirst, tt.wantNext)
		}
	}
}

func TestOptionsValidate(t *testing.T) {
	if err := (Options{}).Validate(); err != nil {
		t.Fatalf("Options{}.Validate() = %v, want nil", err)
	}
	err := (Options{SegmentBytes: 100}).Validate()
	if err == nil || !strings.Contains(err.Error(), "SegmentBytes = 100") {
		t.Fatalf("Validate(SegmentBytes 100) = %v, want it to name the value", err)
	}
	if _, err := Create(nil, "x", Meta{ClusterID: 1}, Options{SegmentBytes: 1}); err == nil ||
		!strings.Contains(err.Error(), "node ID 0") || !strings.Contains(err.Error(), "SegmentBytes = 1") {
		t.Fatalf("Create with node ID 0 and SegmentBytes 1 = %v, want both problems reported", err)
	}
}
