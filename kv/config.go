package kv

import (
	"errors"
	"fmt"
)

// Defaults for Config fields left zero.
const (
	DefaultWatchQueueEvents     = 10000
	DefaultWatchBatchEvents     = 1000
	DefaultWatchScanRecords     = 10000
	DefaultMaxWatchersPerStream = 10000
)

// MaxLeaseTTL is the largest lease TTL, in seconds, a LeaseGrant may carry:
// etcd's limit, answered with ErrGRPCLeaseTTLTooLarge.
const MaxLeaseTTL = 9000000000

// Config holds the store's limits. The zero value is usable: New applies the
// defaults. None of these settings affects replicated state, so members may
// differ.
type Config struct {
	// WatchQueueEvents bounds the events queued on one WatchStream for its
	// consumer. A watcher whose next revision does not fit falls behind
	// ("unsynced") and catches up from history when the consumer asks for
	// more, as etcd's unsynced watchers do; Apply never blocks on a watcher.
	// A single revision is always queued whole when the queue is empty.
	WatchQueueEvents int
	// WatchBatchEvents is where a catch-up response ends: at the first
	// revision boundary at or after this many events.
	WatchBatchEvents int
	// WatchScanRecords bounds the history records one catch-up step reads
	// under the store's read lock (rounded up to a revision boundary), so a
	// watcher far behind does not stall Apply.
	WatchScanRecords int
	// MaxWatchersPerStream bounds the watchers of one WatchStream; a create
	// beyond it is refused with a canceled response.
	MaxWatchersPerStream int
}

func (c Config) withDefaults() Config {
	if c.WatchQueueEvents == 0 {
		c.WatchQueueEvents = DefaultWatchQueueEvents
	}
	if c.WatchBatchEvents == 0 {
		c.WatchBatchEvents = DefaultWatchBatchEvents
	}
	if c.WatchScanRecords == 0 {
		c.WatchScanRecords = DefaultWatchScanRecords
	}
	if c.MaxWatchersPerStream == 0 {
		c.MaxWatchersPerStream = DefaultMaxWatchersPerStream
	}
	return c
}

// Validate reports every field out of range. Zero fields are valid: they
// take their defaults.
func (c Config) Validate() error {
	var errs []error
	check := func(name string, v int) {
		if v < 0 {
			errs = append(errs, fmt.Errorf("kv: config: %s = %d, want >= 0", name, v))
		}
	}
	check("WatchQueueEvents", c.WatchQueueEvents)
	check("WatchBatchEvents", c.WatchBatchEvents)
	check("WatchScanRecords", c.WatchScanRecords)
	check("MaxWatchersPerStream", c.MaxWatchersPerStream)
	return errors.Join(errs...)
}
