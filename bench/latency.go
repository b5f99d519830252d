package bench

import (
	"math"
	"slices"
	"time"
)

// latencies records proposal latencies. Each proposer goroutine owns one
// (no locking on the hot path); merge combines them once the run is over.
// Every sample is kept: at 8 bytes a sample, a million commits cost 8 MB,
// and the percentiles are exact.
type latencies struct {
	samples []time.Duration
}

func (l *latencies) add(d time.Duration) { l.samples = append(l.samples, d) }

// merge returns all the samples of ls, sorted.
func merge(ls []*latencies) []time.Duration {
	var n int
	for _, l := range ls {
		n += len(l.samples)
	}
	all := make([]time.Duration, 0, n)
	for _, l := range ls {
		all = append(all, l.samples...)
	}
	slices.Sort(all)
	return all
}

// percentile returns the nearest-rank q-quantile (0 < q <= 1) of sorted
// samples, 0 for none.
func percentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
