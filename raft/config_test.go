package raft

import (
	"strings"
	"testing"
)

func TestConfigValidateReportsEveryProblem(t *testing.T) {
	c := &Config{
		ElectionTick:     3,
		HeartbeatTick:    5,
		MaxInflightMsgs:  -1,
		MaxInflightBytes: 10, MaxSizePerMsg: 100,
		ReadOnlyOption:     ReadOnlyLeaseBased,
		DisableCheckQuorum: true,
	}
	err := c.Validate()
	if err == nil {
		t.Fatal("Validate() = nil, want errors")
	}
	for _, want := range []string{
		"ID must not be 0",
		"ElectionTick = 3, must be greater than HeartbeatTick = 5",
		"Storage must not be nil",
		"MaxInflightMsgs = -1",
		"MaxInflightBytes = 10, must be at least MaxSizePerMsg = 100",
		"ReadOnlyLeaseBased requires CheckQuorum",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("Validate() = %q, missing %q", err, want)
		}
	}
	if c.ElectionTick != 3 || c.MaxPendingReads != 0 {
		t.Errorf("Validate changed the config: %+v", c)
	}
}

func TestConfigDefaultsValidate(t *testing.T) {
	c := &Config{ID: 1, Storage: NewMemoryStorage()}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate() = %v for defaults", err)
	}
	d := c.withDefaults()
	if d.ElectionTick != DefaultElectionTick || d.HeartbeatTick != DefaultHeartbeatTick ||
		d.MaxInflightMsgs != DefaultMaxInflightMsgs || d.MaxInflightBytes != DefaultMaxInflightBytes ||
		d.MaxUncommittedEntriesSize != DefaultMaxUncommittedEntriesSize || d.Rand == nil || d.Logger == nil {
		t.Errorf("withDefaults() = %+v", d)
	}
	rn, err := NewRawNode(c)
	if err != nil {
		t.Fatal(err)
	}
	if !rn.raft.preVote || !rn.raft.checkQuorum {
		t.Errorf("preVote %v checkQuorum %v, want both on by default", rn.raft.preVote, rn.raft.checkQuorum)
	}
}

func TestNewRawNodeRefusesInvalidConfig(t *testing.T) {
	if _, err := NewRawNode(&Config{ID: 0, Storage: NewMemoryStorage()}); err == nil {
		t.Fatal("NewRawNode with ID 0 succeeded")
	}
}
