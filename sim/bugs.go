package sim

import "github.com/ironraft/ironraft/raft"

// bugNames lists the fields of raft.InjectedBugs by name.
var bugNames = []struct {
	name string
	set  func(*raft.InjectedBugs)
}{
	{"CommitPreviousTermByCount", func(b *raft.InjectedBugs) { b.CommitPreviousTermByCount = true }},
	{"VoteWithoutLogCheck", func(b *raft.InjectedBugs) { b.VoteWithoutLogCheck = true }},
	{"AckAppendBeforePersist", func(b *raft.InjectedBugs) { b.AckAppendBeforePersist = true }},
	{"ReadBeforeTermCommit", func(b *raft.InjectedBugs) { b.ReadBeforeTermCommit = true }},
	{"ApplyConfChangeOnPropose", func(b *raft.InjectedBugs) { b.ApplyConfChangeOnPropose = true }},
	{"AllowTwoPendingConfChanges", func(b *raft.InjectedBugs) { b.AllowTwoPendingConfChanges = true }},
	{"CountLearnerVotes", func(b *raft.InjectedBugs) { b.CountLearnerVotes = true }},
	{"RemovedLeaderStaysLeader", func(b *raft.InjectedBugs) { b.RemovedLeaderStaysLeader = true }},
	{"InstallStaleSnapshot", func(b *raft.InjectedBugs) { b.InstallStaleSnapshot = true }},
}

// BugNames returns the names of the injectable bugs.
func BugNames() []string {
	var out []string
	for _, b := range bugNames {
		out = append(out, b.name)
	}
	return out
}

// BugByName returns the InjectedBugs with the named bug set.
func BugByName(name string) (raft.InjectedBugs, bool) {
	var b raft.InjectedBugs
	for _, x := range bugNames {
		if x.name == name {
			x.set(&b)
			return b, true
		}
	}
	return b, false
}
