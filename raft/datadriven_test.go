package raft

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"

	"github.com/ironraft/ironraft/raftpb"
)

// TestDataDriven runs the protocol scenarios in testdata/*.txt against the
// harness in harness_test.go. Regenerate the golden output with
//
//	go test ./raft -run TestDataDriven -rewrite
//
// and review every changed line: the output is the specification.
//
// The script language (bare numbers are node IDs):
//
//	add-nodes n=3 [prevote=true] [checkquorum=true] [lease=false]
//	          [election=10] [heartbeat=1] [max-inflight=256]
//	          [max-inflight-bytes=..] [max-size-per-msg=..]
//	          [max-uncommitted-size=..] [forwarding=true]
//	          [index=0 term=0]      start every log after a snapshot at index@term
//	reset                           forget the whole cluster
//	campaign 1                      start an election (a pre-vote first if enabled)
//	propose 1 data                  propose an entry with the given data
//	read-index 1                    request a ReadIndex; names it r1, r2, ...
//	tick 1 [2 ...] [n=1]            tick the nodes n times in lockstep
//	tick-election 1 [2 ...]         tick in lockstep until one node's election
//	                                timer (or a leader's CheckQuorum timer) fires,
//	                                at most 2*election ticks
//	tick-heartbeat 1                tick heartbeat-timeout times
//	process-ready 1 [2 ...]         handle one Ready per node and print it
//	deliver-msgs [1 ...] [from=] [to=] [type=(..)] [drop=true] [skip=N] [count=N]
//	                                deliver (or drop) the matching queued
//	                                messages, in send order; bare IDs mean to=;
//	                                skip=N leaves the first N matches queued,
//	                                count=N takes at most N matches
//	stabilize [1 ...]               handle Readies and deliver messages among the
//	                                nodes until quiet (all nodes by default)
//	queue                           print the messages waiting for delivery
//	msg-counts                      print and reset the delivered message counts
//	partition 1 2 | 3               drop messages between the groups at delivery
//	isolate 3                       partition 3 from everyone else
//	heal                            remove the partition
//	crash 1                         drop the RawNode: lose all that was not persisted
//	restart 1                       start a RawNode from the persisted state
//	log 1 term=1,1,2x20 [commit=C]  replace node 1's stored log (after its
//	                                snapshot) with entries of these terms;
//	                                2x20 is twenty entries of term 2
//	set-term 1 T [vote=V] [commit=C] set node 1's stored hard state
//	status 1 / raft-log 1 / raft-state
//	                                status and raft-state also print the
//	                                configuration of the running nodes
//
// Membership, leadership transfer and snapshots (implemented in
// harness_test.go):
//
//	propose-conf-change 1 [transition=auto|implicit|explicit] v4 l5 r2
//	                                propose a ConfChange on node 1: v adds a
//	                                voter (or promotes a learner), l adds a
//	                                learner (or demotes a voter), r removes;
//	                                no changes is the empty change that
//	                                leaves a joint configuration
//	transfer-leader from=1 to=3     ask node 1 to hand leadership to 3
//	compact 1 5                     snapshot node 1's storage at applied index
//	                                5 with its current ConfState, then compact
//	                                the log up to it
//	add-node 4                      add an empty node (no configuration, empty
//	                                log) that joins when a leader contacts it;
//	                                it takes the options of add-nodes
//	report-snapshot 1 4 ok|fail     tell node 1 whether its snapshot to 4 was
//	                                sent (RawNode.ReportSnapshot)
//
// Entries print configuration changes decoded: 5@2 conf(v4 l5 r2), with the
// transition when it is not auto, and conf(leave-joint) for the empty
// change. A Ready whose Advance changed the node's configuration is
// followed by "N: config: ..." with the configuration now in force.
//
// log and set-term rewrite the storage; a running node is restarted from it.
func TestDataDriven(t *testing.T) {
	// Only testdata/*.txt: testdata/fuzz holds the fuzzers' corpora, which
	// a -rewrite run must not touch.
	paths, err := filepath.Glob(filepath.Join("testdata", "*.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if len(paths) == 0 {
		t.Fatal("no scenarios in testdata/*.txt")
	}
	for _, path := range paths {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			h := newHarness()
			datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
				out, err := h.run(d)
				if err != nil {
					if strings.HasPrefix(err.Error(), "BUG") {
						t.Errorf("%s: %v", d.Pos, err)
					}
					out += "error: " + err.Error() + "\n"
				}
				return out
			})
		})
	}
}

// args is the parsed command line of one directive.
type args struct {
	// ids are the bare numeric arguments, in order.
	ids []uint64
	// words are the other bare arguments, in order.
	words []string
	kv    map[string][]string
}

func parseArgs(d *datadriven.TestData) args {
	a := args{kv: map[string][]string{}}
	for _, arg := range d.CmdArgs {
		if len(arg.Vals) > 0 {
			a.kv[arg.Key] = arg.Vals
			continue
		}
		if id, err := strconv.ParseUint(arg.Key, 10, 64); err == nil {
			a.ids = append(a.ids, id)
		} else {
			a.words = append(a.words, arg.Key)
		}
	}
	return a
}

func (a args) uint(key string, def uint64) (uint64, error) {
	v, ok := a.kv[key]
	if !ok {
		return def, nil
	}
	n, err := strconv.ParseUint(v[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("argument %s: %w", key, err)
	}
	return n, nil
}

func (a args) bool(key string, def bool) (bool, error) {
	v, ok := a.kv[key]
	if !ok {
		return def, nil
	}
	b, err := strconv.ParseBool(v[0])
	if err != nil {
		return false, fmt.Errorf("argument %s: %w", key, err)
	}
	return b, nil
}

// one returns the single node ID argument.
func (h *harness) one(a args) (*hnode, error) {
	if len(a.ids) == 0 {
		return nil, fmt.Errorf("missing node ID")
	}
	n := h.nodes[a.ids[0]]
	if n == nil {
		return nil, fmt.Errorf("no node %d", a.ids[0])
	}
	return n, nil
}

// up returns the single running node named by a.
func (h *harness) up(a args) (*hnode, error) {
	n, err := h.one(a)
	if err != nil {
		return nil, err
	}
	if n.rn == nil {
		return nil, fmt.Errorf("node %d is down", n.id)
	}
	return n, nil
}

// some returns the node IDs named by a, or all of them.
func (h *harness) some(a args) ([]uint64, error) {
	if len(a.ids) == 0 {
		return h.ids, nil
	}
	for _, id := range a.ids {
		if h.nodes[id] == nil {
			return nil, fmt.Errorf("no node %d", id)
		}
	}
	return a.ids, nil
}

func (h *harness) run(d *datadriven.TestData) (string, error) {
	a := parseArgs(d)
	var b strings.Builder
	var err error
	switch d.Cmd {
	case "add-nodes":
		err = h.addNodes(&b, a)
	case "reset":
		*h = *newHarness()
		b.WriteString("ok\n")
	case "campaign":
		err = h.campaign(&b, a)
	case "propose":
		err = h.propose(&b, a)
	case "read-index":
		err = h.readIndex(&b, a)
	case "tick":
		err = h.tickCmd(&b, a)
	case "tick-election":
		err = h.tickElection(&b, a)
	case "tick-heartbeat":
		err = h.tickHeartbeat(&b, a)
	case "process-ready":
		err = h.processReadyCmd(&b, a)
	case "deliver-msgs":
		err = h.deliverMsgs(&b, a)
	case "stabilize":
		var ids []uint64
		if ids, err = h.some(a); err == nil {
			err = h.stabilize(&b, ids)
		}
	case "queue":
		for _, m := range h.queue {
			fmt.Fprintf(&b, "%s\n", h.fmtMsg(m))
		}
	case "msg-counts":
		h.msgCounts(&b)
	case "partition":
		err = h.partition(&b, d.CmdArgs)
	case "isolate":
		err = h.isolate(&b, a)
	case "heal":
		h.group = nil
		b.WriteString("healed\n")
	case "crash":
		err = h.crash(&b, a)
	case "restart":
		err = h.restart(&b, a)
	case "log":
		err = h.setLog(&b, a)
	case "set-term":
		err = h.setTerm(&b, a)
	case "status":
		err = h.status(&b, a)
	case "raft-log":
		var ids []uint64
		if ids, err = h.some(a); err == nil {
			for _, id := range ids {
				h.printLog(&b, h.nodes[id])
			}
		}
	case "raft-state":
		for _, id := range h.ids {
			h.printState(&b, h.nodes[id])
		}
		h.printConfigs(&b)
	case "propose-conf-change":
		err = h.proposeConfChange(&b, a)
	case "transfer-leader":
		err = h.transferLeader(&b, a)
	case "compact":
		err = h.compact(&b, a)
	case "add-node":
		err = h.addNode(&b, a)
	case "report-snapshot":
		err = h.reportSnapshot(&b, a)
	default:
		err = fmt.Errorf("unknown command %q", d.Cmd)
	}
	if b.Len() == 0 && err == nil {
		b.WriteString("ok\n")
	}
	return b.String(), err
}

func (h *harness) addNodes(b *strings.Builder, a args) error {
	if len(h.nodes) > 0 {
		return fmt.Errorf("add-nodes: the cluster exists; use reset first")
	}
	n, err := a.uint("n", 3)
	if err != nil {
		return err
	}
	var cfg Config
	u := func(key string, dst *uint64) {
		if err == nil {
			*dst, err = a.uint(key, *dst)
		}
	}
	var election, heartbeat, inflight, index, term uint64
	u("election", &election)
	u("heartbeat", &heartbeat)
	u("max-inflight", &inflight)
	u("max-inflight-bytes", &cfg.MaxInflightBytes)
	u("max-size-per-msg", &cfg.MaxSizePerMsg)
	u("max-uncommitted-size", &cfg.MaxUncommittedEntriesSize)
	u("index", &index)
	u("term", &term)
	if err != nil {
		return err
	}
	cfg.ElectionTick, cfg.HeartbeatTick, cfg.MaxInflightMsgs = int(election), int(heartbeat), int(inflight)
	flags := []struct {
		key string
		def bool
		set func(bool)
	}{
		{"prevote", true, func(v bool) { cfg.DisablePreVote = !v }},
		{"checkquorum", true, func(v bool) { cfg.DisableCheckQuorum = !v }},
		{"forwarding", true, func(v bool) { cfg.DisableProposalForwarding = !v }},
		{"lease", false, func(v bool) {
			if v {
				cfg.ReadOnlyOption = ReadOnlyLeaseBased
			}
		}},
	}
	for _, f := range flags {
		v, err := a.bool(f.key, f.def)
		if err != nil {
			return err
		}
		f.set(v)
	}
	voters := make([]uint64, n)
	for i := range voters {
		voters[i] = uint64(i + 1)
	}
	for _, id := range voters {
		st := NewMemoryStorage()
		cs := &raftpb.ConfState{Voters: voters}
		if err := st.ApplySnapshot(&raftpb.Snapshot{Metadata: &raftpb.SnapshotMetadata{Index: index, Term: term, ConfState: cs}}); err != nil {
			return err
		}
		st.SetHardState(&raftpb.HardState{Term: term, Commit: index})
		c := cfg
		c.ID = id
		h.cfg = cfg
		node := &hnode{id: id, st: st, cfg: c}
		if err := h.start(node); err != nil {
			return err
		}
		h.nodes[id] = node
		h.ids = append(h.ids, id)
	}
	for _, id := range h.ids {
		h.printState(b, h.nodes[id])
	}
	return nil
}

func (h *harness) campaign(b *strings.Builder, a args) error {
	n, err := h.up(a)
	if err != nil {
		return err
	}
	before := h.summary(n.id)
	if err := n.rn.Campaign(); err != nil {
		return err
	}
	h.printDiff(b, n.id, before)
	return nil
}

func (h *harness) printDiff(b *strings.Builder, id uint64, before summary) {
	if d := diff(id, before, h.summary(id)); d != "" {
		fmt.Fprintf(b, "%s\n", d)
	} else {
		fmt.Fprintf(b, "%d: no change\n", id)
	}
}

func (h *harness) propose(b *strings.Builder, a args) error {
	n, err := h.up(a)
	if err != nil {
		return err
	}
	if len(a.words) != 1 {
		return fmt.Errorf("propose: want one data word, got %q", a.words)
	}
	data := a.words[0]
	reportProposal(b, n, fmt.Sprintf("%q", data), n.rn.Propose([]byte(data)))
	return nil
}

// reportProposal prints where a proposal described by desc went, or why it
// was refused.
func reportProposal(b *strings.Builder, n *hnode, desc string, err error) {
	if err != nil {
		fmt.Fprintf(b, "%d: propose %s: %v\n", n.id, desc, err)
		return
	}
	if r := n.rn.raft; r.state == StateLeader {
		fmt.Fprintf(b, "%d: proposed %s at %d\n", n.id, desc, r.raftLog.lastIndex())
	} else {
		fmt.Fprintf(b, "%d: proposed %s, forwarded to %d\n", n.id, desc, r.lead)
	}
}

func (h *harness) readIndex(b *strings.Builder, a args) error {
	n, err := h.up(a)
	if err != nil {
		return err
	}
	id, err := n.rn.ReadIndex()
	if err != nil {
		fmt.Fprintf(b, "%d: read-index: %v\n", n.id, err)
		return nil
	}
	name := fmt.Sprintf("r%d", len(h.readNames)+1)
	h.readNames[readKey{n.id, id}] = name
	fmt.Fprintf(b, "%d: read-index %s\n", n.id, name)
	return nil
}

// tick ticks the nodes in lockstep, at most max times, stopping after the
// tick where stop reports true for any node. It returns the ticks done.
func (h *harness) tick(ids []uint64, limit int, stop func(r *raft) bool) int {
	for i := 1; i <= limit; i++ {
		fired := false
		for _, id := range ids {
			h.nodes[id].rn.Tick()
			fired = fired || stop(h.nodes[id].rn.raft)
		}
		if fired {
			return i
		}
	}
	return limit
}

func (h *harness) upIDs(a args) ([]uint64, error) {
	if len(a.ids) == 0 {
		return nil, fmt.Errorf("missing node ID")
	}
	for _, id := range a.ids {
		if _, err := h.up(args{ids: []uint64{id}}); err != nil {
			return nil, err
		}
	}
	return a.ids, nil
}

func (h *harness) printDiffs(b *strings.Builder, ids []uint64, before []summary) {
	for i, id := range ids {
		if d := diff(id, before[i], h.summary(id)); d != "" {
			fmt.Fprintf(b, "%s\n", d)
		}
	}
}

func (h *harness) summaries(ids []uint64) []summary {
	s := make([]summary, len(ids))
	for i, id := range ids {
		s[i] = h.summary(id)
	}
	return s
}

func (h *harness) tickCmd(b *strings.Builder, a args) error {
	ids, err := h.upIDs(a)
	if err != nil {
		return err
	}
	count, err := a.uint("n", 1)
	if err != nil {
		return err
	}
	before := h.summaries(ids)
	h.tick(ids, int(count), func(*raft) bool { return false })
	h.printDiffs(b, ids, before)
	if b.Len() == 0 {
		b.WriteString("no change\n")
	}
	return nil
}

func (h *harness) tickElection(b *strings.Builder, a args) error {
	ids, err := h.upIDs(a)
	if err != nil {
		return err
	}
	maxE := 0
	for _, id := range ids {
		maxE = max(maxE, h.nodes[id].rn.raft.electionTimeout)
	}
	before := h.summaries(ids)
	// Tick increments electionElapsed first: it is 0 afterwards only if the
	// election (or CheckQuorum) timer fired in this tick.
	n := h.tick(ids, 2*maxE, func(r *raft) bool { return r.electionElapsed == 0 })
	fmt.Fprintf(b, "ticked %d\n", n)
	h.printDiffs(b, ids, before)
	return nil
}

func (h *harness) tickHeartbeat(b *strings.Builder, a args) error {
	n, err := h.up(a)
	if err != nil {
		return err
	}
	before := h.summary(n.id)
	h.tick([]uint64{n.id}, n.rn.raft.heartbeatTimeout, func(*raft) bool { return false })
	h.printDiff(b, n.id, before)
	return nil
}

func (h *harness) processReadyCmd(b *strings.Builder, a args) error {
	ids, err := h.upIDs(a)
	if err != nil {
		return err
	}
	for _, id := range ids {
		did, err := h.processReady(b, id)
		if err != nil {
			return err
		}
		if !did {
			fmt.Fprintf(b, "%d: no Ready\n", id)
		}
	}
	return nil
}

func (h *harness) deliverMsgs(b *strings.Builder, a args) error {
	from, err := a.uint("from", 0)
	if err != nil {
		return err
	}
	to, err := a.uint("to", 0)
	if err != nil {
		return err
	}
	drop, err := a.bool("drop", false)
	if err != nil {
		return err
	}
	var types []raftpb.MessageType
	for _, s := range a.kv["type"] {
		t, ok := raftpb.MessageType_value[s]
		if !ok {
			return fmt.Errorf("unknown message type %q", s)
		}
		types = append(types, raftpb.MessageType(t))
	}
	count, err := a.uint("count", 0)
	if err != nil {
		return err
	}
	skip, err := a.uint("skip", 0)
	if err != nil {
		return err
	}
	var matched, taken uint64
	msgs := h.take(func(m *raftpb.Message) bool {
		if count > 0 && taken == count {
			return false
		}
		ok := (from == 0 || m.From == from) && (to == 0 || m.To == to) &&
			(len(a.ids) == 0 || slices.Contains(a.ids, m.To)) &&
			(len(types) == 0 || slices.Contains(types, m.Type))
		if !ok {
			return false
		}
		if matched++; matched <= skip {
			return false
		}
		taken++
		return true
	})
	if len(msgs) == 0 {
		b.WriteString("no messages\n")
	}
	for _, m := range msgs {
		h.deliver(b, m, drop, true)
	}
	return nil
}

func (h *harness) msgCounts(b *strings.Builder) {
	keys := make([]string, 0, len(h.counts))
	for k := range h.counts {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		fmt.Fprintf(b, "%s: %d\n", k, h.counts[k])
	}
	h.counts = map[string]int{}
}

func (h *harness) partition(b *strings.Builder, cmdArgs []datadriven.CmdArg) error {
	group := map[uint64]int{}
	g := 0
	var sides [][]string
	side := []string{}
	for _, arg := range cmdArgs {
		if arg.Key == "|" {
			g++
			sides = append(sides, side)
			side = []string{}
			continue
		}
		id, err := strconv.ParseUint(arg.Key, 10, 64)
		if err != nil || h.nodes[id] == nil {
			return fmt.Errorf("partition: bad node %q", arg.Key)
		}
		group[id] = g
		side = append(side, arg.Key)
	}
	sides = append(sides, side)
	for _, id := range h.ids {
		if _, ok := group[id]; !ok {
			return fmt.Errorf("partition: node %d is in no group", id)
		}
	}
	h.group = group
	var parts []string
	for _, s := range sides {
		parts = append(parts, "{"+strings.Join(s, " ")+"}")
	}
	fmt.Fprintf(b, "partition: %s\n", strings.Join(parts, " | "))
	return nil
}

func (h *harness) isolate(b *strings.Builder, a args) error {
	n, err := h.one(a)
	if err != nil {
		return err
	}
	h.group = map[uint64]int{}
	var rest []string
	for _, id := range h.ids {
		if id == n.id {
			h.group[id] = 1
		} else {
			rest = append(rest, strconv.FormatUint(id, 10))
		}
	}
	fmt.Fprintf(b, "partition: {%s} | {%d}\n", strings.Join(rest, " "), n.id)
	return nil
}

func (h *harness) crash(b *strings.Builder, a args) error {
	n, err := h.up(a)
	if err != nil {
		return err
	}
	r := n.rn.raft
	var lost []string
	if ents := r.raftLog.unstableEntries(); len(ents) > 0 {
		lost = append(lost, "entries "+fmtEnts(ents))
	}
	if hs := r.hardState(); !hardStateEqual(hs, n.st.hardState) {
		lost = append(lost, fmt.Sprintf("hard state term=%d vote=%d commit=%d", hs.GetTerm(), hs.GetVote(), hs.GetCommit()))
	}
	if len(r.msgs) > 0 {
		lost = append(lost, fmt.Sprintf("%d unsent messages", len(r.msgs)))
	}
	n.rn = nil
	fmt.Fprintf(b, "%d: crashed", n.id)
	if len(lost) > 0 {
		fmt.Fprintf(b, "; lost %s", strings.Join(lost, ", "))
	}
	b.WriteString("\n")
	return nil
}

func (h *harness) restart(b *strings.Builder, a args) error {
	n, err := h.one(a)
	if err != nil {
		return err
	}
	if n.rn != nil {
		return fmt.Errorf("node %d is running", n.id)
	}
	n.restarts++
	if err := h.start(n); err != nil {
		return err
	}
	fmt.Fprintf(b, "restarted ")
	h.printState(b, n)
	return nil
}

// rewriteStorage replaces node n's storage by one with the same snapshot,
// the given entries and hard state, and restarts n if it is running.
func (h *harness) rewriteStorage(n *hnode, ents []*raftpb.Entry, hs *raftpb.HardState) error {
	st := NewMemoryStorage()
	if err := st.ApplySnapshot(n.st.snapshot); err != nil {
		return err
	}
	if err := st.Append(ents); err != nil {
		return err
	}
	st.SetHardState(hs)
	n.st = st
	if n.rn != nil {
		n.restarts++
		return h.start(n)
	}
	return nil
}

func (h *harness) setLog(b *strings.Builder, a args) error {
	n, err := h.one(a)
	if err != nil {
		return err
	}
	snap := n.st.snapshot.GetMetadata()
	var ents []*raftpb.Entry
	// "2x20" stands for twenty entries of term 2.
	for _, s := range strings.Split(strings.Join(a.kv["term"], ","), ",") {
		ts, reps, ok := strings.Cut(strings.TrimSpace(s), "x")
		if !ok {
			reps = "1"
		}
		t, err := strconv.ParseUint(ts, 10, 64)
		if err != nil {
			return fmt.Errorf("log: term %q: %w", s, err)
		}
		n, err := strconv.ParseUint(reps, 10, 64)
		if err != nil {
			return fmt.Errorf("log: term %q: %w", s, err)
		}
		for range n {
			ents = append(ents, &raftpb.Entry{Index: snap.GetIndex() + 1 + uint64(len(ents)), Term: t})
		}
	}
	hs := n.st.hardState
	last := snap.GetIndex() + uint64(len(ents))
	commit, err := a.uint("commit", min(hs.GetCommit(), last))
	if err != nil {
		return err
	}
	term := hs.GetTerm()
	if len(ents) > 0 {
		term = max(term, ents[len(ents)-1].Term)
	}
	if err := h.rewriteStorage(n, ents, &raftpb.HardState{Term: term, Vote: hs.GetVote(), Commit: commit}); err != nil {
		return err
	}
	h.printLog(b, n)
	return nil
}

func (h *harness) setTerm(b *strings.Builder, a args) error {
	n, err := h.one(a)
	if err != nil {
		return err
	}
	if len(a.ids) != 2 {
		return fmt.Errorf("set-term: want node ID and term")
	}
	hs := n.st.hardState
	vote, err := a.uint("vote", 0)
	if err != nil {
		return err
	}
	commit, err := a.uint("commit", hs.GetCommit())
	if err != nil {
		return err
	}
	ents := slices.Clone(storageEntries(n.st))
	if err := h.rewriteStorage(n, ents, &raftpb.HardState{Term: a.ids[1], Vote: vote, Commit: commit}); err != nil {
		return err
	}
	h.printState(b, n)
	return nil
}

func (h *harness) status(b *strings.Builder, a args) error {
	n, err := h.up(a)
	if err != nil {
		return err
	}
	st := n.rn.Status()
	fmt.Fprintf(b, "%d: %s term=%d vote=%d lead=%d commit=%d applied=%d last=%d\n", st.ID, st.RaftState,
		st.HardState.GetTerm(), st.HardState.GetVote(), st.Lead, st.HardState.GetCommit(), st.Applied, st.LastIndex)
	fmt.Fprintf(b, "  config: %s\n", st.Config)
	if t := n.rn.raft.leadTransferee; t != None {
		fmt.Fprintf(b, "  transferring leadership to %d\n", t)
	}
	ids := make([]uint64, 0, len(st.Progress))
	for id := range st.Progress {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		pr := st.Progress[id]
		fmt.Fprintf(b, "  %d: %s\n", id, pr.String())
	}
	return nil
}
