package node_test

import (
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ironraft/ironraft/transport"
	"github.com/ironraft/ironraft/transport/grpctransport"
)

// grpcCluster returns a cluster whose members talk over real gRPC on
// 127.0.0.1, each on a random port it keeps across restarts.
func grpcCluster(t *testing.T) *cluster {
	var mu sync.Mutex
	addrs := map[uint64]string{}
	c := &cluster{t: t, clusterID: 11, members: map[uint64]*member{}}
	c.newTransport = func(id uint64) (transport.Transport, string) {
		mu.Lock()
		addr := addrs[id]
		mu.Unlock()
		if addr == "" {
			addr = "127.0.0.1:0"
		}
		var ln net.Listener
		var err error
		// A restarted member takes its old port back; the OS may hold it
		// for a moment.
		deadline := time.Now().Add(5 * time.Second)
		for {
			if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		mu.Lock()
		addrs[id] = ln.Addr().String()
		mu.Unlock()
		tr, err := grpctransport.New(grpctransport.Config{NodeID: id, ClusterID: c.clusterID, Listener: ln,
			Logger: slog.New(slog.DiscardHandler), BackoffMax: 200 * time.Millisecond})
		if err != nil {
			t.Fatalf("grpctransport.New(%d) = %v", id, err)
		}
		return tr, ln.Addr().String()
	}
	t.Cleanup(c.stopAll)
	return c
}

func TestScenariosGRPC(t *testing.T) {
	for name, f := range scenarios() {
		t.Run(name, func(t *testing.T) { f(t, grpcCluster) })
	}
}
