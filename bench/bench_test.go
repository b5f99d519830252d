package bench

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// The load points of the benchmarks.
var benchProposers = []int{1, 16, 128}

// benchWarmup is run once on each fresh cluster before it is measured.
const benchWarmup = 500 * time.Millisecond

// cluster is what the benchmarks need of a started cluster.
type cluster interface {
	Close() error
}

// BenchmarkIronraftPropose proposes 256-byte commands on the leader of a
// three-member ironraft cluster; each op is one proposal, applied on the
// leader.
func BenchmarkIronraftPropose(b *testing.B) {
	benchSystem(b, func(ctx context.Context) (cluster, Proposer, error) {
		c, err := StartIronraft(ctx, Options{})
		if err != nil {
			return nil, nil, err
		}
		return c, c.Leader(), nil
	})
}

// BenchmarkIronraftProposeFollower is BenchmarkIronraftPropose with the
// proposals made on a follower.
func BenchmarkIronraftProposeFollower(b *testing.B) {
	benchSystem(b, func(ctx context.Context) (cluster, Proposer, error) {
		c, err := StartIronraft(ctx, Options{})
		if err != nil {
			return nil, nil, err
		}
		return c, c.Follower(), nil
	})
}

// BenchmarkHashicorpApply applies 256-byte commands on the leader of a
// three-member hashicorp/raft cluster; each op is one Apply, applied on
// the leader.
func BenchmarkHashicorpApply(b *testing.B) {
	benchSystem(b, func(ctx context.Context) (cluster, Proposer, error) {
		c, err := StartHashicorp(ctx, Options{})
		if err != nil {
			return nil, nil, err
		}
		return c, c.Leader(), nil
	})
}

// benchSystem runs one sub-benchmark per load point. Each load point
// starts one cluster, warms it up, and keeps it for every b.N the testing
// package tries; it is closed when the sub-benchmark is done.
func benchSystem(b *testing.B, start func(context.Context) (cluster, Proposer, error)) {
	for _, n := range benchProposers {
		var c cluster
		var p Proposer
		b.Run(fmt.Sprintf("proposers=%d", n), func(b *testing.B) {
			load := Load{Proposers: n, CommandBytes: DefaultCommandBytes}
			if c == nil {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				var err error
				if c, p, err = start(ctx); err != nil {
					b.Fatal(err)
				}
				warm := load
				warm.Duration = benchWarmup
				if _, err := Run(context.Background(), p, warm); err != nil {
					b.Fatal(err)
				}
			}
			load.Ops = b.N
			b.ResetTimer()
			r, err := Run(context.Background(), p, load)
			b.StopTimer()
			if err != nil {
				b.Fatal(err)
			}
			if r.Errors > 0 {
				b.Fatalf("%d of %d proposals failed, the first: %v", r.Errors, b.N, r.FirstErr)
			}
			b.ReportMetric(r.CommitsPerSecond(), "commits/s")
			b.ReportMetric(float64(r.P50)/float64(time.Millisecond), "p50-ms")
			b.ReportMetric(float64(r.P99)/float64(time.Millisecond), "p99-ms")
		})
		if c != nil {
			if err := c.Close(); err != nil {
				b.Error(err)
			}
		}
	}
}
