// Package sim is the deterministic simulator of ironraft: it runs clusters
// of the production runtime's node.Replica (the core, raft.RawNode, driven
// by the runtime's own Ready steps) over a simulated network and disk,
// under faults and a client workload, and checks Raft's safety properties,
// the runtime's Ready ordering, linearizability of the client history, and
// liveness after the faults stop.
//
// # Determinism
//
// One uint64 seed drives a whole run. Every random choice (cluster size,
// fault mix, message delays and drops, crash times, client ops, and the
// Config.Rand and the Replica's PIDSource of every node incarnation) comes
// from one math/rand/v2 PCG seeded by the seed, drawn in event order.
// Nothing iterates a Go map in an order that matters and nothing reads the
// wall clock (only Stats.Wall and porcupine's timeout do, which do not
// feed back into the run). Time is ticks. Events (message deliveries, the
// tick, fsync completions, client ops and timeouts, faults, restarts,
// heals) wait in a heap ordered by (tick, sequence number), so ties run in
// scheduling order. Every trace event feeds a hash; TestDeterminism runs
// seeds twice and compares it.
//
// # Nodes and persistence
//
// A node has a durable store (durable.go; it survives crashes; it is the
// node's node.LogStore, so also its Config.Storage) and, while up, a
// node.Replica (its RawNode and the KV state machine, kvState, which
// implements node.StateMachine), an inbox and its pending reads. Every
// live node ticks once per tick (RawNode.Tick; the simulator steps
// messages, ReadIndex, TransferLeader and ReportSnapshot on the RawNode
// too, as the runtime does).
//
// The store is one of two backends (Options.Backend, -backend; the "start"
// note and the stats line name it). BackendAuto, the default, is the real
// storage for every seed; -backend=memory runs the same seed on a
// raft.MemoryStorage that survives crashes whole, to tell a storage bug
// from a core bug. The real one is
// package storage (WAL and snapshot files) on the node's own vfs.MemFS,
// under a vfs.FaultFS, in directory /n<id>, with storage.Options drawn by
// the seed (4 KiB, 16 KiB or 1 MiB WAL segments, one or two snapshot
// files kept). Initial voters Bootstrap it with the initial configuration;
// joining nodes start with it empty. The Ready is written with
// SaveReady(HardState, Entries, Snapshot, MustSync), so a Ready without
// MustSync (a commit index) is written but not synced; application
// snapshots go through CreateSnapshot and Compact. Any storage error (none
// happens without injected faults) fails the run (checker
// "persistence"). A crash closes nothing: the node's disk becomes
// MemFS.Crash() (what was synced) and storage.Open recovers the storage
// from it at once, so that the durability checks that follow a crash
// judge what the disk really kept, and every crash exercises recovery.
//
// The Ready loop (ready.go) is the runtime's: the simulator calls the
// Replica's three phases one at a time, so that an fsync takes simulated
// time and a crash can land between them, and checks each:
//
//  1. Replica.Ready takes the Ready and hands its MessagesBeforePersist to
//     the Replica's Send; the simulator checks the Ready, then those
//     messages against it (its entries are not durable yet), and puts
//     them on the network.
//  2. If MustSync, the "fsync" completes after 0..fsyncMax ticks; until
//     then the node is busy: messages that arrive wait in its inbox (ticks
//     and client requests still reach the RawNode, which allows steps
//     between Ready and Advance). After a client's put reaches a busy
//     leader, the simulator sends what RawNode.MessagesBeforeAdvance hands
//     out (the appends for the new entry), checked like
//     MessagesBeforePersist, as node.Node does. A Ready without MustSync
//     completes at once.
//  3. On completion Replica.Persist writes the Snapshot, Entries and
//     HardState to the durable store (LogStore.SaveReady: MemoryStorage's
//     ApplySnapshot, Append and SetHardState, or storage's SaveReady), then
//     hands MessagesAfterPersist to Send, which checks them against the
//     durable state and sends them.
//  4. The simulator checks the CommittedEntries, then Replica.Finish calls
//     Advance and applies the Ready to the state machine: it restores it
//     from the Snapshot's data (the runtime's snapshot payload: an address
//     book header, then the state machine's bytes) and applies the
//     CommittedEntries' commands, unwrapped from the runtime's envelope
//     (origin node, proposal ID, command). ReadStates are served once
//     their index is applied; then the inbox is stepped.
//
// A crash loses everything but the durable storage: a Ready whose fsync
// was in flight (and its after-persist messages), the inbox, the state
// machine and pending reads. A torn-persist crash (by seed, 0..3% of the
// Readys that need an fsync during the fault phase, in the churn profiles)
// writes only the first steps of a Ready, in the documented order (the
// snapshot but not the entries, the entries but not the HardState), then
// crashes. On the real storage it runs SaveReady with the disk crashing
// (FaultFS.CrashAfter) after 0..2 file operations (0..5 with a snapshot),
// tears the last write that reached the disk to a random prefix if it is
// not synced (MemFS.TearLastWrite), and crashes: the WAL must cut the torn
// tail. A restart builds a new Replica (node.NewReplica) on the same
// storage: it restores a new state machine from the durable snapshot and
// starts the RawNode with Applied at its index (the core hands out the
// committed entries after it again; the log may start below the snapshot,
// as compaction keeps a tail), with a fresh Rand source and PIDSource
// drawn from the simulation's generator: ReadIndex request IDs and
// proposal IDs come from them, so a new incarnation must not reuse the old
// sequences.
//
// # Snapshots and membership
//
// Half the seeds (all of the churn profiles) snapshot: a node whose
// applied index is snapGap (5..50) past its snapshot calls CreateSnapshot
// at its applied index with RawNode.ConfState and data in the runtime's
// format (node.EncodeSnapshotData: an address book header naming every
// member at its simulated address, then what the state machine's
// SnapshotView writes), then Compact keeping a random tail of 0..snapTail
// entries. A follower whose entries the leader compacted gets a MsgSnap;
// the simulator calls ReportSnapshot(to, true) on the sender when it
// delivers one and ReportSnapshot(to, false) when the network loses it.
//
// A fifth of the default seeds (letting the seed pick the size), and every
// seed of ProfileChurn and ProfileChurnHunt, have membership churn
// (membership.go): 3 to 5 initial voters and a pool of up to 7 node IDs.
// A churn fault proposes on the current leader one of: add a learner (a
// new node starts with empty storage and joins through needs_snapshot and
// the leader's snapshot), promote a learner, demote a voter through a
// joint configuration, remove a member (a follower or the leader itself),
// replace two voters in one joint change, or transfer leadership to a
// random voter. Changes go through Replica.ProposeConfChange, with the
// added node's address when the change adds one new node (the runtime
// takes one address per change). Churn never leaves fewer than 3 voters.
// The committed configuration is the replay of the configuration changes
// in log order, advanced when the first node applies one. A removed node
// is stopped for good once every voter of the committed configuration has
// durably learned that its removal is committed (earlier, voters still in
// the old or joint configuration may need its vote). Clients talk only to
// members of the committed configuration, and the liveness checks judge
// its members.
//
// Initial voters start with SetConfState(Voters: initial voters) on their
// durable storage (Bootstrap on the real storage).
//
// A joining node starts with empty storage; a leader that never took a
// snapshot sends it the bootstrap snapshot at index 0 (the initial
// configuration), which both backends store.
//
// A leader removed by a change does not step down at once when it applies
// it: the other voters may not know yet that the change is committed (the
// one message carrying the new commit index may be lost) and would then
// need the removed node's vote under the old configuration. It hands
// leadership to the most up-to-date remaining voter and keeps heartbeating
// for up to an election timeout (ProfileChurn seed 1398 and ProfileChurnHunt
// seed 186 stalled for good before that).
// Config: ElectionTick 10, HeartbeatTick 1, and by seed small
// MaxSizePerMsg / MaxInflightMsgs (to exercise probing and flow control),
// proposal forwarding off (10% of seeds), and ReadOnlyLeaseBased (20% of
// seeds). Lease reads are safe here because every node ticks at the same
// rate and the simulator injects no process pauses. Crashed nodes may
// restart at once: with leases the core makes a restarted node wait an
// election timeout before voting, since it may have granted the lease just
// before it crashed.
//
// # Network and faults
//
// A message is dropped with the seed's drop rate, else delivered after
// 1..maxDelay ticks (so reordered), and duplicated with the seed's
// duplicate rate. Partitions are sets of cut directed links, checked when a
// message arrives: isolate one node, a minority/majority split, asymmetric
// one-way cuts (a node that cannot send, or cannot receive, plus random
// one-way links), and a bridge node that sees both halves of a split. Half
// the time the leader is the node singled out. A partition heals after a
// random time or is replaced by the next. Crashes hit a random node or the
// current leader and last a random downtime. Faults come at random gaps
// during the first 3/4 of the run; then the fault phase ends: the network
// heals, crashed nodes restart, drops and duplicates stop, and message
// delays (at most 3 ticks) and fsyncs (at most 2) become short enough for
// Raft's timing requirement: a vote round trip well below the election
// timeout. Each link also becomes FIFO, as the transport's one stream per
// peer is: with one-entry messages and a small inflight window, random
// reordering alone makes a follower reject out-of-order appends and fall
// back to probing often enough to stall it (seed 1738).
//
// ProfileDefault draws every rate from the seed (some seeds are quiet,
// some brutal). ProfileBugHunt, used by TestInjectedBugsCaught, has
// frequent leader crashes and partitions, short downtimes, slow fsyncs
// (2..6 ticks: crashes during fsync are common), few entries per MsgApp
// and a read-heavy workload, so that reads arrive right after elections.
// It adds faults aimed at leaders (fig8.go), all legal (crashes,
// downtimes, lost messages):
//
//   - new-leader crash: half of the newly elected leaders crash within 3
//     ticks (before their no-op spreads, leaving divergent uncommitted
//     tails of many terms);
//   - hold-new-term: the other half have their MsgApps that carry entries
//     of their own term lost, as they arrive at a follower that would
//     accept them, for 10..30 ticks; MsgApps that would be refused go
//     through, so the leader probes backwards and sends entries of earlier
//     terms alone;
//   - commit crash: a fifth of the leaders crash right after they persist
//     a higher commit index (before followers learn it);
//   - old-term commit crash: a leader that advances its commit index to an
//     entry of an earlier term (only the CommitPreviousTermByCount bug
//     does that) crashes right after applying it, and the messages it sent
//     that are still in flight are lost;
//   - the Figure 8 script (paper §5.4.2), run whenever it is idle: leader A
//     crashes as soon as its no-op is durable, with its messages lost (a
//     tail-crash: the no-op is a divergent tail of A's log alone), and
//     stays down; the next leader B is tail-crashed too; A restarts and
//     only its vote requests get through until it leads again (or 60
//     ticks pass); it then leads with its term held back, so it can only
//     replicate its old tail; if it commits that tail by counting replicas
//     it crashes (above), B restarts and only B's vote requests get
//     through: B's tail has the higher last term, B wins and overwrites
//     an entry A committed. The scripted elections get no other
//     new-leader fault. A correct core survives it all: A commits nothing
//     until the hold ends, then its no-op and its tail together.
//
// With the Ready contract and leader commit rule checks off, leader
// completeness catches CommitPreviousTermByCount in about nine seeds out
// of ten of the profile; random faults alone managed one in 500.
//
// ProfileChurn is the default mix with churn always on, snapshots every
// 5..30 applied entries and torn-persist crashes. ProfileChurnHunt, used
// by TestInjectedBugsCaught for the membership and snapshot bugs, has
// churn as the most frequent fault, half of the churn faults proposing a
// second change at once (a correct leader refuses it), frequent
// partitions (which strand learners with a minority of voters),
// duplicated and delayed messages (stale MsgSnaps) and compaction every
// 3..5 entries.
//
// # Injected bugs and the checkers that catch them
//
// TestInjectedBugsCaught runs each bug (raft.InjectedBugs) until a seed
// fails (1500 ticks, at most -bugseeds seeds):
//
//	bug                          profile     caught by (seeds)           with the direct rule checks off
//	CommitPreviousTermByCount    bughunt     leader commit rule (1)      leader completeness (1)
//	VoteWithoutLogCheck          bughunt     leader completeness (1)
//	AckAppendBeforePersist       bughunt     ready contract (1)          committed entries durable (1)
//	ReadBeforeTermCommit         bughunt     linearizability (2)
//	ApplyConfChangeOnPropose     churnhunt   configuration replay (1)    core panic (11)
//	AllowTwoPendingConfChanges   churnhunt   one pending change (1)      core panic (15)
//	CountLearnerVotes            churnhunt   state-machine safety (6)    state-machine safety (6)
//	RemovedLeaderStaysLeader     churnhunt   removed leader (1)          liveness (47)
//	InstallStaleSnapshot         churnhunt   snapshot install (1)        persistence (1)
//
// (The seed counts are those of the runs through node.Replica; the
// envelope the runtime puts around every command changes message sizes,
// and so every run, from the simulator that drove the RawNode directly.)
// "Core panic" is the core's own invariant (a committed configuration
// change that is invalid when applied); "persistence" is the storage
// refusing a snapshot older than the one it holds. A removed leader that
// keeps leading rarely breaks an end-to-end property the simulator
// observes (it still replicates the log it was given and loses its
// followers when they elect a leader in a higher term; seed 47 stalls the
// cluster for good), so the direct rule is what catches it.
//
// # Client workload and history
//
// 3 to 8 clients each have at most one op outstanding, on a random live
// node, over 5 keys. Put(k, v) is proposed with Replica.Propose; its
// command encodes (client, op, key, value) (check.KVCommand), which the
// runtime wraps in its envelope, and the KV state machine applies each
// (client, op) at most once, like a client session table, so a proposal
// duplicated by the network is harmless. Get(k) calls
// RawNode.ReadIndex, waits for the ReadState, then until its node has
// applied ReadState.Index, and reads that node's state machine.
//
// A put completes when it is first applied by any node (the simulator
// watches every node's applies). A client gives up after 50 ticks, or when
// its get's node crashes: the outcome is then unknown to the client. In the
// porcupine history an unknown put is "maybe happened": its return time is
// when it is first seen applied later in the run, else +infinity; it is
// never dropped. A put that Propose refused synchronously had no effect and
// is left out; so are gets that failed or whose outcome is unknown.
//
// # Checkers
//
// Package internal/check holds the checkers, fed as the run goes:
//
//   - ready contract: a message leaving a node promises nothing that is not
//     durable (a MsgAppResp's match index is in the durable log and not in
//     the Ready still being persisted; a granted vote or a vote request is
//     durable, or superseded by a later durable term; leader messages carry
//     a durable term), a Ready that changes term, vote or log asks for an
//     fsync, and every applied entry is durable;
//   - runtime (ready.go, checked by the simulator itself): the Replica
//     sends exactly the Ready's MessagesBeforePersist inside Ready and its
//     MessagesAfterPersist inside Persist (after SaveReady; the ready
//     contract judges both), Finish applies up to the index the Ready's
//     entries reach, every snapshot's data decodes
//     (node.DecodeSnapshotData), and a proposal made on an incarnation
//     completes (OnResult) with the result of the op it proposed;
//   - leader commit rule (paper §5.4.2): a leader advances its commit
//     index only to an entry of its own term;
//   - election safety: at most one leader per term (Ready.SoftState);
//   - leader append-only: a leader's Readys only append after its first;
//   - leader completeness: a new leader holds every entry committed in an
//     earlier term (its durable log plus the Ready being persisted);
//   - state-machine safety: every commit index a node persists and every
//     entry it applies agrees with a global ledger of committed entries
//     (so a restarted node never applies something different either);
//   - log matching: over all durable logs every 200 ticks and at the end;
//   - committed entries durable: every committed entry is in enough
//     durable logs of the committed configuration's voters that every
//     quorum holds it (in a joint configuration, of one half), checked
//     after every crash, every 200 ticks and at the end; an index
//     compacted into a node's snapshot counts as held;
//   - snapshots: every snapshot taken at an index holds the same state
//     machine, and a snapshot installed has the committed entry's term at
//     its index; a snapshot installed never lies at or below the node's
//     durable commit index (except the index-0 one a joining node gets);
//   - configuration replay: after every Advance (and right after
//     ProposeConfChange) RawNode.ConfState equals the configuration
//     replayed, by an independent model (check.Config), from the snapshot
//     the node started from or installed and the configuration changes it
//     applied since: a configuration changes only then;
//   - one pending change: a leader appends a configuration change only
//     when every earlier change in its log is applied (check.
//     CheckOnePendingChange documents why this is the rule and what it
//     implies for committed logs);
//   - removed leader steps down: a leader that applied a configuration
//     without itself as a voter hands over and no longer leads once its
//     handover period (an election timeout, plus slack) is over;
//   - linearizability: the client history against a KV model partitioned
//     by key, with porcupine; a check that does not finish in time fails
//     the run;
//   - liveness: 30 election timeouts after the faults stop a live member
//     leads in the highest term of the members; every op issued 10
//     election timeouts after the faults stop (and after the last
//     configuration change was first applied, since a change of the fault
//     phase committed late can still move leadership) completes; at the end every
//     member of the committed configuration is up and all have applied the
//     same, highest committed index.
//
// A panic in the core ends the run as a failure of checker "core panic".
//
// # Replaying a failure
//
// A failing seed prints itself, the failing checker and the last 300
// events (ticks elided): message deliveries and drops ("t=123 1->2 MsgApp
// term=3 prev=(10,2) ents=[11..14] commit=9"), crashes, restarts,
// partitions, role changes, fsyncs, applies and client ops. Replay it with
//
//	go test ./sim -run 'TestSim$' -seed=N -v     (full trace with -v or -trace)
//	go run ./cmd/ironsim -seed N -trace
//
// TestSim runs seeds 1..-seeds (default 300; CI passes -seeds=2000) on
// GOMAXPROCS workers, -ticks ticks each (default 3000), and prints "sim:"
// summary lines, among them the backends with the mean wall time of a
// seed on each. -backend=memory or -backend=storage (also for the profile
// tests and ironsim) runs every seed on one backend.
package sim
