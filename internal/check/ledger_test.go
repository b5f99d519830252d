package check

import (
	"fmt"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/testing/protocmp"

	"github.com/ironraft/ironraft/raftpb"
)

// ledgerStep is one call on a Ledger.
type ledgerStep struct {
	op       string // "commit", "apply", "elect", "restart" or "durable"
	id, term uint64
	commit   uint64        // commit
	log      Log           // commit, elect
	e        *raftpb.Entry // apply
	logs     []*memLog     // durable: the logs of nodes 1, 2, ...
	quorum   int           // durable
}

func (s ledgerStep) run(l *Ledger) (call string, err error) {
	switch s.op {
	case "commit":
		return fmt.Sprintf("Committed(%d, %d, %d, log)", s.id, s.term, s.commit), l.Committed(s.id, s.term, s.commit, s.log)
	case "apply":
		return fmt.Sprintf("Applied(%d, %d, %s)", s.id, s.term, stdData(s.e.GetIndex(), s.e.GetTerm())), l.Applied(s.id, s.term, s.e)
	case "elect":
		return fmt.Sprintf("LeaderElected(%d, %d, log)", s.id, s.term), l.LeaderElected(s.id, s.term, s.log)
	case "restart":
		l.Restarted(s.id)
		return fmt.Sprintf("Restarted(%d)", s.id), nil
	case "durable":
		var logs []NodeLog
		for k, nl := range s.logs {
			logs = append(logs, NodeLog{ID: uint64(k + 1), Log: nl})
		}
		return fmt.Sprintf("CheckDurable(%s, %d)", describeLogs(s.logs), s.quorum), l.CheckDurable(logs, s.quorum)
	}
	panic("unknown ledger step " + s.op)
}

func commit(id, term, index uint64, log Log) ledgerStep {
	return ledgerStep{op: "commit", id: id, term: term, commit: index, log: log}
}

func apply(id, term uint64, e *raftpb.Entry) ledgerStep {
	return ledgerStep{op: "apply", id: id, term: term, e: e}
}

func elect(id, term uint64, log Log) ledgerStep {
	return ledgerStep{op: "elect", id: id, term: term, log: log}
}

func restart(id uint64) ledgerStep { return ledgerStep{op: "restart", id: id} }

func durable(quorum int, logs ...*memLog) ledgerStep {
	return ledgerStep{op: "durable", logs: logs, quorum: quorum}
}

// stdEnt is the entry (index, term) of logs built by terms().
func stdEnt(index, term uint64) *raftpb.Entry { return ent(index, term, stdData(index, term)) }

func TestLedger(t *testing.T) {
	tests := []struct {
		name  string
		steps []ledgerStep
		// want is the checker of the violation the last step reports;
		// every earlier step must pass.
		want string
	}{
		// State-machine safety.
		{
			name: "nodes commit and apply the same entries",
			steps: []ledgerStep{
				commit(1, 2, 3, terms(1, 1, 2)),
				commit(2, 2, 2, terms(1, 1)),
				commit(3, 3, 4, terms(1, 1, 2, 3)),
				apply(1, 2, stdEnt(1, 1)),
				apply(2, 2, stdEnt(1, 1)),
				apply(2, 2, stdEnt(2, 1)),
				apply(3, 3, stdEnt(4, 3)),
			},
		},
		{
			name: "commit index reported again is not rechecked",
			steps: []ledgerStep{
				commit(1, 1, 2, terms(1, 1)),
				commit(1, 1, 2, terms(1, 1)),
				commit(1, 1, 1, terms(1, 1)),
			},
		},
		{
			name: "uncommitted suffixes may differ",
			steps: []ledgerStep{
				commit(1, 2, 2, terms(1, 1, 2, 2)),
				commit(2, 3, 2, terms(1, 1, 3)),
			},
		},
		{
			name: "apply ahead of any reported commit",
			steps: []ledgerStep{
				apply(1, 2, stdEnt(3, 2)),
				commit(2, 2, 3, terms(1, 1, 2)),
			},
		},
		{
			name: "two nodes commit different entries at one index",
			steps: []ledgerStep{
				commit(1, 2, 2, terms(1, 2)),
				commit(2, 3, 2, terms(1, 3)),
			},
			want: StateMachineSafetyName,
		},
		{
			name: "two nodes commit different data at one index and term",
			steps: []ledgerStep{
				commit(1, 2, 2, terms(1, 2)),
				commit(2, 2, 2, terms(1, 2).with(ent(2, 2, "other"))),
			},
			want: StateMachineSafetyName,
		},
		{
			name: "two nodes apply different entries at one index",
			steps: []ledgerStep{
				apply(1, 2, stdEnt(1, 1)),
				apply(2, 2, ent(1, 1, "other")),
			},
			want: StateMachineSafetyName,
		},
		{
			name: "node applies other than what was committed",
			steps: []ledgerStep{
				commit(1, 2, 2, terms(1, 2)),
				apply(2, 3, stdEnt(2, 3)),
			},
			want: StateMachineSafetyName,
		},
		{
			name: "restarted node applies other than what it applied before",
			steps: []ledgerStep{
				apply(1, 1, stdEnt(1, 1)),
				restart(1),
				apply(1, 2, stdEnt(1, 2)),
			},
			want: StateMachineSafetyName,
		},
		{
			name: "restarted node's durable commit is checked again",
			steps: []ledgerStep{
				commit(1, 1, 2, terms(1, 1)),
				commit(2, 1, 2, terms(1, 1)),
				restart(2),
				commit(2, 2, 2, terms(1, 2)),
			},
			want: StateMachineSafetyName,
		},
		{
			name: "commit index beyond the durable log",
			steps: []ledgerStep{
				commit(1, 1, 3, terms(1, 1)),
			},
			want: PersistenceName,
		},

		// Leader completeness.
		{
			name: "new leader holds every committed entry",
			steps: []ledgerStep{
				commit(1, 2, 3, terms(1, 1, 2)),
				elect(2, 3, terms(1, 1, 2)),
				elect(3, 4, terms(1, 1, 2, 3, 3)),
			},
		},
		{
			name: "new leader lacks only uncommitted entries",
			steps: []ledgerStep{
				commit(1, 2, 2, terms(1, 1, 2, 2)),
				elect(2, 3, terms(1, 1)),
			},
		},
		{
			name: "new leader missing a committed entry",
			steps: []ledgerStep{
				commit(1, 2, 3, terms(1, 1, 2)),
				elect(2, 3, terms(1, 1)),
			},
			want: LeaderCompletenessName,
		},
		{
			name: "new leader with another entry at a committed index",
			steps: []ledgerStep{
				commit(1, 2, 3, terms(1, 1, 2)),
				elect(2, 3, terms(1, 1, 3)),
			},
			want: LeaderCompletenessName,
		},
		{
			name: "new leader missing an entry committed with a later one",
			steps: []ledgerStep{
				commit(1, 2, 3, terms(1, 1, 2)),
				elect(2, 3, terms(1, 2, 2)),
			},
			want: LeaderCompletenessName,
		},
		{
			name: "new leader missing an applied entry",
			steps: []ledgerStep{
				apply(1, 2, stdEnt(1, 1)),
				elect(2, 3, terms()),
			},
			want: LeaderCompletenessName,
		},
		{
			name: "entry known committed later in an earlier term",
			steps: []ledgerStep{
				commit(1, 4, 1, terms(1, 1)),
				commit(2, 2, 2, terms(1, 1)),
				elect(3, 3, terms(1)),
			},
			want: LeaderCompletenessName,
		},

		{
			name: "applying an entry shows every earlier one committed by then",
			steps: []ledgerStep{
				commit(1, 4, 3, terms(1, 1, 1)),
				apply(2, 2, stdEnt(3, 1)),
				elect(3, 3, terms(2, 1, 1)),
			},
			want: LeaderCompletenessName,
		},

		// Durability.
		{
			name: "committed entries on a majority",
			steps: []ledgerStep{
				commit(1, 2, 3, terms(1, 1, 2)),
				durable(2, terms(1, 1, 2), terms(1, 1, 2, 2), terms(1)),
			},
		},
		{
			name: "nothing committed",
			steps: []ledgerStep{
				durable(2, terms(), terms(), terms()),
			},
		},
		{
			name: "unknown committed indexes are skipped",
			steps: []ledgerStep{
				apply(1, 2, stdEnt(3, 2)),
				durable(2, terms(1, 1, 2), terms(2, 2, 2), terms()),
			},
		},
		{
			name: "committed entry on a minority",
			steps: []ledgerStep{
				commit(1, 2, 3, terms(1, 1, 2)),
				durable(2, terms(1, 1, 2), terms(1, 1), terms(1, 1)),
			},
			want: DurabilityName,
		},
		{
			name: "committed entry overwritten on a majority",
			steps: []ledgerStep{
				commit(1, 2, 3, terms(1, 1, 2)),
				durable(2, terms(1, 1, 2), terms(1, 1, 3), terms(1, 1, 3)),
			},
			want: DurabilityName,
		},
		{
			name: "committed entry lost everywhere",
			steps: []ledgerStep{
				commit(1, 2, 3, terms(1, 1, 2)),
				durable(2, terms(), terms(), terms()),
			},
			want: DurabilityName,
		},
		{
			name: "committed entry lost after the committing node crashed",
			steps: []ledgerStep{
				commit(1, 1, 1, terms(1)),
				restart(1),
				durable(2, terms(), terms(1), terms()),
			},
			want: DurabilityName,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var l Ledger
			for k, s := range tt.steps {
				call, err := s.run(&l)
				got := checkerOf(err)
				want := ""
				if k == len(tt.steps)-1 {
					want = tt.want
				}
				if got != want {
					t.Fatalf("step %d: %s = %v, want %q", k, call, err, want)
				}
			}
		})
	}
}

func TestLedgerEntries(t *testing.T) {
	var l Ledger
	if err := l.Applied(1, 2, stdEnt(3, 2)); err != nil {
		t.Fatalf("Applied(1, 2, e3@t2) = %v, want nil", err)
	}
	if err := l.Committed(2, 2, 1, terms(1, 1, 2)); err != nil {
		t.Fatalf("Committed(2, 2, 1, log) = %v, want nil", err)
	}
	if got := l.Len(); got != 3 {
		t.Errorf("Len() = %d, want 3", got)
	}
	for _, tt := range []struct {
		i    uint64
		want *raftpb.Entry
	}{
		{0, nil},
		{1, stdEnt(1, 1)},
		{2, nil},
		{3, stdEnt(3, 2)},
		{4, nil},
	} {
		if diff := cmp.Diff(tt.want, l.Entry(tt.i), protocmp.Transform()); diff != "" {
			t.Errorf("Entry(%d) mismatch (-want +got):\n%s", tt.i, diff)
		}
	}
}
