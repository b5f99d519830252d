package memtransport

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/ironraft/ironraft/raftpb"
)

// Default limits, applied by NewNetwork to zero Options fields.
const (
	DefaultQueueLen = 4096
	DefaultMaxBatch = 64
)

// reorderHold is how long a message picked by ReorderProb waits for a
// successor on its link to be delivered ahead of it; after that it goes
// alone. It bounds the latency Reorder adds to a quiet link.
const reorderHold = time.Millisecond

// Options configures a Network. The zero value is usable.
type Options struct {
	// Seed seeds the generator behind every random fault decision.
	Seed uint64
	// QueueLen bounds the messages queued on one directed link; a message
	// sent to a full link is dropped and reported unreachable. Zero means
	// DefaultQueueLen.
	QueueLen int
	// MaxBatch bounds the messages handed to one Handler.Receive call. Zero
	// means DefaultMaxBatch.
	MaxBatch int
}

// withDefaults returns o with zero fields set to their defaults.
func (o Options) withDefaults() Options {
	if o.QueueLen == 0 {
		o.QueueLen = DefaultQueueLen
	}
	if o.MaxBatch == 0 {
		o.MaxBatch = DefaultMaxBatch
	}
	return o
}

// Validate reports every invalid field of o.
func (o Options) Validate() error {
	var errs []error
	if o.QueueLen < 0 {
		errs = append(errs, fmt.Errorf("memtransport: QueueLen %d is negative", o.QueueLen))
	}
	if o.MaxBatch < 0 {
		errs = append(errs, fmt.Errorf("memtransport: MaxBatch %d is negative", o.MaxBatch))
	}
	return errors.Join(errs...)
}

// Faults are the random faults of a link. The zero value injects none.
type Faults struct {
	// DropProb is the probability that a message is silently dropped.
	DropProb float64
	// DuplicateProb is the probability that a message is delivered twice.
	DuplicateProb float64
	// ReorderProb is the probability that a message is delivered after the
	// next message on its link.
	ReorderProb float64
	// Delay is added to the delivery time of every message.
	Delay time.Duration
	// Jitter is the bound of a uniform random delay in [0, Jitter] added to
	// Delay.
	Jitter time.Duration
}

// Validate reports every invalid field of f.
func (f Faults) Validate() error {
	var errs []error
	probs := []struct {
		name string
		p    float64
	}{{"DropProb", f.DropProb}, {"DuplicateProb", f.DuplicateProb}, {"ReorderProb", f.ReorderProb}}
	for _, pr := range probs {
		if math.IsNaN(pr.p) || pr.p < 0 || pr.p > 1 {
			errs = append(errs, fmt.Errorf("memtransport: %s %v is not in [0, 1]", pr.name, pr.p))
		}
	}
	if f.Delay < 0 {
		errs = append(errs, fmt.Errorf("memtransport: Delay %v is negative", f.Delay))
	}
	if f.Jitter < 0 {
		errs = append(errs, fmt.Errorf("memtransport: Jitter %v is negative", f.Jitter))
	}
	return errors.Join(errs...)
}

// Filter reports whether m is to be dropped. It is called from Send, on the
// transport's copy of m, possibly concurrently; it must not modify m or call
// the Network's methods.
type Filter func(m *raftpb.Message) bool

// Link names the directed link from one node to another.
type Link struct {
	From, To uint64
}

// LinkStats counts the messages of one link. When nothing is queued on the
// link, Sent + Duplicated = Delivered + Dropped.
type LinkStats struct {
	Sent       uint64 // messages handed to Send
	Delivered  uint64 // messages accepted by the receiver's Handler.Receive
	Dropped    uint64 // messages lost, whatever the reason
	Duplicated uint64 // extra copies made by DuplicateProb
}

// Network is a simulated switch between the endpoints of one cluster. Its
// methods are safe for concurrent use.
type Network struct {
	opts Options // with defaults applied; immutable

	mu        sync.Mutex
	closed    bool
	endpoints map[uint64]*Transport // current endpoint of each node
	rng       *rand.Rand
	faults    Faults
	linkFault map[Link]Faults
	filter    Filter
	group     map[uint64]int // partition group of each listed node (from 1); unlisted nodes are in group 0
	isolated  map[uint64]bool
	cut       map[Link]bool
	stats     map[Link]*LinkStats
}

// NewNetwork returns a Network with no endpoints and no faults. It panics if
// opts is invalid.
func NewNetwork(opts Options) *Network {
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return &Network{
		opts:      opts.withDefaults(),
		endpoints: make(map[uint64]*Transport),
		rng:       rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15)),
		linkFault: make(map[Link]Faults),
		isolated:  make(map[uint64]bool),
		cut:       make(map[Link]bool),
		stats:     make(map[Link]*LinkStats),
	}
}

// Transport returns the current endpoint of node id, creating it if there
// is none or the previous one is closed (a restart). After Close it returns
// a closed endpoint. It panics if id is 0, which Raft reserves for "none".
func (n *Network) Transport(id uint64) *Transport {
	if id == 0 {
		panic("memtransport: node id 0")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if t := n.endpoints[id]; t != nil && t.state.Load() != stateClosed {
		return t
	}
	t := newTransport(n, id)
	if n.closed {
		t.state.Store(stateClosed)
	}
	n.endpoints[id] = t
	return t
}

// Close closes every endpoint; it returns when all their goroutines have.
func (n *Network) Close() {
	n.mu.Lock()
	n.closed = true
	eps := make([]*Transport, 0, len(n.endpoints))
	for _, t := range n.endpoints {
		eps = append(eps, t)
	}
	n.mu.Unlock()
	for _, t := range eps {
		_ = t.Close() // always nil
	}
}

// Partition splits the nodes into groups that cannot reach each other;
// nodes named in no group form one more group. It replaces any previous
// partition and panics if a node is named twice.
func (n *Network) Partition(groups ...[]uint64) {
	g := make(map[uint64]int)
	for i, ids := range groups {
		for _, id := range ids {
			if prev, ok := g[id]; ok {
				panic(fmt.Sprintf("memtransport: Partition names node %d in groups %d and %d", id, prev, i))
			}
			g[id] = i + 1
		}
	}
	n.mu.Lock()
	n.group = g
	n.mu.Unlock()
}

// Isolate cuts node id off from every other node, both ways.
func (n *Network) Isolate(id uint64) {
	n.mu.Lock()
	n.isolated[id] = true
	n.mu.Unlock()
}

// Rejoin undoes Isolate(id).
func (n *Network) Rejoin(id uint64) {
	n.mu.Lock()
	delete(n.isolated, id)
	n.mu.Unlock()
}

// Cut breaks the link from → to; the other direction is unaffected.
func (n *Network) Cut(from, to uint64) {
	n.mu.Lock()
	n.cut[Link{from, to}] = true
	n.mu.Unlock()
}

// Restore undoes Cut(from, to).
func (n *Network) Restore(from, to uint64) {
	n.mu.Lock()
	delete(n.cut, Link{from, to})
	n.mu.Unlock()
}

// Heal undoes every Partition, Isolate and Cut. Faults and the Filter stay.
func (n *Network) Heal() {
	n.mu.Lock()
	n.group = nil
	clear(n.isolated)
	clear(n.cut)
	n.mu.Unlock()
}

// SetFaults sets the faults of every link without its own (SetLinkFaults).
// It panics if f is invalid.
func (n *Network) SetFaults(f Faults) {
	if err := f.Validate(); err != nil {
		panic(err)
	}
	n.mu.Lock()
	n.faults = f
	n.mu.Unlock()
}

// SetLinkFaults sets the faults of the link from → to, overriding
// SetFaults. It panics if f is invalid.
func (n *Network) SetLinkFaults(from, to uint64, f Faults) {
	if err := f.Validate(); err != nil {
		panic(err)
	}
	n.mu.Lock()
	n.linkFault[Link{from, to}] = f
	n.mu.Unlock()
}

// ClearLinkFaults makes the link from → to follow SetFaults again.
func (n *Network) ClearLinkFaults(from, to uint64) {
	n.mu.Lock()
	delete(n.linkFault, Link{from, to})
	n.mu.Unlock()
}

// SetFilter installs f (nil removes it); see Filter.
func (n *Network) SetFilter(f Filter) {
	n.mu.Lock()
	n.filter = f
	n.mu.Unlock()
}

// Stats returns a copy of the counters of every link that has carried a
// message.
func (n *Network) Stats() map[Link]LinkStats {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[Link]LinkStats, len(n.stats))
	for l, s := range n.stats {
		out[l] = *s
	}
	return out
}

// statsLocked returns the counters of l, creating them. n.mu must be held.
func (n *Network) statsLocked(l Link) *LinkStats {
	s := n.stats[l]
	if s == nil {
		s = &LinkStats{}
		n.stats[l] = s
	}
	return s
}

// count adds delivered and dropped messages to the counters of l.
func (n *Network) count(l Link, delivered, dropped int) {
	n.mu.Lock()
	s := n.statsLocked(l)
	s.Delivered += uint64(delivered)
	s.Dropped += uint64(dropped)
	n.mu.Unlock()
}

// connectedLocked reports whether Partition, Isolate and Cut let messages
// travel on l. n.mu must be held.
func (n *Network) connectedLocked(l Link) bool {
	if n.isolated[l.From] || n.isolated[l.To] || n.cut[l] {
		return false
	}
	return n.group[l.From] == n.group[l.To]
}

// receiver returns the current endpoint of l.To if it is started and l is
// connected, or nil.
func (n *Network) receiver(l Link) *Transport {
	n.mu.Lock()
	defer n.mu.Unlock()
	t := n.endpoints[l.To]
	if t == nil || t.state.Load() != stateStarted || !n.connectedLocked(l) {
		return nil
	}
	return t
}

// admit counts a message sent on l and reports whether it may leave: known
// is whether l.To is a peer of the sender. On refusal the message is counted
// as dropped. It also returns the Filter to apply.
func (n *Network) admit(l Link, known bool) (Filter, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	s := n.statsLocked(l)
	s.Sent++
	if !known || !n.connectedLocked(l) {
		s.Dropped++
		return nil, false
	}
	if t := n.endpoints[l.To]; t == nil || t.state.Load() != stateStarted {
		s.Dropped++
		return nil, false
	}
	return n.filter, true
}

// fate is what the random faults decided for one message.
type fate struct {
	drop bool      // silently dropped
	dup  bool      // delivered twice
	hold bool      // delivered after the next message on the link
	at   time.Time // earliest delivery time
}

// decide draws the random faults of a message sent on l at now. A dropped
// message is counted; filtered tells that the Filter dropped it already.
func (n *Network) decide(l Link, now time.Time, filtered bool) fate {
	n.mu.Lock()
	defer n.mu.Unlock()
	if filtered {
		n.statsLocked(l).Dropped++
		return fate{drop: true}
	}
	f, ok := n.linkFault[l]
	if !ok {
		f = n.faults
	}
	fa := fate{at: now.Add(f.Delay)}
	if f.DropProb > 0 && n.rng.Float64() < f.DropProb {
		n.statsLocked(l).Dropped++
		return fate{drop: true}
	}
	if f.DuplicateProb > 0 && n.rng.Float64() < f.DuplicateProb {
		fa.dup = true
		n.statsLocked(l).Duplicated++
	}
	fa.hold = f.ReorderProb > 0 && n.rng.Float64() < f.ReorderProb
	if f.Jitter > 0 {
		fa.at = fa.at.Add(time.Duration(n.rng.Int64N(int64(f.Jitter) + 1)))
	}
	return fa
}
