package sim

import (
	"flag"
	"testing"

	"github.com/ironraft/ironraft/raft"
)

var flagBugSeeds = flag.Int("bugseeds", 500, "TestInjectedBugsCaught: seeds to try per bug before failing")

// injectedBugs lists every field of raft.InjectedBugs with the options
// that hunt it.
var injectedBugs = []struct {
	name string
	bugs raft.InjectedBugs
	// skipContract turns off the Ready contract and leader commit rule
	// checks, so that an
	// end-to-end checker (durability, state-machine safety,
	// linearizability) has to catch the bug.
	skipContract bool
	// informational: surviving the bound is logged, not a failure (the
	// bug is caught by the subtest without skipContract).
	informational bool
	// profile hunts the bug (default: ProfileBugHunt).
	profile Profile
}{
	{name: "CommitPreviousTermByCount", bugs: raft.InjectedBugs{CommitPreviousTermByCount: true}},
	{name: "CommitPreviousTermByCount/end-to-end", bugs: raft.InjectedBugs{CommitPreviousTermByCount: true}, skipContract: true},
	{name: "VoteWithoutLogCheck", bugs: raft.InjectedBugs{VoteWithoutLogCheck: true}},
	{name: "AckAppendBeforePersist", bugs: raft.InjectedBugs{AckAppendBeforePersist: true}},
	{name: "AckAppendBeforePersist/end-to-end", bugs: raft.InjectedBugs{AckAppendBeforePersist: true}, skipContract: true},
	{name: "ReadBeforeTermCommit", bugs: raft.InjectedBugs{ReadBeforeTermCommit: true}},
	{name: "ApplyConfChangeOnPropose", bugs: raft.InjectedBugs{ApplyConfChangeOnPropose: true}, profile: ProfileChurnHunt},
	{name: "AllowTwoPendingConfChanges", bugs: raft.InjectedBugs{AllowTwoPendingConfChanges: true}, profile: ProfileChurnHunt},
	{name: "CountLearnerVotes", bugs: raft.InjectedBugs{CountLearnerVotes: true}, profile: ProfileChurnHunt},
	{name: "RemovedLeaderStaysLeader", bugs: raft.InjectedBugs{RemovedLeaderStaysLeader: true}, profile: ProfileChurnHunt},
	{name: "InstallStaleSnapshot", bugs: raft.InjectedBugs{InstallStaleSnapshot: true}, profile: ProfileChurnHunt},
	// The same with every direct rule check off: which end-to-end checker
	// (safety properties, durability, linearizability, liveness) sees the
	// damage, if any. Informational.
	{name: "ApplyConfChangeOnPropose/end-to-end", bugs: raft.InjectedBugs{ApplyConfChangeOnPropose: true}, profile: ProfileChurnHunt, skipContract: true, informational: true},
	{name: "AllowTwoPendingConfChanges/end-to-end", bugs: raft.InjectedBugs{AllowTwoPendingConfChanges: true}, profile: ProfileChurnHunt, skipContract: true, informational: true},
	{name: "CountLearnerVotes/end-to-end", bugs: raft.InjectedBugs{CountLearnerVotes: true}, profile: ProfileChurnHunt, skipContract: true, informational: true},
	{name: "RemovedLeaderStaysLeader/end-to-end", bugs: raft.InjectedBugs{RemovedLeaderStaysLeader: true}, profile: ProfileChurnHunt, skipContract: true, informational: true},
	{name: "InstallStaleSnapshot/end-to-end", bugs: raft.InjectedBugs{InstallStaleSnapshot: true}, profile: ProfileChurnHunt, skipContract: true, informational: true},
}

// TestInjectedBugsCaught proves the checkers can fail: for each injected
// protocol bug it runs seeds of the bug-hunting profile until one fails,
// and fails itself if the bug survives -bugseeds seeds.
func TestInjectedBugsCaught(t *testing.T) {
	for _, b := range injectedBugs {
		t.Run(b.name, func(t *testing.T) {
			if b.informational && raceEnabled {
				t.Skip("informational; skipped under the race detector")
			}
			t.Parallel()
			batch := 8
			for first := 1; first <= *flagBugSeeds; first += batch {
				var seeds []uint64
				for s := first; s < first+batch && s <= *flagBugSeeds; s++ {
					seeds = append(seeds, uint64(s))
				}
				results := runSeeds(seeds, func(seed uint64) Options {
					prof := ProfileBugHunt
					if b.profile != 0 {
						prof = b.profile
					}
					return Options{Seed: seed, Ticks: 1500, Bugs: b.bugs, Profile: prof,
						SkipReadyContract: b.skipContract, SkipCommitRule: b.skipContract, SkipMembershipRules: b.skipContract}
				})
				for i, r := range results {
					if r.Err == nil {
						continue
					}
					t.Logf("sim: bug %s caught by %q at seed %d (%d seeds run): %v", b.name, r.Checker(), r.Seed,
						int(seeds[i]), firstLine(r.Err.Error()))
					return
				}
			}
			if b.informational {
				t.Logf("sim: bug %s survived %d seeds with the direct rule checks off (informational)", b.name, *flagBugSeeds)
				return
			}
			t.Errorf("bug %s survived %d seeds: no checker caught it", b.name, *flagBugSeeds)
		})
	}
}

func firstLine(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
