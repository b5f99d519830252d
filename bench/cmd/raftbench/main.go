// Command raftbench measures ironraft against hashicorp/raft: three members
// in one process over real transports on loopback, logs fsynced to disk,
// N concurrent proposers on the leader, each waiting for its command to be
// applied before it proposes the next. It prints commits per second and
// the p50 / p99 propose latency of each system at each concurrency, side
// by side, with the throughput ratio.
//
//	cd bench && go run ./cmd/raftbench [-duration 10s] [-proposers 1,16,128] [-size 256]
//
// Each load point runs on a fresh cluster; the systems alternate at each
// concurrency so that both see the machine in the same state.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/ironraft/ironraft/bench"
)

// Systems and load points.
const (
	sysIronraft  = "ironraft"
	sysHashicorp = "hashicorp"
	// startTimeout bounds the start of a cluster (its first election).
	startTimeout = 30 * time.Second
)

type flags struct {
	duration, warmup time.Duration
	proposers        []int
	size             int
	systems          []string
	follower         bool
	tempDir          string
}

func main() {
	f, err := parseFlags()
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, f, os.Stdout); err != nil {
		log.Fatal(err)
	}
}

func parseFlags() (flags, error) {
	var f flags
	var proposers, systems string
	flag.DurationVar(&f.duration, "duration", 10*time.Second, "measured time per load point")
	flag.DurationVar(&f.warmup, "warmup", 2*time.Second, "unmeasured warm-up before each load point")
	flag.StringVar(&proposers, "proposers", "1,16,128", "comma-separated numbers of concurrent proposers")
	flag.IntVar(&f.size, "size", bench.DefaultCommandBytes, "command size in bytes")
	flag.StringVar(&systems, "systems", "ironraft,hashicorp", "comma-separated systems: ironraft, hashicorp")
	flag.BoolVar(&f.follower, "follower", true, "also measure ironraft with the proposers on a follower")
	flag.StringVar(&f.tempDir, "tmpdir", "", "parent of the data directories (default: $TMPDIR or /tmp); must be a real disk")
	flag.Parse()
	var errs []error
	for _, s := range strings.Split(proposers, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("raftbench: -proposers: %q is not a positive number", s))
			continue
		}
		f.proposers = append(f.proposers, n)
	}
	for _, s := range strings.Split(systems, ",") {
		switch s = strings.TrimSpace(s); s {
		case sysIronraft, sysHashicorp:
			f.systems = append(f.systems, s)
		default:
			errs = append(errs, fmt.Errorf("raftbench: -systems: unknown system %q", s))
		}
	}
	if f.duration <= 0 || f.warmup < 0 || f.size < 8 {
		errs = append(errs, fmt.Errorf("raftbench: -duration %v must be positive, -warmup %v not negative, -size %d at least 8",
			f.duration, f.warmup, f.size))
	}
	return f, errors.Join(errs...)
}

// point is the results of one concurrency, by system.
type point struct {
	proposers int
	results   map[string]bench.Result
	follower  *bench.Result
}

func run(ctx context.Context, f flags, out io.Writer) error {
	has := map[string]bool{}
	for _, s := range f.systems {
		has[s] = true
	}
	var points []point
	for _, n := range f.proposers {
		p := point{proposers: n, results: map[string]bench.Result{}}
		load := bench.Load{Proposers: n, CommandBytes: f.size, Warmup: f.warmup, Duration: f.duration}
		for _, sys := range f.systems {
			r, err := measure(ctx, sys, false, load, f.tempDir)
			if err != nil {
				return err
			}
			p.results[sys] = r
		}
		if f.follower && has[sysIronraft] {
			r, err := measure(ctx, sysIronraft, true, load, f.tempDir)
			if err != nil {
				return err
			}
			p.follower = &r
		}
		points = append(points, p)
	}
	printTables(out, f, points)
	return nil
}

// measure starts a fresh cluster of sys, runs load against its leader (or
// a follower), and shuts the cluster down.
func measure(ctx context.Context, sys string, onFollower bool, load bench.Load, tempDir string) (res bench.Result, err error) {
	where := "leader"
	if onFollower {
		where = "follower"
	}
	fmt.Fprintf(os.Stderr, "raftbench: %s, %d proposers on the %s: %v warm-up + %v...\n",
		sys, load.Proposers, where, load.Warmup, load.Duration)
	sctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	opts := bench.Options{TempDir: tempDir}
	var p bench.Proposer
	var closer interface{ Close() error }
	switch sys {
	case sysIronraft:
		c, err := bench.StartIronraft(sctx, opts)
		if err != nil {
			return res, err
		}
		closer, p = c, c.Leader()
		if onFollower {
			p = c.Follower()
		}
	case sysHashicorp:
		c, err := bench.StartHashicorp(sctx, opts)
		if err != nil {
			return res, err
		}
		closer, p = c, c.Leader()
	}
	defer func() { err = errors.Join(err, closer.Close()) }()
	res, err = bench.Run(ctx, p, load)
	if res.Errors > 0 {
		fmt.Fprintf(os.Stderr, "raftbench: %s, %d proposers: %d proposals failed, the first: %v\n",
			sys, load.Proposers, res.Errors, res.FirstErr)
	}
	return res, err
}

func printTables(out io.Writer, f flags, points []point) {
	w := bufio.NewWriter(out)
	defer w.Flush()
	fmt.Fprintf(w, "%s %s/%s, %d CPUs (%s); %v per point after a %v warm-up; %d-byte commands; 3 members, loopback, fsync on\n\n",
		runtime.Version(), runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), f.duration, f.warmup, f.size)
	fmt.Fprintln(w, "| proposers | ironraft commits/s | p50 | p99 | hashicorp commits/s | p50 | p99 | ratio (ironraft/hashicorp) |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range points {
		ir, okI := p.results[sysIronraft]
		hc, okH := p.results[sysHashicorp]
		ratio := "—"
		if okI && okH && hc.CommitsPerSecond() > 0 {
			ratio = fmt.Sprintf("%.2f×", ir.CommitsPerSecond()/hc.CommitsPerSecond())
		}
		fmt.Fprintf(w, "| %d | %s | %s |\n", p.proposers, cells(ir, okI), strings.Join([]string{cells(hc, okH), ratio}, " | "))
	}
	if len(points) == 0 || points[0].follower == nil {
		return
	}
	fmt.Fprintln(w, "\nironraft with the proposers on a follower (it forwards to the leader and answers once it applied the entry itself):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| proposers | commits/s | p50 | p99 | vs. on the leader |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|")
	for _, p := range points {
		lead := p.results[sysIronraft].CommitsPerSecond()
		vs := "—"
		if lead > 0 {
			vs = fmt.Sprintf("%.2f×", p.follower.CommitsPerSecond()/lead)
		}
		fmt.Fprintf(w, "| %d | %s | %s |\n", p.proposers, cells(*p.follower, true), vs)
	}
}

// cells formats commits/s, p50 and p99 of r as three table cells.
func cells(r bench.Result, ok bool) string {
	if !ok {
		return "— | — | —"
	}
	return fmt.Sprintf("%.0f | %s | %s", r.CommitsPerSecond(), ms(r.P50), ms(r.P99))
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

// cpuModel returns the CPU's model name from /proc/cpuinfo, if there is one.
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
