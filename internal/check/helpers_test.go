package check

import (
	"errors"
	"fmt"

	"github.com/ironraft/ironraft/raftpb"
)

// memLog is a minimal Log with the semantics of raft.MemoryStorage: a
// dummy entry at snapIndex (the last compacted index, 0 for none) whose
// term is snapTerm, followed by ents at snapIndex+1, snapIndex+2, ...
// It lets the tests build any log without depending on package raft.
type memLog struct {
	snapIndex, snapTerm uint64
	ents                []*raftpb.Entry
}

var (
	errCompacted   = errors.New("memlog: compacted")
	errUnavailable = errors.New("memlog: unavailable")
)

func (l *memLog) FirstIndex() (uint64, error) { return l.snapIndex + 1, nil }

func (l *memLog) LastIndex() (uint64, error) { return l.snapIndex + uint64(len(l.ents)), nil }

func (l *memLog) Term(i uint64) (uint64, error) {
	switch {
	case i < l.snapIndex:
		return 0, errCompacted
	case i == l.snapIndex:
		return l.snapTerm, nil
	case i > l.snapIndex+uint64(len(l.ents)):
		return 0, errUnavailable
	}
	return l.ents[i-l.snapIndex-1].GetTerm(), nil
}

func (l *memLog) Entries(lo, hi, _ uint64) ([]*raftpb.Entry, error) {
	last, _ := l.LastIndex()
	switch {
	case lo <= l.snapIndex:
		return nil, errCompacted
	case hi > last+1:
		return nil, errUnavailable
	case lo >= hi:
		return nil, nil
	}
	return l.ents[lo-l.snapIndex-1 : hi-l.snapIndex-1], nil
}

// ent returns a normal entry.
func ent(index, term uint64, data string) *raftpb.Entry {
	return &raftpb.Entry{Index: index, Term: term, Data: []byte(data)}
}

// stdData is the data terms() gives entry (index, term): logs built by
// terms() agree on the data of every (index, term) they share, as correct
// Raft logs do.
func stdData(index, term uint64) string { return fmt.Sprintf("e%d@t%d", index, term) }

// terms returns the log whose entries 1, 2, ... have the given terms.
func terms(ts ...uint64) *memLog {
	return termsFrom(0, 0, ts...)
}

// termsFrom returns the log compacted up to snapIndex (of snapTerm) whose
// entries snapIndex+1, ... have the given terms.
func termsFrom(snapIndex, snapTerm uint64, ts ...uint64) *memLog {
	l := &memLog{snapIndex: snapIndex, snapTerm: snapTerm}
	for k, t := range ts {
		i := snapIndex + 1 + uint64(k)
		l.ents = append(l.ents, ent(i, t, stdData(i, t)))
	}
	return l
}

// with returns a copy of l with entry e replacing the entry at its index.
func (l *memLog) with(e *raftpb.Entry) *memLog {
	c := &memLog{snapIndex: l.snapIndex, snapTerm: l.snapTerm, ents: append([]*raftpb.Entry(nil), l.ents...)}
	c.ents[e.GetIndex()-l.snapIndex-1] = e
	return c
}

// checkerOf returns the checker named by err: "" for nil, the Checker of a
// *Violation, or a description of any other error (which is never what a
// test wants).
func checkerOf(err error) string {
	if err == nil {
		return ""
	}
	var v *Violation
	if errors.As(err, &v) {
		return v.Checker
	}
	return fmt.Sprintf("non-violation error %T: %v", err, err)
}
