// Command ironsim runs the deterministic simulator from the command line:
// a range of seeds (or one), each a whole cluster run with faults and a
// client workload, checked for Raft's safety properties, linearizability
// and liveness. It prints one line per seed and a summary, and exits with
// status 1 if any seed fails, printing its seed and the tail of its trace.
//
//	go run ./cmd/ironsim -nodes 5 -seeds 20
//	go run ./cmd/ironsim -seed 17 -trace
//	go run ./cmd/ironsim -bug CommitPreviousTermByCount -profile bughunt -seeds 500
//	go run ./cmd/ironsim -bug CommitPreviousTermByCount -profile bughunt -e2e -seeds 20
//	go run ./cmd/ironsim -profile churn -seeds 200
//	go run ./cmd/ironsim -profile churn -backend storage -seeds 200
//	go run ./cmd/ironsim -bug CountLearnerVotes -profile churnhunt -seeds 50
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/ironraft/ironraft/sim"
)

func main() {
	var (
		nodes   = flag.Int("nodes", 0, "cluster size: 3, 5 or 7; 0 lets each seed choose")
		seeds   = flag.Int("seeds", 20, "number of seeds to run, starting at -start")
		start   = flag.Uint64("start", 1, "first seed")
		seed    = flag.Uint64("seed", 0, "run only this seed")
		ticks   = flag.Int("ticks", sim.DefaultTicks, "ticks per seed")
		trace   = flag.Bool("trace", false, "print the full event trace of every seed run")
		bug     = flag.String("bug", "", "inject a protocol bug: "+strings.Join(sim.BugNames(), ", "))
		profile = flag.String("profile", "default", "fault profile: default, bughunt, churn or churnhunt")
		quiet   = flag.Bool("q", false, "print only failures and the summary")
		backend = flag.String("backend", "auto", "durable storage of the nodes: auto (the real storage), memory (raft.MemoryStorage) or storage (package storage on a crash-simulating in-memory file system)")
		e2e     = flag.Bool("e2e", false, "turn off the Ready contract, leader commit rule and membership rule checks, so that an end-to-end checker has to catch a bug")
	)
	flag.Parse()
	if *nodes != 0 && *nodes != 3 && *nodes != 5 && *nodes != 7 {
		fmt.Fprintf(os.Stderr, "ironsim: -nodes %d: want 3, 5, 7 or 0\n", *nodes)
		os.Exit(2)
	}
	base := sim.Options{Nodes: *nodes, Ticks: *ticks, KeepTrace: *trace, SkipReadyContract: *e2e, SkipCommitRule: *e2e,
		SkipMembershipRules: *e2e}
	b, ok := sim.ParseBackend(*backend)
	if !ok {
		fmt.Fprintf(os.Stderr, "ironsim: -backend %q: want auto, memory or storage\n", *backend)
		os.Exit(2)
	}
	base.Backend = b
	if *bug != "" {
		b, ok := sim.BugByName(*bug)
		if !ok {
			fmt.Fprintf(os.Stderr, "ironsim: -bug %q: want one of %s\n", *bug, strings.Join(sim.BugNames(), ", "))
			os.Exit(2)
		}
		base.Bugs = b
	}
	switch *profile {
	case "default":
	case "bughunt":
		base.Profile = sim.ProfileBugHunt
	case "churn":
		base.Profile = sim.ProfileChurn
	case "churnhunt":
		base.Profile = sim.ProfileChurnHunt
	default:
		fmt.Fprintf(os.Stderr, "ironsim: -profile %q: want default, bughunt, churn or churnhunt\n", *profile)
		os.Exit(2)
	}
	list := make([]uint64, 0, *seeds)
	if *seed != 0 {
		list = append(list, *seed)
	} else {
		for i := 0; i < *seeds; i++ {
			list = append(list, *start+uint64(i))
		}
	}
	os.Exit(run(base, list, *quiet))
}

// run runs the seeds on GOMAXPROCS workers and prints results in seed
// order as they become available.
func run(base sim.Options, seeds []uint64, quiet bool) int {
	began := time.Now()
	results := make([]chan sim.Result, len(seeds))
	for i := range results {
		results[i] = make(chan sim.Result, 1)
	}
	work := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < runtime.GOMAXPROCS(0); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				o := base
				o.Seed = seeds[i]
				results[i] <- sim.Run(o)
			}
		}()
	}
	go func() {
		for i := range seeds {
			work <- i
		}
		close(work)
	}()
	var total sim.Stats
	var failed []uint64
	for i := range seeds {
		r := <-results[i]
		total.Add(r.Stats)
		for _, l := range r.Trace {
			fmt.Println(l)
		}
		st := r.Stats
		status := "ok"
		if r.Err != nil {
			status = "FAIL " + r.Checker()
			failed = append(failed, r.Seed)
		}
		if !quiet || r.Err != nil {
			fmt.Printf("seed %d: %s backend=%s nodes=%d terms=%d leaders=%d committed=%d faults=%d [%s] crashes=%d %s ops %s checks=%d\n",
				r.Seed, status, st.Backend, st.Nodes, st.MaxTerm, st.Leaders, st.Committed, st.TotalFaults(), st.FaultSummary(),
				st.Crashes, st.ChurnSummary(), st.OpsSummary(), st.Checks)
		}
		if r.Err != nil {
			fmt.Print(r.Report())
		}
	}
	wg.Wait()
	elapsed := time.Since(began)
	fmt.Printf("summary: %d seeds, %d failed, %v, %.1f seeds/s (GOMAXPROCS=%d); ticks=%d messages=%d faults: %s; crashes=%d; leaders=%d; committed=%d; %s; ops %s; checks=%d\n",
		len(seeds), len(failed), elapsed.Round(time.Millisecond), float64(len(seeds))/elapsed.Seconds(), runtime.GOMAXPROCS(0),
		total.Ticks, total.Messages, total.FaultSummary(), total.Crashes, total.Leaders, total.Committed, total.ChurnSummary(), total.OpsSummary(), total.Checks)
	fmt.Printf("backends: %s\n", total.BackendSummary(len(seeds)))
	if len(failed) > 0 {
		fmt.Printf("failed seeds: %v\n", failed)
		return 1
	}
	return 0
}
