package sim

import (
	"testing"
	"time"
)

// TestBugHuntProfileCorrectCore runs the bug-hunting profile without
// injected bugs: whatever it finds with a bug must not be a false alarm.
func TestBugHuntProfileCorrectCore(t *testing.T) {
	n := seedCount() / 3
	var seeds []uint64
	for i := 1; i <= n; i++ {
		seeds = append(seeds, uint64(i))
	}
	backend := backendFlag(t)
	start := time.Now()
	results := runSeeds(seeds, func(seed uint64) Options {
		return Options{Seed: seed, Ticks: 1500, Profile: ProfileBugHunt, Backend: backend}
	})
	var total Stats
	for _, r := range results {
		total.Add(r.Stats)
		if r.Err != nil {
			t.Errorf("%s", r.Report())
		}
	}
	t.Logf("sim: bug-hunt profile, no bugs: %d seeds in %v; crashes=%d (during fsync %d) leaders=%d ops %s",
		n, time.Since(start).Round(time.Millisecond), total.Crashes, total.CrashesInFsync, total.Leaders, total.OpsSummary())
	t.Logf("sim: faults: %s; Figure 8 script runs reaching steps 1..4: %v", total.FaultSummary(), total.Fig8Steps[1:])
	// The correct core must face the whole script: A leads again with its
	// term held back (step 3). Step 4 needs a leader that commits an entry
	// of an earlier term, which only a bug does.
	if (n >= 10 && total.Fig8Steps[3] == 0) || total.Fig8Steps[4] != 0 {
		t.Errorf("Figure 8 script runs reaching steps 1..4: %v; want some at step 3 and none at step 4", total.Fig8Steps[1:])
	}
}

// TestChurnProfile runs the churn profiles without injected bugs: churn,
// snapshots and torn writes must not raise false alarms, and the runs
// must really change membership and install snapshots.
func TestChurnProfile(t *testing.T) {
	for _, prof := range []struct {
		name string
		p    Profile
	}{{"churn", ProfileChurn}, {"churnhunt", ProfileChurnHunt}} {
		t.Run(prof.name, func(t *testing.T) {
			n := seedCount() / 3
			if prof.p == ProfileChurnHunt {
				n = seedCount() / 6
			}
			var seeds []uint64
			for i := 1; i <= n; i++ {
				seeds = append(seeds, uint64(i))
			}
			backend := backendFlag(t)
			start := time.Now()
			results := runSeeds(seeds, func(seed uint64) Options {
				return Options{Seed: seed, Ticks: 1500, Profile: prof.p, Backend: backend}
			})
			var total Stats
			for _, r := range results {
				total.Add(r.Stats)
				if r.Err != nil {
					t.Errorf("%s", r.Report())
				}
			}
			elapsed := time.Since(start)
			t.Logf("sim: %s profile, no bugs: %d seeds in %v (%.1f seeds/s); %s; faults: %s; backends: %s",
				prof.name, n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), total.ChurnSummary(), total.FaultSummary(),
				total.BackendSummary(n))
			if n >= 10 && (total.ConfChanges == 0 || total.SnapInstalls == 0) {
				t.Errorf("churn profile made %d configuration changes and installed %d snapshots; want some of each", total.ConfChanges, total.SnapInstalls)
			}
		})
	}
}
