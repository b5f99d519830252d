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
	start := time.Now()
	results := runSeeds(seeds, func(seed uint64) Options {
		return Options{Seed: seed, Ticks: 1500, Profile: ProfileBugHunt}
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
}
