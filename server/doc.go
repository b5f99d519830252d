// Package server is ironkv: a replicated key-value server that speaks the
// etcd v3 gRPC API (on the published go.etcd.io/etcd/api/v3 stubs), so that
// etcdctl and clientv3 programs work against it unchanged. It runs a
// node.Node (Raft) over the gRPC peer transport, with a state machine made
// of the kv store (etcd's MVCC semantics) and a member table.
//
//	s, err := server.New(server.Config{Name: "m1", DataDir: "/var/lib/ironkv", ...})
//	err = s.Start(ctx)        // bootstrap, join or restart; then serve
//	addrs := s.ClientAddrs()  // the bound client addresses (also PeerAddr, MetricsAddrs)
//	<-s.Done()                // the member was removed, or its node failed
//	err = s.Stop(ctx)         // hand leadership over, drain, stop
//
// # Services
//
// KV (Range, Put, DeleteRange, Txn, Compact), Watch, Lease (Grant, Revoke,
// KeepAlive, TimeToLive, Leases), Cluster (MemberList, MemberAdd,
// MemberRemove, MemberPromote), Maintenance (Status, Alarm, MoveLeader) and
// the gRPC health service. Everything else (Auth, MemberUpdate, Defragment,
// Hash, HashKV, Snapshot, Downgrade) answers codes.Unimplemented. Every
// response header carries the cluster ID, this member's ID, the kv revision
// (after the operation) and the Raft term. Errors are etcd's (rpctypes), with
// its exact texts and codes, since clients recognise errors by their text;
// toGRPCError maps the node's errors.
//
// # State machine and commands
//
// The node applies commands to stateMachine: the kv.Store plus a member
// table (name, peer URLs, client URLs, and a "promote when caught up" flag
// per member ID). Raft's configuration says who is a member and who votes;
// the table only describes them. A command is one kind byte and a protobuf
// payload:
//
//	kind  payload                               effect
//	1     etcdserverpb.InternalRaftRequest      kv.Store.Apply (Put, DeleteRange, Txn, Compaction, LeaseGrant, LeaseRevoke)
//	2     membershippb.Member (ID, name, client and peer URLs)   publish: a member's attributes, proposed after every start
//	3     membershippb.Member (ID, peer URLs, is_learner)        MemberAdd: peer URLs; is_learner false = promote when caught up
//	4     membershippb.Member (ID)                               forget a removed member's attributes
//
// Every command advances the kv store's applied index. A snapshot is the
// member table (format in snapshot.go) followed by the kv snapshot (kv's
// package doc); Restore checks the table section's checksum and lets
// kv.Restore check the rest before anything is replaced.
//
// # Reads and writes
//
// Writes (and Compact, LeaseGrant, LeaseRevoke) are proposed with
// node.Propose on whatever member received them; a follower's proposal is
// forwarded to the leader by the node, never refused. An encoded request
// above MaxRequestBytes gets ErrGRPCRequestTooLarge (gRPC accepts 512 KiB
// more, as etcd); a Txn with more than MaxTxnOps operations
// ErrGRPCTooManyOps. Requests are validated (kv.Check*) before they cost a
// log entry. A linearizable Range, or a read-only Txn with a linearizable
// range, waits for node.ReadIndex and then reads the local store; a
// serializable one reads it at once. Each proposal and fence waits at most
// RequestTimeout (etcd's 5s + 2 election timeouts).
//
// # Leases
//
// The replicated lease table (kv) holds IDs and TTLs; expiry lives only in
// the leader's lessor (lessor.go): a deadline per lease, refreshed by
// keep-alives, checked every 500ms; an expired lease gets a LeaseRevoke
// proposal (at most 500 per check). On becoming leader the lessor gives
// every lease now + TTL + one election timeout, as etcd's Promote does, so
// no lease expires early because its keep-alives went to the old leader.
// The server picks the ID of a lease granted with ID 0 (random, positive,
// unused) and raises the TTL to etcd's minimum, 1.5 election timeouts
// rounded up to whole seconds, before proposing, so applying stays
// deterministic. KeepAlive and TimeToLive need the leader's lessor: on a
// follower each one is forwarded to the leader's first advertised client
// URL, as an ordinary etcd call marked with the metadata key
// "ironkv-forwarded" (a marked call is never forwarded again; a member that
// no longer leads answers ErrGRPCNotLeader and the follower tries the new
// leader). So `etcdctl lease keep-alive` works against any single member.
// MemberAdd, MemberRemove, MemberPromote and MoveLeader are forwarded the
// same way. etcd forwards renewals over its peer HTTP port instead.
//
// # Watch
//
// Each Watch stream is one kv.WatchStream, fed by the local store as
// entries apply, on every member. The gRPC handler's goroutine sends what
// WatchStream.Next returns (adding the full header, and splitting responses
// above MaxRequestBytes into fragments for watchers created with fragment
// set, as etcd does); a receiver goroutine creates and cancels watchers and
// answers progress requests. Idle progress_notify watchers get a progress
// response every WatchProgressNotifyInterval. A stream whose client stops
// reading ends with codes.ResourceExhausted once the store's queue bound is
// exceeded twice over; at most MaxWatchStreams streams are open per member.
//
// # Membership
//
// Member IDs and the cluster ID are etcd's: a member's ID is the first 8
// bytes of SHA-1(sorted peer URLs + --initial-cluster-token) (plus the Unix
// time for MemberAdd), the cluster ID the first 8 bytes of SHA-1 of the
// sorted initial member IDs (etcd's default member gets 8e9e05c52164694d in
// cluster cdf818194e3a8c32 here too). Every initial member computes them
// from --initial-cluster. Start chooses:
//
//	data directory holds ironkv-member.json   node.Restart (InitialClusterState is ignored, as in etcd)
//	empty, --initial-cluster-state=new        bootstrap check, then node.Bootstrap with the members of --initial-cluster
//	empty, --initial-cluster-state=existing   discovery, then node.Join
//
// Discovery: a member started with "existing" asks the other members of
// --initial-cluster, on their peer URLs, for the cluster ID and the member
// list, and finds its own ID by its peer URLs (etcd asks GET /members on its
// peer port). The peer listener is shared with the Raft transport: a
// discovery connection opens with the 16 bytes "ironkv/members/1" (then TLS
// with peer TLS) and gets one JSON document; any other connection goes to
// the transport (peermux.go). The peer listener answers discovery from the
// start of Start; until the node runs, with an empty document ("not started
// yet").
//
// Amnesia: a member whose data directory was lost must not come back under
// an ID the cluster still lists, since a voter that forgot its votes and
// its log breaks Raft's safety. A member "has started" once it published
// its name (etcd's rule). With an empty data directory, Start refuses, and
// says to remove the member and add it again (as etcd requires), when
//
//	existing   discovery finds this member by its peer URLs and it has started
//	new        the bootstrap check: one round of discovery, in parallel, to the
//	           other initial members (at most 2s); one of them runs this
//	           cluster ID and lists this member as started ("member ... has
//	           already been bootstrapped", as etcd says)
//
// When no other member answers (they all start afresh), the member
// bootstraps. Both checks are etcd's and share its blind spots: members
// that are down or not started yet cannot tell, and a member that stopped
// after taking part in Raft but before its name was published is not
// recognised.
//
// MemberAdd records the peer URLs in the member table, then adds the member
// to Raft as a learner (node.AddLearner). etcd adds a voter at once
// (unless --learner), which raises the quorum before the new member even
// runs; ironkv instead marks it "promote when caught up", and the leader's
// promote loop promotes it (node.AddVoter on a learner: catch up, then
// promote) once it has started and caught up. Until then MemberList shows
// it as a learner. MemberPromote promotes a learner that catches up within
// an election timeout, else answers ErrGRPCLearnerNotReady. MemberRemove
// uses node.RemoveMember; a removed member's node stops, and Done is
// closed. Each member publishes its name and URLs after every start, so
// MemberList knows them on every member.
//
// # Data directory
//
//	<DataDir>/ironkv-member.json   name, member ID, cluster ID (written after the first start)
//	<DataDir>/member/              the node's data: WAL, snapshots, address book
//
// # HTTP and metrics
//
// The metrics URLs serve /health (etcd's JSON: healthy when a leader is
// known and a read fence passes within a second), /livez, /readyz,
// /metrics and, with EnablePprof, /debug/pprof; https ones over TLS with
// ClientTLS (the client certificate, and client certificate
// authentication if set), as etcd does. Metrics go to Config.Registry:
// the node's (ironraft_*), the peers' (node.PeerMetrics as the transport
// observer) and the server's (ironkv_*: gRPC calls by method and code, leader,
// revision, size, leases, watch streams). The gRPC health service reports
// SERVING while a leader is known.
//
// # Goroutines
//
// Every goroutine is started by goLoop and joined by Stop:
//
//	per client listener   grpc.Server.Serve
//	per metrics listener  http.Server.Serve
//	watchNode             closes Done when the node stops on its own
//	healthLoop            gRPC health status, every heartbeat
//	leaseLoop             lessor role every heartbeat; expiry every 500ms (on the leader)
//	promoteLoop           promotes caught-up learners added as voters (on the leader)
//	publishLoop           proposes this member's attributes once per start
//	compactLoop           auto-compaction (on the leader), if enabled
//	per Watch stream      the request receiver
//	per KeepAlive stream  the request receiver
//
// The peer listener's accept loop and its per-connection sniffers are owned
// by peerMux and joined by its Close (the transport closes it; Stop does if
// the node never started). The bootstrap check runs one goroutine per other
// initial peer URL, joined before Start goes on.
//
// Stop: if this member leads, hand leadership to the most caught-up voter
// (at most two election timeouts); end the watch and keep-alive streams
// (clients move to another member); gRPC GracefulStop until ctx ends, then
// Stop; stop the node; join everything.
//
// # Departures from etcd
//
//   - MemberAdd of a voter adds a learner promoted once caught up (above).
//   - Lease keep-alives and TimeToLive are forwarded over the client API,
//     not the peer port. No lease checkpoints: a new leader extends every
//     lease by its full TTL (etcd does the same unless checkpointing is on).
//   - No auth, no MemberUpdate, no alarms (Alarm answers an empty list), no
//     Defragment, Hash, HashKV, Snapshot or Downgrade.
//   - The space quota is not enforced: Status reports QuotaBackendBytes
//     (etcd's default, 2 GiB, unless configured) as DbSizeQuota, but no
//     NOSPACE alarm is raised and no write is refused when the data outgrows
//     it.
//   - The data lives in memory (kv.Store). Status's db size (and db size
//     in use, the same) is its size plus a fixed 20 KiB that models a new
//     etcd's backend file, so it is never 0: etcdctl divides by it.
//   - Compact with physical set needs no wait: compaction is done when
//     applied.
//   - --listen-peer-urls takes one URL. Discovery is ironkv's own protocol.
//   - Calls that require a leader (clientv3.WithRequireLeader) are refused
//     when none is known at their start, and such streams (watch, lease
//     keep-alive) end with ErrGRPCNoLeader after three election timeouts
//     in a row without one, as in etcd; other streams stay open.
//   - The Status version is that of the etcd API stubs (version.Version).
package server
