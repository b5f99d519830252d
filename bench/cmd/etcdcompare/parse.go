package main

import (
	"bufio"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// summary is what etcd's benchmark tool prints at the end of a run (its
// pkg/report String): the Summary block, the latency distribution and,
// if any request failed, the error distribution.
type summary struct {
	Total    time.Duration // wall time of the run ("Total:")
	RPS      float64       // "Requests/sec:"
	P50, P99 time.Duration // "50% in X secs.", "99% in X secs."
	Errors   int           // sum of the "Error distribution:" counts
	FirstErr string        // the most frequent error
	HasStats bool          // false when no request succeeded (no Summary block)
}

var (
	reTotal = regexp.MustCompile(`^\s*Total:\s+([0-9.eE+-]+) secs\.`)
	reRPS   = regexp.MustCompile(`^\s*Requests/sec:\s+([0-9.eE+-]+)`)
	rePct   = regexp.MustCompile(`^\s*([0-9.]+)% in ([0-9.eE+-]+) secs\.`)
	reErr   = regexp.MustCompile(`^\s*\[(\d+)\]\s+(.*)$`)
)

// parseSummary parses the benchmark tool's standard output.
func parseSummary(out string) (summary, error) {
	var s summary
	var haveRPS, have50, have99 bool
	inErrors := false
	maxErr := 0
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64*1024), 16*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(strings.TrimSpace(line), "Error distribution:"):
			inErrors = true
			continue
		case strings.TrimSpace(line) == "":
			inErrors = false
			continue
		}
		if inErrors {
			if m := reErr.FindStringSubmatch(line); m != nil {
				n, _ := strconv.Atoi(m[1])
				s.Errors += n
				if n > maxErr {
					maxErr, s.FirstErr = n, m[2]
				}
			}
			continue
		}
		if m := reTotal.FindStringSubmatch(line); m != nil {
			if v, err := strconv.ParseFloat(m[1], 64); err == nil {
				s.Total = secs(v)
			}
		} else if m := reRPS.FindStringSubmatch(line); m != nil {
			v, err := strconv.ParseFloat(m[1], 64)
			if err != nil {
				return s, fmt.Errorf("Requests/sec %q: %w", m[1], err)
			}
			s.RPS, haveRPS = v, true
		} else if m := rePct.FindStringSubmatch(line); m != nil {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				return s, fmt.Errorf("%s%% latency %q: %w", m[1], m[2], err)
			}
			switch m[1] {
			case "50":
				s.P50, have50 = secs(v), true
			case "99":
				s.P99, have99 = secs(v), true
			}
		}
	}
	if err := sc.Err(); err != nil {
		return s, err
	}
	s.HasStats = haveRPS && have50 && have99
	if !s.HasStats && s.Errors == 0 {
		return s, fmt.Errorf("no summary in the benchmark output (Requests/sec %v, 50%% %v, 99%% %v)", haveRPS, have50, have99)
	}
	return s, nil
}

func secs(v float64) time.Duration { return time.Duration(v * float64(time.Second)) }
