package bench

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a benchmark cluster.
type Options struct {
	// TempDir is the parent of the cluster's data directory (default
	// os.TempDir()). It must be on the disk being measured: a tmpfs makes
	// every fsync free.
	TempDir string
	// Logger receives ironraft's logs; nil discards them. hashicorp/raft
	// logs at error level to standard error.
	Logger *slog.Logger
	// Registerer, when set, gives the registry each ironraft member
	// registers its metrics with (docs/metrics.md), by member ID.
	Registerer func(memberID uint64) prometheus.Registerer
}

// The timing both systems share: ironraft ticks every 100ms with an
// election timeout of 10 ticks (1s) and a heartbeat every tick;
// hashicorp/raft has a 1s heartbeat and election timeout (it sends
// heartbeats every HeartbeatTimeout/10 = 100ms) and a 500ms leader lease.
const (
	tickInterval       = 100 * time.Millisecond
	electionTicks      = 10
	heartbeatTimeout   = time.Second
	electionTimeout    = time.Second
	leaderLeaseTimeout = 500 * time.Millisecond
)

// clusterSize is the number of members of every benchmark cluster.
const clusterSize = 3

// leaderPoll is how often a starting cluster is checked for a leader.
const leaderPoll = 10 * time.Millisecond

func makeDataDir(opts Options, system string) (string, error) {
	dir, err := os.MkdirTemp(opts.TempDir, "raftbench-"+system+"-")
	if err != nil {
		return "", fmt.Errorf("bench: %s: data directory: %w", system, err)
	}
	return dir, nil
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(ctx context.Context, what string, cond func() bool) error {
	t := time.NewTicker(leaderPoll)
	defer t.Stop()
	for !cond() {
		select {
		case <-t.C:
		case <-ctx.Done():
			return fmt.Errorf("bench: waiting for %s: %w", what, ctx.Err())
		}
	}
	return nil
}
