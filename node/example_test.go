package node_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/transport/memtransport"
)

// Example starts a single-member cluster (an in-memory network stands in
// for grpctransport), proposes a command, fences a read and stops.
func Example() {
	dir, _ := os.MkdirTemp("", "node-example-")
	defer os.RemoveAll(dir)
	net := memtransport.NewNetwork(memtransport.Options{})
	defer net.Close()

	sm := newKVSM()
	n, err := node.Bootstrap(node.Config{
		ID: 1, ClusterID: 100, DataDir: dir,
		Transport: net.Transport(1), StateMachine: sm,
		TickInterval: 10 * time.Millisecond,
	}, []node.Member{{ID: 1, Addr: "member-1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := n.Propose(ctx, []byte("greeting=hello"))
	fmt.Println("applied commands:", res, err)

	if _, err := n.ReadIndex(ctx); err == nil {
		st, _ := sm.state()
		fmt.Println("greeting:", st["greeting"])
	}
	// Output:
	// applied commands: 1 <nil>
	// greeting: hello
}

// ExampleNode_AddVoter adds a fourth member to a running cluster: the new
// member starts with Join, then the leader adds it in one call (as a
// learner, caught up, then promoted).
func ExampleNode_AddVoter() {
	net := memtransport.NewNetwork(memtransport.Options{})
	defer net.Close()
	start := func(id uint64, join bool, members []node.Member) *node.Node {
		dir, _ := os.MkdirTemp("", "node-example-")
		cfg := node.Config{ID: id, ClusterID: 100, DataDir: dir, Transport: net.Transport(id),
			StateMachine: newKVSM(), TickInterval: 10 * time.Millisecond}
		var n *node.Node
		var err error
		if join {
			n, err = node.Join(cfg, members)
		} else {
			n, err = node.Bootstrap(cfg, members)
		}
		if err != nil {
			panic(err)
		}
		go func() { <-n.Done(); os.RemoveAll(dir) }()
		return n
	}
	members := []node.Member{{ID: 1, Addr: "m1"}, {ID: 2, Addr: "m2"}, {ID: 3, Addr: "m3"}}
	var nodes []*node.Node
	for _, m := range members {
		nodes = append(nodes, start(m.ID, false, members))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// Wait for a leader, then ask it.
	var lead *node.Node
	for lead == nil && ctx.Err() == nil {
		if id, _ := nodes[0].Leader(); id != 0 {
			lead = nodes[id-1]
		}
		time.Sleep(10 * time.Millisecond)
	}
	nodes = append(nodes, start(4, true, members))
	err := lead.AddVoter(ctx, 4, "m4")
	fmt.Println("AddVoter:", err)
	voters := 0
	for _, m := range lead.Members() {
		if !m.Learner {
			voters++
		}
	}
	fmt.Println("voters:", voters)
	for _, n := range nodes {
		n.Stop()
	}
	// Output:
	// AddVoter: <nil>
	// voters: 4
}
