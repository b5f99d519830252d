// Command counter embeds ironraft: it runs a three-member cluster in one
// process, each member with its own data directory and a gRPC transport on
// a loopback port, replicates increments to a counter, reads it back
// linearizably from every member, moves leadership, and stops.
//
// Run it with
//
//	go run ./examples/counter
//
// Each member would normally be its own process on its own machine; only
// the addresses change.
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/ironraft/ironraft/node"
	"github.com/ironraft/ironraft/transport/grpctransport"
)

// counter is the replicated state machine: every command adds its value (a
// varint) to the total, and the result of a command is the new total.
type counter struct {
	mu    sync.Mutex
	total int64
}

func (c *counter) Apply(cmds []node.Command) []any {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]any, len(cmds))
	for i, cmd := range cmds {
		d, _ := binary.Varint(cmd.Data)
		c.total += d
		out[i] = c.total
	}
	return out
}

// Snapshot takes the point-in-time view: here simply the total.
func (c *counter) Snapshot() (node.SnapshotView, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return view(c.total), nil
}

func (c *counter) Restore(r io.Reader) error {
	var b [8]byte
	if _, err := io.ReadFull(r, b[:]); err != nil {
		return fmt.Errorf("counter: restore: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.total = int64(binary.BigEndian.Uint64(b[:]))
	return nil
}

func (c *counter) get() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

type view int64

func (v view) Write(w io.Writer) error {
	_, err := w.Write(binary.BigEndian.AppendUint64(nil, uint64(v)))
	return err
}
func (view) Release() {}

func main() {
	if err := run(); err != nil {
		log.Fatal(err)
	}
}

func run() error {
	dir, err := os.MkdirTemp("", "ironraft-counter-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))

	// Listen first, so every member's address is known before any starts.
	const clusterID = 0x1c0ffee
	ids := []uint64{1, 2, 3}
	lns := map[uint64]net.Listener{}
	var members []node.Member
	for _, id := range ids {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		lns[id] = ln
		members = append(members, node.Member{ID: id, Addr: ln.Addr().String()})
	}

	nodes := map[uint64]*node.Node{}
	sms := map[uint64]*counter{}
	defer func() {
		for _, n := range nodes {
			n.Stop()
		}
	}()
	for _, id := range ids {
		tr, err := grpctransport.New(grpctransport.Config{NodeID: id, ClusterID: clusterID, Listener: lns[id], Logger: logger})
		if err != nil {
			return err
		}
		sms[id] = &counter{}
		n, err := node.Bootstrap(node.Config{
			ID: id, ClusterID: clusterID,
			DataDir:      fmt.Sprintf("%s/member-%d", dir, id),
			Transport:    tr,
			StateMachine: sms[id],
			Logger:       logger,
		}, members)
		if err != nil {
			return err
		}
		nodes[id] = n
	}

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Propose works on any member: followers forward to the leader.
	for i := 1; i <= 10; i++ {
		id := ids[i%len(ids)]
		total, err := proposeRetry(ctx, nodes[id], binary.AppendVarint(nil, int64(i)))
		if err != nil {
			return err
		}
		fmt.Printf("member %d: +%d -> total %d\n", id, i, total)
	}
	// A linearizable read on every member: ReadIndex, then read locally.
	for _, id := range ids {
		if _, err := nodes[id].ReadIndex(ctx); err != nil {
			return err
		}
		fmt.Printf("member %d reads total %d\n", id, sms[id].get())
	}
	// Hand leadership to another member.
	lead, _ := nodes[1].Leader()
	to := ids[(int(lead))%len(ids)]
	if err := nodes[lead].TransferLeadership(ctx, to); err != nil {
		return err
	}
	now, term := nodes[1].Leader()
	fmt.Printf("leadership moved from %d to %d (term %d)\n", lead, now, term)
	return nil
}

// proposeRetry retries while the cluster elects its first leader.
func proposeRetry(ctx context.Context, n *node.Node, cmd []byte) (any, error) {
	for {
		res, err := n.Propose(ctx, cmd)
		if err == nil || !(node.IsNotLeader(err) || errors.Is(err, node.ErrOverloaded)) || ctx.Err() != nil {
			return res, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}
