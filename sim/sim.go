package sim

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"time"

	"github.com/ironraft/ironraft/internal/check"
	"github.com/ironraft/ironraft/raft"
	"github.com/ironraft/ironraft/raftpb"
)

// Result is the outcome of one run.
type Result struct {
	Seed  uint64
	Stats Stats
	// Err is the first violation (a *check.Violation), nil if every check
	// passed.
	Err error
	// TraceHash is a hash of every trace event: two runs of a seed are
	// identical if and only if (barring collisions) their hashes are equal.
	TraceHash uint64
	// Tail is the last events of the run, formatted; set when Err != nil.
	Tail []string
	// Trace is the whole trace, formatted; set with Options.KeepTrace.
	Trace []string
}

// Checker returns the name of the checker that failed, "" if none.
func (r Result) Checker() string {
	if v, ok := r.Err.(*check.Violation); ok {
		return v.Checker
	}
	if r.Err != nil {
		return "error"
	}
	return ""
}

// Report renders a failure: seed, checker, message, trace tail and how to
// replay it.
func (r Result) Report() string {
	if r.Err == nil {
		return fmt.Sprintf("seed %d: ok", r.Seed)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "seed %d FAILED (%d nodes): %v\n", r.Seed, r.Stats.Nodes, r.Err)
	fmt.Fprintf(&b, "--- last %d events of seed %d (ticks elided) ---\n", len(r.Tail), r.Seed)
	for _, l := range r.Tail {
		b.WriteString(l)
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "--- replay: go test ./sim -run 'TestSim$' -seed=%d -v  (or: go run ./cmd/ironsim -seed %d -trace) ---\n", r.Seed, r.Seed)
	return b.String()
}

// Sim is one simulated cluster. It is driven by Run.
type Sim struct {
	opts Options
	p    params
	rng  *rand.Rand
	now  int64
	seq  uint64
	q    eventQueue
	ids  []uint64
	// nodes[id-1] is node id.
	nodes []*node
	net   network

	clients []*client
	// puts maps client<<32|op to a put not yet seen applied anywhere.
	puts   map[uint64]*op
	ops    []*op
	hclock int64

	elect      check.ElectionSafety
	appendOnly check.LeaderAppendOnly
	ledger     check.Ledger

	// cfg is the committed configuration, in effect from index cfgIndex
	// (membership.go).
	cfg      check.Config
	cfgIndex uint64
	// snapHash holds, per snapshot index, a hash of the first snapshot's
	// data taken there.
	snapHash map[uint64]snapSum

	f8      fig8
	partGen uint64
	healed  bool // the fault phase is over
	// lastConfAt is when a configuration change was last first applied;
	// one applied after the faults stopped (a change of the fault phase
	// committed late) can still move leadership, so the liveness rule for
	// client ops counts from it too.
	lastConfAt int64
	// linkLast is, once healed, the delivery time of the last message on
	// each (from, to) link: healed links are FIFO, like the transport's
	// one stream per peer.
	linkLast map[[2]uint64]int64
	tr       tracer
	err      error
	stats    Stats
	logCheck int
}

// Run runs one seed to the end (or to its first violation).
func Run(o Options) (res Result) {
	s := newSim(o)
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			s.err = check.Failf("core panic", "panic at t=%d: %v\n%s", s.now, p, debug.Stack())
		}
		res = s.result()
		res.Stats.Wall = time.Since(start)
		if res.Stats.Backend == BackendStorage {
			res.Stats.StorageSeeds, res.Stats.StorageWall = 1, res.Stats.Wall
		}
	}()
	s.run()
	return res
}

func newSim(o Options) *Sim {
	rng := rand.New(rand.NewPCG(o.Seed, o.Seed^0x9e3779b97f4a7c15))
	s := &Sim{opts: o, rng: rng, puts: map[uint64]*op{}, snapHash: map[uint64]snapSum{}}
	s.p = drawParams(rng, o)
	s.tr.keep = o.KeepTrace
	s.stats.Nodes = s.p.nodes
	s.stats.Lease = s.p.lease
	s.stats.Backend = s.p.backend
	var voters []uint64
	for i := 1; i <= s.p.pool; i++ {
		s.ids = append(s.ids, uint64(i))
		if i <= s.p.nodes {
			voters = append(voters, uint64(i))
		}
	}
	s.cfg = check.ConfigOf(&raftpb.ConfState{Voters: voters})
	s.net = newNetwork(s.p.pool)
	for _, id := range s.ids {
		if int(id) <= s.p.nodes {
			s.nodes = append(s.nodes, s.newNode(id, voters))
		} else {
			s.nodes = append(s.nodes, s.newNode(id, nil))
		}
	}
	for i := 0; i < s.p.clients; i++ {
		s.clients = append(s.clients, &client{id: i + 1})
	}
	return s
}

func (s *Sim) node(id uint64) *node { return s.nodes[id-1] }

func (s *Sim) schedule(e event) {
	s.seq++
	e.seq = s.seq
	s.q.push(e)
}

func (s *Sim) note(format string, args ...any) {
	s.tr.add(trRec{at: s.now, kind: trNote, s: fmt.Sprintf(format, args...)})
}

// fail records the first violation; the run stops after the current event.
func (s *Sim) fail(err error) {
	if err != nil && s.err == nil {
		s.err = err
	}
}

func (s *Sim) run() {
	s.note("start: %d nodes (pool %d), backend %s, params %+v", s.p.nodes, s.p.pool, s.p.backend, s.p)
	for _, n := range s.nodes[:s.p.nodes] {
		s.start(n)
	}
	s.schedule(event{at: 1, kind: evTick})
	for _, c := range s.clients {
		s.schedule(event{at: 1 + int64(s.rng.IntN(10)), kind: evClient, client: c.id})
	}
	s.scheduleFault()
	s.schedule(event{at: s.p.faultEnd, kind: evPhase})
	for len(s.q) > 0 && s.err == nil {
		e := s.q.pop()
		if e.at > s.p.ticks {
			break
		}
		s.now = e.at
		s.handle(e)
	}
	if s.err == nil {
		s.now = s.p.ticks
		s.finalChecks()
	}
}

func (s *Sim) handle(e event) {
	switch e.kind {
	case evTick:
		s.tick()
	case evDeliver:
		s.deliver(e.msg, e.inc)
	case evFsync:
		n := s.node(e.node)
		if n.up && n.inc == e.inc && n.busy {
			s.fsyncDone(n)
		}
	case evClient:
		s.issue(s.clients[e.client-1])
	case evTimeout:
		s.timeout(e.op)
	case evFault:
		s.injectFault()
	case evRestart:
		n := s.node(e.node)
		if !n.up && n.inc == e.inc && !n.removed {
			s.restart(n)
		}
	case evHeal:
		if e.part == s.partGen {
			s.healPartition()
		}
	case evPhase:
		s.endFaultPhase()
	case evCrash:
		n := s.node(e.node)
		if n.up && n.inc == e.inc && !s.healed {
			s.crashFor(n, e.fault, e.down, e.loseSent)
		}
	}
}

func (s *Sim) tick() {
	s.stats.Ticks = s.now
	for _, n := range s.nodes {
		if n.up {
			n.rn.Tick()
			s.process(n)
		}
	}
	if s.p.churn {
		s.stopRemovedNodes()
	}
	if s.now%200 == 0 {
		s.periodicChecks()
	}
	if s.p.liveness && s.now == s.p.leaderBy {
		s.checkLeader()
	}
	if s.now < s.p.ticks {
		s.schedule(event{at: s.now + 1, kind: evTick})
	}
}

// periodicChecks runs the checks that look at every durable log.
func (s *Sim) periodicChecks() {
	if s.err != nil {
		return
	}
	logs := s.durableLogs()
	s.logCheck++
	s.fail(check.CheckLogMatching(logs))
	if s.err == nil {
		s.checkDurable()
	}
}

func (s *Sim) durableLogs() []check.NodeLog {
	logs := make([]check.NodeLog, len(s.nodes))
	for i, n := range s.nodes {
		logs[i] = check.NodeLog{ID: n.id, Log: n.durable}
	}
	return logs
}

// members returns the nodes of the committed configuration.
func (s *Sim) members() []*node {
	var out []*node
	for _, id := range s.cfg.Members() {
		out = append(out, s.node(id))
	}
	return out
}

// checkLeader is the first liveness check: some time after the faults
// stop, a live node leads in the highest term of the committed
// configuration's members.
func (s *Sim) checkLeader() {
	var maxTerm uint64
	for _, n := range s.members() {
		maxTerm = max(maxTerm, n.term)
	}
	for _, n := range s.members() {
		if n.up && n.role == raft.StateLeader && n.term == maxTerm {
			return
		}
	}
	s.fail(check.Failf(check.LivenessName, "no leader in the highest term %d at t=%d, %d ticks after faults stopped at t=%d; roles: %s",
		maxTerm, s.now, s.now-s.p.faultEnd, s.p.faultEnd, s.roles()))
}

func (s *Sim) roles() string {
	var parts []string
	for _, n := range s.nodes {
		st := "down"
		switch {
		case !n.started:
			continue
		case n.removed:
			st = "removed"
		case !s.cfg.IsMember(n.id):
			st = "not a member, "
		}
		if n.up {
			st = fmt.Sprintf("%s term=%d applied=%d", n.role, n.term, n.applied)
			if n.role == raft.StateLeader {
				status := n.rn.Status()
				for _, id := range s.ids {
					if pr, ok := status.Progress[id]; ok {
						st += fmt.Sprintf(" [%d: %s]", id, pr.String())
					}
				}
			}
		}
		parts = append(parts, fmt.Sprintf("n%d %s", n.id, st))
	}
	return strings.Join(parts, "; ")
}

// finalChecks runs at the end of the run: log matching and durability on
// the final logs, liveness, and linearizability of the client history.
func (s *Sim) finalChecks() {
	s.periodicChecks()
	if s.err != nil {
		return
	}
	if s.p.liveness {
		s.checkLeader()
		var applied []uint64
		for _, n := range s.members() {
			if !n.up {
				s.fail(check.Failf(check.LivenessName, "node %d is down at the end", n.id))
				return
			}
			applied = append(applied, n.applied)
		}
		for _, a := range applied {
			if a != applied[0] || a < s.ledger.Len() {
				s.fail(check.Failf(check.LivenessName, "members %v did not converge by the end: applied indexes %v, highest committed %d; %s",
					s.cfg.Members(), applied, s.ledger.Len(), s.roles()))
				return
			}
		}
	}
	timeout := s.opts.LinearizabilityTimeout
	if timeout == 0 {
		timeout = 20 * time.Second
	}
	s.fail(check.CheckKVLinearizable(s.history(), timeout))
}

func (s *Sim) result() Result {
	st := s.stats
	st.Leaders = s.elect.Terms()
	for _, n := range s.nodes {
		st.MaxTerm = max(st.MaxTerm, n.term)
	}
	st.Committed = s.ledger.Len()
	st.Checks = s.elect.Checks + s.appendOnly.Checks + s.ledger.Checks + st.ContractChecks + s.logCheck
	r := Result{Seed: s.opts.Seed, Stats: st, Err: s.err, TraceHash: s.tr.hash}
	if s.err != nil {
		r.Tail = formatRecs(s.tr.tail())
	}
	if s.opts.KeepTrace {
		r.Trace = formatRecs(s.tr.all)
	}
	return r
}
