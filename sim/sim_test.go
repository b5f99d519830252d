package sim

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ironraft/ironraft/raft"
)

var (
	flagSeed    = flag.Uint64("seed", 0, "run only this seed (0: run seeds 1..-seeds)")
	flagSeeds   = flag.Int("seeds", 300, "number of seeds TestSim runs")
	flagTicks   = flag.Int("ticks", DefaultTicks, "ticks per seed")
	flagNodes   = flag.Int("nodes", 0, "cluster size (3, 5, 7; 0: chosen by the seed)")
	flagTrace   = flag.Bool("trace", false, "print the full event trace of each seed run with -seed")
	flagBackend = flag.String("backend", "auto", "durable storage of the nodes: auto (chosen by the seed), memory or storage")
)

// backendFlag parses -backend.
func backendFlag(t *testing.T) Backend {
	b, ok := ParseBackend(*flagBackend)
	if !ok {
		t.Fatalf("-backend %q: want auto, memory or storage", *flagBackend)
	}
	return b
}

// runSeeds runs the seeds in parallel on GOMAXPROCS workers; each seed is
// deterministic on its own. Results come back in seed order.
func runSeeds(seeds []uint64, opts func(seed uint64) Options) []Result {
	res := make([]Result, len(seeds))
	var wg sync.WaitGroup
	next := make(chan int)
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				res[i] = Run(opts(seeds[i]))
			}
		}()
	}
	for i := range seeds {
		next <- i
	}
	close(next)
	wg.Wait()
	return res
}

func TestSim(t *testing.T) {
	var seeds []uint64
	if *flagSeed != 0 {
		seeds = []uint64{*flagSeed}
	} else {
		for i := 1; i <= seedCount(); i++ {
			seeds = append(seeds, uint64(i))
		}
	}
	keep := *flagSeed != 0 && (*flagTrace || testing.Verbose())
	backend := backendFlag(t)
	start := time.Now()
	results := runSeeds(seeds, func(seed uint64) Options {
		return Options{Seed: seed, Ticks: *flagTicks, Nodes: *flagNodes, KeepTrace: keep, Backend: backend}
	})
	elapsed := time.Since(start)
	var total Stats
	failed := 0
	for _, r := range results {
		total.Add(r.Stats)
		if keep {
			for _, l := range r.Trace {
				t.Log(l)
			}
		}
		if r.Err != nil {
			failed++
			t.Errorf("%s", r.Report())
		} else if *flagSeed != 0 {
			t.Logf("seed %d ok: %s", r.Seed, summaryLine(r))
		}
	}
	logSummary(t, len(seeds), failed, elapsed, total)
}

// summaryLine is the one-line description of a run.
func summaryLine(r Result) string {
	st := r.Stats
	return fmt.Sprintf("backend=%s nodes=%d lease=%v terms=%d leaders=%d committed=%d faults=%d [%s] crashes=%d (in fsync %d) %s ops %s checks=%d hash=%016x",
		st.Backend, st.Nodes, st.Lease, st.MaxTerm, st.Leaders, st.Committed, st.TotalFaults(), st.FaultSummary(),
		st.Crashes, st.CrashesInFsync, st.ChurnSummary(), st.OpsSummary(), st.Checks, r.TraceHash)
}

func logSummary(t *testing.T, seeds, failed int, elapsed time.Duration, total Stats) {
	t.Logf("sim: seeds=%d failed=%d in %v: %.1f seeds/s on GOMAXPROCS=%d", seeds, failed,
		elapsed.Round(time.Millisecond), float64(seeds)/elapsed.Seconds(), runtime.GOMAXPROCS(0))
	t.Logf("sim: backends: %s", total.BackendSummary(seeds))
	t.Logf("sim: ticks=%d messages=%d delivered=%d dropped=%d duplicated=%d", total.Ticks, total.Messages,
		total.Delivered, total.Dropped, total.Duplicated)
	t.Logf("sim: faults: %s; crashes=%d (during fsync %d) restarts=%d", total.FaultSummary(), total.Crashes,
		total.CrashesInFsync, total.Restarts)
	t.Logf("sim: leaders elected=%d entries committed=%d", total.Leaders, total.Committed)
	t.Logf("sim: membership and snapshots: %s", total.ChurnSummary())
	t.Logf("sim: client ops %s", total.OpsSummary())
	t.Logf("sim: invariants checked=%d (ready contract %d); appends sent while a Ready was persisted=%d", total.Checks, total.ContractChecks, total.EarlyMessages)
}

// TestDeterminism runs seeds twice and compares their trace hashes.
func TestDeterminism(t *testing.T) {
	seeds := []uint64{1, 2, 3, 42}
	if *flagSeed != 0 {
		seeds = []uint64{*flagSeed}
	}
	for _, seed := range seeds {
		a := Run(Options{Seed: seed, Ticks: 1500})
		b := Run(Options{Seed: seed, Ticks: 1500})
		if a.TraceHash != b.TraceHash || a.Stats.Messages != b.Stats.Messages {
			t.Errorf("seed %d: trace hash %016x then %016x (messages %d, %d): the run is not deterministic",
				seed, a.TraceHash, b.TraceHash, a.Stats.Messages, b.Stats.Messages)
		}
		if a.Stats.Messages == 0 {
			t.Errorf("seed %d: no messages", seed)
		}
	}
	for _, prof := range []Profile{ProfileChurn, ProfileChurnHunt} {
		for _, backend := range []Backend{BackendMemory, BackendStorage} {
			a := Run(Options{Seed: 7, Ticks: 1500, Profile: prof, Backend: backend})
			b := Run(Options{Seed: 7, Ticks: 1500, Profile: prof, Backend: backend})
			if a.TraceHash != b.TraceHash || a.Stats.ConfChanges != b.Stats.ConfChanges || a.Stats.StorageOpens != b.Stats.StorageOpens {
				t.Errorf("profile %d backend %s seed 7: trace hash %016x then %016x (conf changes %d, %d): the run is not deterministic",
					prof, backend, a.TraceHash, b.TraceHash, a.Stats.ConfChanges, b.Stats.ConfChanges)
			}
			if a.Err != nil {
				t.Errorf("profile %d backend %s seed 7: %s", prof, backend, a.Report())
			}
		}
	}
	if Run(Options{Seed: 1, Ticks: 1500}).TraceHash == Run(Options{Seed: 2, Ticks: 1500}).TraceHash {
		t.Errorf("seeds 1 and 2 have the same trace hash")
	}
}

var _ = raft.InjectedBugs{}

// seedCount is -seeds, or 40 under the race detector unless -seeds is set.
func seedCount() int {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "seeds" })
	if raceEnabled && !set {
		return 40
	}
	return *flagSeeds
}
