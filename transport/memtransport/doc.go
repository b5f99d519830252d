// Package memtransport is an in-process transport.Transport for tests of the
// runtime and for multi-node clusters in one process, with hooks that inject
// network faults.
//
// A Network is a simulated switch. Network.Transport(id) returns the
// endpoint of node id; each endpoint is started, given peers and closed
// like any transport.Transport. Messages travel on directed links (from,
// to); every link has a bounded queue and one delivery goroutine, owned by
// the sending endpoint:
//
//	sender.Send ──clone, faults──▶ link queue (from→to) ──link goroutine──▶ dst Handler.Receive
//	                  │                   │ full: drop                 │ after delivery:
//	                  ▼                   ▼                            ▼
//	         sender's reporter goroutine ◀──────────────── ReportUnreachable / ReportSnapshot
//
// # Goroutines
//
// Each started endpoint runs one reporter goroutine, which makes every call
// to its Handler's ReportUnreachable and ReportSnapshot, and one delivery
// goroutine per peer added with AddPeer, which calls the peer's
// Handler.Receive. They are started by Start (or by AddPeer after Start),
// stopped and joined by RemovePeer (the peer's link) and Close (all of
// them). No Handler method is ever called from inside Send, and none is
// called after Close returns; reports still pending when Close begins are
// discarded.
//
// # Guarantees
//
// Without faults, messages on one link are delivered in the order they were
// handed to Send, each at most once, in batches of at most
// Options.MaxBatch; Receive is never called concurrently for one link, but
// is for different senders. Send clones every message (proto.Clone), so the
// sender and the receiver never share memory. A link is a single FIFO: it
// keeps the order of control and other messages alike, which is stronger
// than the per-lane order transport.Transport asks for; in memory a large
// message costs nothing, so no lane can hold up another.
//
// A message is dropped and ReportUnreachable(to) called on the sender when
// to is not a peer of the sender, when to's current endpoint is not
// started or is closed, when the two nodes are disconnected (Partition,
// Isolate, Cut), when the link's queue (Options.QueueLen) is full, or when
// the receiver's Handler.Receive returns an error. Connectivity is checked
// both in Send and again just before delivery, so a message in flight when
// a partition starts is lost.
//
// Every raftpb.MsgSnap accepted by Send is reported exactly once, while the
// sender is open: ReportSnapshot(to, true) after Receive accepted it,
// ReportSnapshot(to, false) if it was dropped for any reason (including
// Drop and Filter, and RemovePeer while it was queued).
//
// # Fault hooks
//
// All hooks may be changed at any time, concurrently with traffic:
//
//   - Partition(groups...) splits the nodes into groups that cannot talk to
//     each other; nodes named in no group form one more group together.
//     Isolate(id) cuts one node off from all others, Rejoin(id) undoes it;
//     Cut(from, to) and Restore(from, to) break and mend one direction of one
//     link. Heal undoes all of them. These are connection losses: they are
//     reported as unreachable.
//   - SetFaults sets the Faults of every link and SetLinkFaults overrides
//     them for one link: DropProb and DuplicateProb (per message),
//     ReorderProb (the message is delivered after the next message on its
//     link, or after a short hold if none follows), Delay and Jitter. Drop is
//     silent, like a lost packet: it is not reported as unreachable.
//   - SetFilter installs a function that drops the messages it returns true
//     for (for example every MsgApp to node 3), also silently.
//
// Delay and Jitter delay a message from the moment it is sent; a message
// never overtakes an earlier one on its link, so jitter does not reorder (use
// ReorderProb). Random decisions come from one generator seeded with
// Options.Seed and are drawn in Send, so runs are reproducible as far as the
// order of Send calls across goroutines is. Delays use the wall clock: a
// deterministic simulator should drive its own network.
//
// Stats reports per link how many messages were sent, delivered, dropped and
// duplicated. When nothing is queued, Sent + Duplicated = Delivered + Dropped.
//
// Network.Transport(id) returns a fresh endpoint once the previous endpoint
// of id is closed, which simulates a restart: peers' links deliver to
// whichever endpoint of id is current.
package memtransport
