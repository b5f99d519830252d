package main

import (
	"testing"
	"time"
)

// Output of benchmark 3.6.8 --precise put, trimmed.
const sampleOK = `
Summary:
  Total:	4.662191412 secs.
  Slowest:	0.210011 secs.
  Fastest:	0.000894 secs.
  Average:	0.007436 secs.
  Stddev:	0.0091 secs.
  Requests/sec:	2144.91407930207

Response time histogram:
  0.000894 [1]	|
  0.021805 [9730]	|∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎∎

Latency distribution:
  10% in 0.002 secs.
  25% in 0.003 secs.
  50% in 0.005527405 secs.
  75% in 0.008 secs.
  90% in 0.012 secs.
  95% in 0.018 secs.
  99% in 0.039294922 secs.
  99.9% in 0.16 secs.
`

const sampleErrors = `
Summary:
  Total:	1.5 secs.
  Slowest:	0.2 secs.
  Fastest:	0.001 secs.
  Average:	0.01 secs.
  Stddev:	0.01 secs.
  Requests/sec:	100

Latency distribution:
  50% in 0.01 secs.
  99% in 0.1 secs.

Error distribution:
  [3]	rpc error: code = Unavailable desc = etcdserver: leader changed
  [7]	context deadline exceeded
`

func TestParseSummary(t *testing.T) {
	s, err := parseSummary(sampleOK)
	if err != nil {
		t.Fatal(err)
	}
	if !s.HasStats || s.RPS != 2144.91407930207 || s.Errors != 0 {
		t.Fatalf("got %+v", s)
	}
	if s.P50 != 5527405*time.Nanosecond || s.P99 != 39294922*time.Nanosecond || s.Total != 4662191412*time.Nanosecond {
		t.Fatalf("latencies: %+v", s)
	}

	s, err = parseSummary(sampleErrors)
	if err != nil {
		t.Fatal(err)
	}
	if s.Errors != 10 || s.FirstErr != "context deadline exceeded" || s.RPS != 100 || s.P99 != 100*time.Millisecond {
		t.Fatalf("got %+v", s)
	}

	s, err = parseSummary("\nError distribution:\n  [5]\tboom\n")
	if err != nil || s.HasStats || s.Errors != 5 {
		t.Fatalf("only errors: %+v, %v", s, err)
	}
	if _, err := parseSummary("dial error: connection refused\n"); err == nil {
		t.Fatal("no error for output without a summary")
	}
}

func TestEstimatedRate(t *testing.T) {
	for _, c := range []int{1, 16, 128} {
		if got, want := estimatedRate("put", c), baseRates["put"][c]; got != want {
			t.Errorf("put c=%d: %v, want %v", c, got, want)
		}
	}
	if r := estimatedRate("put", 4); r <= baseRates["put"][1] || r >= baseRates["put"][16] {
		t.Errorf("put c=4: %v not between the neighbours", r)
	}
	if r := estimatedRate("put", 1000); r != baseRates["put"][128] {
		t.Errorf("put c=1000: %v, want the c=128 rate", r)
	}
}
