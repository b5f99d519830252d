package sim

import (
	"fmt"
	"strings"
	"time"
)

// faultKind enumerates injected faults, for the statistics.
type faultKind int

const (
	fIsolate faultKind = iota
	fSplit
	fOneWay
	fBridge
	fHeal
	fCrash
	fLeaderCrash
	fNewLeaderCrash
	fTailCrash
	fCommitCrash
	fOldCommitCrash
	fHoldNewTerm
	fTornPersist
	fRemoved
	numFaultKinds
)

var faultNames = [numFaultKinds]string{"isolate", "split", "one-way", "bridge", "heal", "crash", "leader-crash", "new-leader-crash", "tail-crash",
	"commit-crash", "old-term-commit-crash", "hold-new-term", "torn-persist", "removed-stop"}

// Stats count what happened in a run.
type Stats struct {
	Nodes int
	Lease bool
	Ticks int64
	// Messages counts messages sent; Dropped and Duplicated those the
	// network dropped (randomly, by partition, or to a down node) or
	// duplicated.
	Messages, Delivered, Dropped, Duplicated int
	Faults                                   [numFaultKinds]int
	Crashes, CrashesInFsync, Restarts        int
	// Leaders counts the terms in which a leader was observed; MaxTerm is
	// the highest term reached.
	Leaders   int
	MaxTerm   uint64
	Committed uint64
	// Client ops by outcome as the client saw it. PutsLate counts puts the
	// client gave up on that were later seen applied.
	PutsOK, PutsFailed, PutsUnknown, PutsLate int
	GetsOK, GetsFailed, GetsUnknown           int
	// ContractChecks counts Ready contract checks; Checks all checks.
	ContractChecks int
	// EarlyMessages counts messages sent by MessagesBeforeAdvance while a
	// Ready was being persisted.
	EarlyMessages int
	// OldTermCommits counts leader commit indexes that landed on an entry
	// of an earlier term (only an injected bug does that).
	OldTermCommits int
	// Fig8Steps[k] counts the runs of the Figure 8 script that reached
	// step k (1..4).
	Fig8Steps [5]int
	// Churn counts membership faults by kind; ConfProposed the changes
	// proposed and ConfRefused those the leader refused; ConfChanges the
	// changes of the committed configuration.
	Churn                                  [numChurnKinds]int
	ConfProposed, ConfRefused, ConfChanges int
	// SnapCreates counts snapshots taken, SnapInstalls those installed
	// from a leader.
	SnapCreates, SnapInstalls int
	Checks                    int
	Wall                      time.Duration
	// Backend is the run's durable storage. Over seeds, StorageSeeds
	// counts the runs on the real storage and StorageWall their wall time;
	// StorageOpens counts recoveries of a node's storage after a crash and
	// TornWrites the torn persists on it, TornTears those that left a
	// torn write on the disk (the others crashed before the Ready's first
	// write or after a sync).
	Backend                             Backend
	StorageSeeds                        int
	StorageWall                         time.Duration
	StorageOpens, TornWrites, TornTears int
}

// FaultSummary renders the injected faults by kind, "isolate=2 crash=1".
func (st Stats) FaultSummary() string {
	var parts []string
	for k, n := range st.Faults {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", faultNames[k], n))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, " ")
}

// TotalFaults returns the number of injected faults.
func (st Stats) TotalFaults() int {
	n := 0
	for _, c := range st.Faults {
		n += c
	}
	return n
}

// Add accumulates o into st (for summaries over seeds).
func (st *Stats) Add(o Stats) {
	st.Ticks += o.Ticks
	st.Messages += o.Messages
	st.Delivered += o.Delivered
	st.Dropped += o.Dropped
	st.Duplicated += o.Duplicated
	for k := range st.Faults {
		st.Faults[k] += o.Faults[k]
	}
	st.Crashes += o.Crashes
	st.CrashesInFsync += o.CrashesInFsync
	st.EarlyMessages += o.EarlyMessages
	st.Restarts += o.Restarts
	st.Leaders += o.Leaders
	st.Committed += o.Committed
	st.PutsOK += o.PutsOK
	st.PutsFailed += o.PutsFailed
	st.PutsUnknown += o.PutsUnknown
	st.PutsLate += o.PutsLate
	st.GetsOK += o.GetsOK
	st.GetsFailed += o.GetsFailed
	st.GetsUnknown += o.GetsUnknown
	st.ContractChecks += o.ContractChecks
	st.OldTermCommits += o.OldTermCommits
	for k := range st.Churn {
		st.Churn[k] += o.Churn[k]
	}
	st.ConfProposed += o.ConfProposed
	st.ConfRefused += o.ConfRefused
	st.ConfChanges += o.ConfChanges
	st.SnapCreates += o.SnapCreates
	st.SnapInstalls += o.SnapInstalls
	for k := range st.Fig8Steps {
		st.Fig8Steps[k] += o.Fig8Steps[k]
	}
	st.Checks += o.Checks
	st.Wall += o.Wall
	st.StorageSeeds += o.StorageSeeds
	st.StorageWall += o.StorageWall
	st.StorageOpens += o.StorageOpens
	st.TornWrites += o.TornWrites
	st.TornTears += o.TornTears
}

// BackendSummary renders the durable backends of a set of runs, with the
// mean wall time of a seed on each: "storage seeds=10 (52ms/seed,
// recoveries=40 torn=3 (tears 2)) memory seeds=10 (30ms/seed)".
func (st Stats) BackendSummary(seeds int) string {
	per := func(d time.Duration, n int) time.Duration {
		if n == 0 {
			return 0
		}
		return (d / time.Duration(n)).Round(time.Millisecond / 10)
	}
	mem := seeds - st.StorageSeeds
	return fmt.Sprintf("storage seeds=%d (%v/seed, recoveries=%d torn=%d (tears %d)) memory seeds=%d (%v/seed)",
		st.StorageSeeds, per(st.StorageWall, st.StorageSeeds), st.StorageOpens, st.TornWrites, st.TornTears,
		mem, per(st.Wall-st.StorageWall, mem))
}

// OpsSummary renders client outcomes, "ok=10 failed=2 unknown=1".
func (st Stats) OpsSummary() string {
	return fmt.Sprintf("ok=%d failed=%d unknown=%d (puts %d/%d/%d, %d unknown puts seen applied later; gets %d/%d/%d)",
		st.PutsOK+st.GetsOK, st.PutsFailed+st.GetsFailed, st.PutsUnknown+st.GetsUnknown,
		st.PutsOK, st.PutsFailed, st.PutsUnknown, st.PutsLate, st.GetsOK, st.GetsFailed, st.GetsUnknown)
}

// ChurnSummary renders membership faults and snapshots, "conf 3/5
// (refused 2) [add-learner=2 transfer=1] snaps taken=4 installed=1".
func (st Stats) ChurnSummary() string {
	var parts []string
	for k, n := range st.Churn {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s=%d", churnNames[k], n))
		}
	}
	return fmt.Sprintf("conf changes=%d (proposed %d, refused %d) [%s] snapshots taken=%d installed=%d",
		st.ConfChanges, st.ConfProposed, st.ConfRefused, strings.Join(parts, " "), st.SnapCreates, st.SnapInstalls)
}
