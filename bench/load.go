package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

// Proposer replicates commands through one member of a cluster.
type Proposer interface {
	// Propose replicates cmd and returns once the member it was proposed
	// at applied it. cmd is not used after Propose returns.
	Propose(ctx context.Context, cmd []byte) error
}

// Default values of Load's zero fields.
const (
	DefaultCommandBytes   = 256
	DefaultProposeTimeout = 10 * time.Second
)

// errorBackoff is how long a proposer waits after a failed proposal, so a
// member that keeps failing (stopped, no leader) is not spun on.
const errorBackoff = 10 * time.Millisecond

// Load is one load point.
type Load struct {
	// Proposers is the number of concurrent proposer goroutines; each has
	// one proposal in flight at a time. Invariant: > 0.
	Proposers int
	// CommandBytes is the size of each command (default 256).
	CommandBytes int
	// Warmup is run first, at the same load, and not measured.
	Warmup time.Duration
	// Duration is the measured window, when Ops is 0.
	Duration time.Duration
	// Ops, when non-zero, measures that many proposals instead of a
	// window (for testing.B's b.N).
	Ops int
	// ProposeTimeout bounds each proposal (default 10s).
	ProposeTimeout time.Duration
}

func (l Load) withDefaults() Load {
	if l.CommandBytes == 0 {
		l.CommandBytes = DefaultCommandBytes
	}
	if l.ProposeTimeout == 0 {
		l.ProposeTimeout = DefaultProposeTimeout
	}
	return l
}

// Validate reports every problem of l (after defaults) at once.
func (l Load) Validate() error {
	l = l.withDefaults()
	var errs []error
	if l.Proposers <= 0 {
		errs = append(errs, fmt.Errorf("bench: Proposers %d must be positive", l.Proposers))
	}
	if l.CommandBytes < 8 {
		errs = append(errs, fmt.Errorf("bench: CommandBytes %d is below 8", l.CommandBytes))
	}
	if l.Warmup < 0 || l.Duration < 0 || l.Ops < 0 || l.ProposeTimeout < 0 {
		errs = append(errs, fmt.Errorf("bench: Warmup %v, Duration %v, Ops %d and ProposeTimeout %v must not be negative",
			l.Warmup, l.Duration, l.Ops, l.ProposeTimeout))
	}
	if l.Ops == 0 && l.Duration == 0 {
		errs = append(errs, errors.New("bench: set Duration or Ops"))
	}
	return errors.Join(errs...)
}

// Result is what a load point measured.
type Result struct {
	// Commits is the number of proposals that completed in the window,
	// Elapsed the window's length.
	Commits int
	Elapsed time.Duration
	// P50 and P99 are the latencies of those proposals.
	P50, P99 time.Duration
	// Errors counts failed proposals (not in Commits nor the latencies);
	// FirstErr is the first of them.
	Errors   int
	FirstErr error
}

// CommitsPerSecond is the throughput of the window.
func (r Result) CommitsPerSecond() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Commits) / r.Elapsed.Seconds()
}

// Run runs load l against p: the warm-up, then the measured window. It
// returns an error only if l is invalid or ctx ended; failed proposals are
// counted in the Result.
func Run(ctx context.Context, p Proposer, l Load) (Result, error) {
	if err := l.Validate(); err != nil {
		return Result{}, err
	}
	l = l.withDefaults()
	if l.Warmup > 0 {
		drive(ctx, p, l, time.Now().Add(l.Warmup), 0)
	}
	var until time.Time
	if l.Ops == 0 {
		until = time.Now().Add(l.Duration)
	}
	r := drive(ctx, p, l, until, int64(l.Ops))
	if err := ctx.Err(); err != nil {
		return r, fmt.Errorf("bench: run cut short: %w", err)
	}
	return r, nil
}

// drive runs l.Proposers goroutines until the deadline until (if not
// zero) or until ops proposals were started (if not zero), and joins them.
func drive(ctx context.Context, p Proposer, l Load, until time.Time, ops int64) Result {
	var (
		left    atomic.Int64
		wg      sync.WaitGroup
		mu      sync.Mutex // guards errs and firstErr
		errs    int
		firstEr error
	)
	left.Store(ops)
	recs := make([]*latencies, l.Proposers)
	start := time.Now()
	for i := range recs {
		recs[i] = &latencies{}
		wg.Go(func() {
			n, err := propose(ctx, p, l, uint64(i), recs[i], func() bool {
				if ops > 0 {
					return left.Add(-1) >= 0
				}
				return time.Now().Before(until)
			})
			if n > 0 {
				mu.Lock()
				errs += n
				if firstEr == nil {
					firstEr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := merge(recs)
	return Result{Commits: len(all), Elapsed: elapsed,
		P50: percentile(all, 0.50), P99: percentile(all, 0.99), Errors: errs, FirstErr: firstEr}
}

// propose is one proposer: while more() holds and ctx lives, it proposes
// a fresh command and records its latency. It returns the number of
// failed proposals and the first failure.
func propose(ctx context.Context, p Proposer, l Load, id uint64, rec *latencies, more func() bool) (int, error) {
	rng := rand.New(rand.NewPCG(id, 0x5eed))
	base := make([]byte, l.CommandBytes)
	for i := range base {
		base[i] = byte(rng.Uint32())
	}
	binary.BigEndian.PutUint32(base, uint32(id))
	var (
		seq      uint32
		failed   int
		firstErr error
	)
	for ctx.Err() == nil && more() {
		// A fresh command each time: a library may keep it after Propose.
		cmd := append([]byte(nil), base...)
		seq++
		binary.BigEndian.PutUint32(cmd[4:], seq)
		pctx, cancel := context.WithTimeout(ctx, l.ProposeTimeout)
		t0 := time.Now()
		err := p.Propose(pctx, cmd)
		d := time.Since(t0)
		cancel()
		if err == nil {
			rec.add(d)
			continue
		}
		failed++
		if firstErr == nil {
			firstErr = err
		}
		select {
		case <-time.After(errorBackoff):
		case <-ctx.Done():
		}
	}
	return failed, firstErr
}
