package check

import (
	"testing"

	"github.com/ironraft/ironraft/raftpb"
)

func TestCheckLogMatching(t *testing.T) {
	confChange := &raftpb.Entry{Index: 2, Term: 1, Type: raftpb.EntryType_EntryConfChange, Data: []byte(stdData(2, 1))}
	tests := []struct {
		name string
		logs []*memLog
		want string
	}{
		{name: "no logs"},
		{name: "one log", logs: []*memLog{terms(1, 2, 3)}},
		{name: "empty logs", logs: []*memLog{terms(), terms(1, 1), terms()}},
		{name: "identical logs", logs: []*memLog{terms(1, 1, 2, 3), terms(1, 1, 2, 3), terms(1, 1, 2, 3)}},
		{name: "one log a prefix of another", logs: []*memLog{terms(1, 1, 2, 3), terms(1, 1)}},
		{name: "uncommitted suffixes diverge", logs: []*memLog{terms(1, 1, 2), terms(1, 1, 3, 3), terms(1, 1, 4)}},
		{name: "diverge from the first entry", logs: []*memLog{terms(1, 1), terms(2, 2, 2)}},
		{name: "compacted log agrees on the overlap", logs: []*memLog{termsFrom(2, 1, 1, 2, 2), terms(1, 1, 1, 2)}},
		{name: "logs that do not overlap", logs: []*memLog{termsFrom(3, 1, 2, 2), terms(1, 1)}},
		{
			name: "same index and term, different data",
			logs: []*memLog{terms(1, 1, 2), terms(1, 1, 2).with(ent(3, 2, "other"))},
			want: LogMatchingName,
		},
		{
			name: "same index, term and data, different type",
			logs: []*memLog{terms(1, 1, 2), terms(1, 1, 2).with(confChange)},
			want: LogMatchingName,
		},
		{
			name: "agree on the last entry, differ just before it",
			logs: []*memLog{terms(1, 1, 2), terms(1, 2, 2)},
			want: LogMatchingName,
		},
		{
			name: "agree on two entries, differ further back",
			logs: []*memLog{terms(1, 1, 3, 3), terms(1, 2, 3, 3)},
			want: LogMatchingName,
		},
		{
			name: "same terms everywhere, first entry differs",
			logs: []*memLog{terms(1, 1, 1), terms(1, 1, 1).with(ent(1, 1, "other"))},
			want: LogMatchingName,
		},
		{
			name: "compacted log differs on the overlap",
			logs: []*memLog{termsFrom(2, 1, 2, 3), terms(1, 1, 1, 3)},
			want: LogMatchingName,
		},
		{
			name: "violation between the first and last of three logs",
			logs: []*memLog{terms(1, 1, 2), terms(1, 1), terms(1, 2, 2)},
			want: LogMatchingName,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs []NodeLog
			for k, l := range tt.logs {
				logs = append(logs, NodeLog{ID: uint64(k + 1), Log: l})
			}
			if got := checkerOf(CheckLogMatching(logs)); got != tt.want {
				t.Errorf("CheckLogMatching(%s) = %q, want %q", describeLogs(tt.logs), got, tt.want)
			}
		})
	}
}

// describeLogs renders logs as their terms, for test messages.
func describeLogs(logs []*memLog) string {
	s := "["
	for k, l := range logs {
		if k > 0 {
			s += " "
		}
		s += "{"
		if l.snapIndex > 0 {
			s += "snap@" + stdData(l.snapIndex, l.snapTerm) + " "
		}
		for j, e := range l.ents {
			if j > 0 {
				s += ","
			}
			s += stdData(e.GetIndex(), e.GetTerm())
			if string(e.GetData()) != stdData(e.GetIndex(), e.GetTerm()) || e.GetType() != raftpb.EntryType_EntryNormal {
				s += "*"
			}
		}
		s += "}"
	}
	return s + "]"
}
