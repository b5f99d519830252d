package confchange

import (
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"pgregory.net/rapid"

	"github.com/ironraft/ironraft/raft/quorum"
	"github.com/ironraft/ironraft/raft/tracker"
	"github.com/ironraft/ironraft/raftpb"
)

// parseChanges reads the notation of the data-driven harness: "v4 l5 r2"
// adds voter 4, adds learner 5 and removes 2. "x4" is a change of an
// unknown type.
func parseChanges(t testing.TB, s string) []*raftpb.ConfChangeSingle {
	t.Helper()
	var ccs []*raftpb.ConfChangeSingle
	for _, w := range strings.Fields(s) {
		id, err := strconv.ParseUint(w[1:], 10, 64)
		if err != nil {
			t.Fatalf("bad change %q: %v", w, err)
		}
		typ := map[byte]raftpb.ConfChangeType{
			'v': raftpb.ConfChangeAddNode, 'l': raftpb.ConfChangeAddLearnerNode,
			'r': raftpb.ConfChangeRemoveNode, 'x': raftpb.ConfChangeType(7),
		}[w[0]]
		ccs = append(ccs, &raftpb.ConfChangeSingle{Type: typ, NodeId: id})
	}
	return ccs
}

// changerFrom returns a Changer holding the configuration cs.
func changerFrom(t interface {
	Helper()
	Fatalf(string, ...any)
}, cs *raftpb.ConfState) Changer {
	t.Helper()
	c := Changer{LastIndex: 10, MaxInflight: 4}
	cfg, prs, err := Restore(c, cs)
	if err != nil {
		t.Fatalf("Restore(%v) = %v", cs, err)
	}
	c.Config, c.Progress = cfg, prs
	return c
}

// frozen is a deep copy of a Changer's inputs, to prove they are not
// modified.
type frozen struct {
	Config   tracker.Config
	Progress map[uint64]tracker.Progress
}

func freeze(c Changer) frozen {
	f := frozen{Config: c.Config.Clone(), Progress: map[uint64]tracker.Progress{}}
	for id, pr := range c.Progress {
		cp := *pr
		cp.Inflights = pr.Inflights.Clone()
		f.Progress[id] = cp
	}
	return f
}

// exportAll lets cmp look into Inflights, whose fields are unexported.
var exportAll = cmp.Exporter(func(reflect.Type) bool { return true })

func checkUnchanged(t interface {
	Helper()
	Errorf(string, ...any)
}, what string, before frozen, c Changer) {
	t.Helper()
	if diff := cmp.Diff(before, freeze(c), exportAll); diff != "" {
		t.Errorf("%s modified the input Changer (-before +after):\n%s", what, diff)
	}
}

func ids(prs tracker.ProgressMap) []uint64 {
	var out []uint64
	for id := range prs {
		out = append(out, id)
	}
	slices.Sort(out)
	return out
}

func TestChanger(t *testing.T) {
	v123 := &raftpb.ConfState{Voters: []uint64{1, 2, 3}}
	type op int
	const (
		simple op = iota
		enter
		enterAuto
		leave
	)
	tests := []struct {
		name    string
		from    *raftpb.ConfState
		op      op
		changes string
		want    string   // tracker.Config.String(), or "" for an error
		tracked []uint64 // nodes with progress in the result
	}{
		{"simple add voter", v123, simple, "v4", "voters=(1 2 3 4)", []uint64{1, 2, 3, 4}},
		{"simple add learner", v123, simple, "l4", "voters=(1 2 3) learners=(4)", []uint64{1, 2, 3, 4}},
		{"simple promote learner", &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}, simple, "v4",
			"voters=(1 2 3 4)", []uint64{1, 2, 3, 4}},
		{"simple demote voter", v123, simple, "l3", "voters=(1 2) learners=(3)", []uint64{1, 2, 3}},
		{"simple remove voter", v123, simple, "r3", "voters=(1 2)", []uint64{1, 2}},
		{"simple remove leader-like first voter", v123, simple, "r1", "voters=(2 3)", []uint64{2, 3}},
		{"simple remove learner", &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}, simple, "r4",
			"voters=(1 2 3)", []uint64{1, 2, 3}},
		{"simple remove unknown node is a no-op", v123, simple, "r9", "voters=(1 2 3)", []uint64{1, 2, 3}},
		{"simple add existing voter is a no-op", v123, simple, "v2", "voters=(1 2 3)", []uint64{1, 2, 3}},
		{"simple several learners at once", v123, simple, "l4 l5", "voters=(1 2 3) learners=(4 5)", []uint64{1, 2, 3, 4, 5}},
		{"simple add then remove the same voter", v123, simple, "v4 r4", "voters=(1 2 3)", []uint64{1, 2, 3}},
		{"simple two voters refused", v123, simple, "v4 v5", "", nil},
		{"simple replace a voter refused", v123, simple, "v4 r3", "", nil},
		{"simple two removals refused", v123, simple, "r2 r3", "", nil},
		{"simple in joint refused", &raftpb.ConfState{Voters: []uint64{1, 2, 4}, VotersOutgoing: []uint64{1, 2, 3}}, simple, "l5", "", nil},
		{"simple remove last voter refused", &raftpb.ConfState{Voters: []uint64{1}}, simple, "r1", "", nil},
		{"simple demote last voter refused", &raftpb.ConfState{Voters: []uint64{1}}, simple, "l1", "", nil},
		{"simple node ID 0 refused", v123, simple, "v0", "", nil},
		{"simple learner ID 0 refused", v123, simple, "l0", "", nil},
		{"simple unknown change type refused", v123, simple, "x4", "", nil},

		{"enter joint replace two voters", v123, enterAuto, "r2 r3 v4 v5",
			"voters=(1 4 5)&&(1 2 3) autoleave", []uint64{1, 2, 3, 4, 5}},
		{"enter joint explicit", v123, enter, "v4 v5", "voters=(1 2 3 4 5)&&(1 2 3)", []uint64{1, 2, 3, 4, 5}},
		{"enter joint demote voter stages it in LearnersNext", v123, enter, "l3",
			"voters=(1 2)&&(1 2 3) learners_next=(3)", []uint64{1, 2, 3}},
		{"enter joint add learner", v123, enter, "l4", "voters=(1 2 3)&&(1 2 3) learners=(4)", []uint64{1, 2, 3, 4}},
		{"enter joint promote learner", &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}}, enter, "v4",
			"voters=(1 2 3 4)&&(1 2 3)", []uint64{1, 2, 3, 4}},
		{"enter joint remove keeps outgoing voter tracked", v123, enter, "r1", "voters=(2 3)&&(1 2 3)", []uint64{1, 2, 3}},
		{"enter joint demote then promote again", v123, enter, "l3 v3", "voters=(1 2 3)&&(1 2 3)", []uint64{1, 2, 3}},
		{"enter joint demote then remove", v123, enter, "l3 r3", "voters=(1 2)&&(1 2 3)", []uint64{1, 2, 3}},
		{"enter joint with no changes", v123, enter, "", "voters=(1 2 3)&&(1 2 3)", []uint64{1, 2, 3}},
		{"enter joint when joint refused", &raftpb.ConfState{Voters: []uint64{1, 2, 4}, VotersOutgoing: []uint64{1, 2, 3}}, enter, "v5", "", nil},
		{"enter joint removing every incoming voter refused", v123, enter, "r1 r2 r3", "", nil},
		{"enter joint demoting every voter refused", v123, enter, "l1 l2 l3", "", nil},
		{"enter joint node ID 0 refused", v123, enter, "v4 r0", "", nil},
		{"enter joint from empty configuration refused", &raftpb.ConfState{}, enter, "v1", "", nil},

		{"leave joint drops removed voters", &raftpb.ConfState{Voters: []uint64{1, 4, 5}, VotersOutgoing: []uint64{1, 2, 3}, AutoLeave: true},
			leave, "", "voters=(1 4 5)", []uint64{1, 4, 5}},
		{"leave joint turns LearnersNext into learners", &raftpb.ConfState{Voters: []uint64{1, 2}, VotersOutgoing: []uint64{1, 2, 3}, LearnersNext: []uint64{3}},
			leave, "", "voters=(1 2) learners=(3)", []uint64{1, 2, 3}},
		{"leave joint keeps learners", &raftpb.ConfState{Voters: []uint64{1, 2, 3}, VotersOutgoing: []uint64{1, 2, 3}, Learners: []uint64{4}},
			leave, "", "voters=(1 2 3) learners=(4)", []uint64{1, 2, 3, 4}},
		{"leave joint when not joint refused", v123, leave, "", "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := changerFrom(t, tt.from)
			before := freeze(c)
			ccs := parseChanges(t, tt.changes)
			var cfg tracker.Config
			var prs tracker.ProgressMap
			var err error
			switch tt.op {
			case simple:
				cfg, prs, err = c.Simple(ccs...)
			case enter, enterAuto:
				cfg, prs, err = c.EnterJoint(tt.op == enterAuto, ccs...)
			case leave:
				cfg, prs, err = c.LeaveJoint()
			}
			checkUnchanged(t, tt.name, before, c)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidConfChange) {
					t.Fatalf("%v from %v = %v, %v, want ErrInvalidConfChange", tt.changes, tt.from, cfg, err)
				}
				if prs != nil || cfg.String() != (tracker.Config{}).String() {
					t.Errorf("%v from %v: error with a non-empty result %v %v", tt.changes, tt.from, cfg, prs)
				}
				return
			}
			if err != nil {
				t.Fatalf("%v from %v: %v, want %s", tt.changes, tt.from, err, tt.want)
			}
			if got := cfg.String(); got != tt.want {
				t.Errorf("%v from %v = %s, want %s", tt.changes, tt.from, got, tt.want)
			}
			if got := ids(prs); !slices.Equal(got, tt.tracked) {
				t.Errorf("%v from %v tracks %v, want %v", tt.changes, tt.from, got, tt.tracked)
			}
			if err := checkInvariants(cfg, prs); err != nil {
				t.Errorf("%v from %v: result breaks an invariant: %v", tt.changes, tt.from, err)
			}
		})
	}
}

// TestChangerResultIsIndependent checks that a result shares no mutable
// state with its input: changing the result leaves the input alone.
func TestChangerResultIsIndependent(t *testing.T) {
	c := changerFrom(t, &raftpb.ConfState{Voters: []uint64{1, 2, 3}, Learners: []uint64{4}})
	c.Progress[1].Inflights.Add(5, 10)
	before := freeze(c)
	cfg, prs, err := c.EnterJoint(false, parseChanges(t, "l3 v5")...)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Voters[0][9] = struct{}{}
	cfg.Voters[1][9] = struct{}{}
	cfg.Learners[8] = struct{}{}
	cfg.LearnersNext[7] = struct{}{}
	for _, pr := range prs {
		pr.Match = 99
		pr.IsLearner = !pr.IsLearner
		pr.Inflights.Add(100, 1)
	}
	checkUnchanged(t, "mutating the result of EnterJoint", before, c)
}

// TestRestoreNewNode checks that the empty ConfState of a node waiting to
// join restores to an empty configuration.
func TestRestoreNewNode(t *testing.T) {
	cfg, prs, err := Restore(Changer{MaxInflight: 1}, &raftpb.ConfState{})
	if err != nil || len(prs) != 0 || cfg.String() != "voters=()" {
		t.Errorf("Restore(empty) = %s, %v, %v; want voters=(), no progress, nil", cfg, prs, err)
	}
	if _, _, err := Restore(Changer{MaxInflight: 1}, &raftpb.ConfState{Voters: []uint64{1, 0}}); !errors.Is(err, ErrInvalidConfChange) {
		t.Errorf("Restore(voter 0) = %v, want ErrInvalidConfChange", err)
	}
}

// model is the obvious version of a configuration: the sets the changes
// describe, updated one change at a time.
type model struct {
	incoming, outgoing, learners, learnersNext map[uint64]bool
	autoLeave                                  bool
}

func modelOf(cfg tracker.Config) model {
	set := func(s map[uint64]struct{}) map[uint64]bool {
		m := map[uint64]bool{}
		for id := range s {
			m[id] = true
		}
		return m
	}
	return model{set(cfg.Voters[0]), set(cfg.Voters[1]), set(cfg.Learners), set(cfg.LearnersNext), cfg.AutoLeave}
}

func (m model) String() string {
	set := func(s map[uint64]bool) map[uint64]struct{} {
		out := map[uint64]struct{}{}
		for id := range s {
			out[id] = struct{}{}
		}
		return out
	}
	return tracker.Config{
		Voters:   quorum.JointConfig{set(m.incoming), set(m.outgoing)},
		Learners: set(m.learners), LearnersNext: set(m.learnersNext), AutoLeave: m.autoLeave,
	}.String()
}

// apply makes one single change on the model; it reports false for a change
// that is refused whatever else happens (ID 0, unknown type).
func (m *model) apply(cc *raftpb.ConfChangeSingle) bool {
	id := cc.GetNodeId()
	if id == 0 {
		return false
	}
	switch cc.GetType() {
	case raftpb.ConfChangeAddNode:
		m.incoming[id] = true
		delete(m.learners, id)
		delete(m.learnersNext, id)
	case raftpb.ConfChangeAddLearnerNode:
		if m.learners[id] || m.learnersNext[id] {
			return true
		}
		delete(m.incoming, id)
		if m.outgoing[id] {
			m.learnersNext[id] = true
		} else {
			m.learners[id] = true
		}
	case raftpb.ConfChangeRemoveNode:
		delete(m.incoming, id)
		delete(m.learners, id)
		delete(m.learnersNext, id)
	default:
		return false
	}
	return true
}

func (m model) clone() model {
	c := func(s map[uint64]bool) map[uint64]bool {
		out := map[uint64]bool{}
		for id, v := range s {
			out[id] = v
		}
		return out
	}
	return model{c(m.incoming), c(m.outgoing), c(m.learners), c(m.learnersNext), m.autoLeave}
}

// expect returns what the model says op does from m, and whether it is
// valid.
func (m model) expect(op string, autoLeave bool, ccs []*raftpb.ConfChangeSingle) (model, bool) {
	n := m.clone()
	joint := len(m.outgoing) > 0
	switch op {
	case "leave":
		if !joint {
			return n, false
		}
		for id := range n.learnersNext {
			n.learners[id] = true
		}
		n.learnersNext, n.outgoing, n.autoLeave = map[uint64]bool{}, map[uint64]bool{}, false
		return n, true
	case "enter":
		if joint || len(m.incoming) == 0 {
			return n, false
		}
		for id := range m.incoming {
			n.outgoing[id] = true
		}
		n.autoLeave = autoLeave
	case "simple":
		if joint {
			return n, false
		}
	}
	for _, cc := range ccs {
		if !n.apply(cc) {
			return n, false
		}
	}
	if len(n.incoming) == 0 {
		return n, false
	}
	if op == "simple" {
		changed := 0
		for id := range m.incoming {
			if !n.incoming[id] {
				changed++
			}
		}
		for id := range n.incoming {
			if !m.incoming[id] {
				changed++
			}
		}
		if changed > 1 {
			return n, false
		}
	}
	return n, true
}

// TestChangerMatchesModel runs random sequences of valid and invalid changes
// from random configurations, and checks every step against the model: the
// same outcome, the same configuration, the input untouched, the
// invariants held, progress for exactly the members, and Restore of the
// resulting ConfState giving the same configuration back.
func TestChangerMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		voters := rapid.SliceOfNDistinct(rapid.Uint64Range(1, 7), 1, 5, rapid.ID[uint64]).Draw(t, "voters")
		var learners []uint64
		for _, id := range rapid.SliceOfNDistinct(rapid.Uint64Range(1, 7), 0, 3, rapid.ID[uint64]).Draw(t, "learners") {
			if !slices.Contains(voters, id) {
				learners = append(learners, id)
			}
		}
		c := changerFrom(t, &raftpb.ConfState{Voters: voters, Learners: learners})
		drawChange := rapid.Custom(func(t *rapid.T) *raftpb.ConfChangeSingle {
			typ := rapid.SampledFrom([]raftpb.ConfChangeType{raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode,
				raftpb.ConfChangeRemoveNode, raftpb.ConfChangeAddNode, raftpb.ConfChangeRemoveNode,
				raftpb.ConfChangeType(9)}).Draw(t, "type")
			return &raftpb.ConfChangeSingle{Type: typ, NodeId: rapid.Uint64Range(0, 8).Draw(t, "id")}
		})
		steps := rapid.IntRange(1, 12).Draw(t, "steps")
		for step := range steps {
			op := rapid.SampledFrom([]string{"simple", "simple", "enter", "leave"}).Draw(t, "op")
			autoLeave := rapid.Bool().Draw(t, "autoleave")
			ccs := rapid.SliceOfN(drawChange, 0, 4).Draw(t, "changes")
			before := freeze(c)
			want, valid := modelOf(c.Config).expect(op, autoLeave, ccs)
			var cfg tracker.Config
			var prs tracker.ProgressMap
			var err error
			switch op {
			case "simple":
				cfg, prs, err = c.Simple(ccs...)
			case "enter":
				cfg, prs, err = c.EnterJoint(autoLeave, ccs...)
			case "leave":
				cfg, prs, err = c.LeaveJoint()
			}
			what := fmt.Sprintf("step %d: %s%v from %s", step, op, fmtChanges(ccs), c.Config)
			checkUnchanged(t, what, before, c)
			if !valid {
				if !errors.Is(err, ErrInvalidConfChange) {
					t.Fatalf("%s = %s, %v; want ErrInvalidConfChange", what, cfg, err)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v, want %s", what, err, want)
			}
			if got := cfg.String(); got != want.String() {
				t.Fatalf("%s = %s, want %s", what, got, want)
			}
			if err := checkInvariants(cfg, prs); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			members := cfg.Voters.IDs()
			for id := range cfg.Learners {
				members[id] = struct{}{}
			}
			if got, want := ids(prs), quorum.MajorityConfig(members).Slice(); !slices.Equal(got, want) {
				t.Fatalf("%s tracks %v, want the members %v", what, got, want)
			}
			for id := range cfg.LearnersNext {
				if _, ok := cfg.Voters[1][id]; !ok {
					t.Fatalf("%s: learner_next %d is no outgoing voter", what, id)
				}
			}
			trk := tracker.ProgressTracker{Config: cfg, Progress: prs}
			cs := trk.ConfState()
			rcfg, rprs, err := Restore(c, cs)
			if err != nil {
				t.Fatalf("%s: Restore(%v) = %v", what, cs, err)
			}
			if got := rcfg.String(); got != cfg.String() {
				t.Fatalf("%s: Restore(%v) = %s, want %s", what, cs, got, cfg)
			}
			if got, want := ids(rprs), ids(prs); !slices.Equal(got, want) {
				t.Fatalf("%s: Restore(%v) tracks %v, want %v", what, cs, got, want)
			}
			for id, pr := range rprs {
				if pr.IsLearner != prs[id].IsLearner {
					t.Fatalf("%s: Restore(%v): node %d learner=%v, want %v", what, cs, id, pr.IsLearner, prs[id].IsLearner)
				}
			}
			c.Config, c.Progress = cfg, prs
		}
	})
}

func fmtChanges(ccs []*raftpb.ConfChangeSingle) string {
	var parts []string
	for _, cc := range ccs {
		parts = append(parts, fmt.Sprintf("%s(%d)", cc.GetType(), cc.GetNodeId()))
	}
	return "[" + strings.Join(parts, " ") + "]"
}
