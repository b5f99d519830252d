// Command etcdcompare runs etcd's own benchmark tool (tools/benchmark of
// etcd v3.6.8, built from the Go module proxy by scripts/etcd-tools.sh in a
// throwaway module) against a three-member ironkv cluster and, in the same
// run on the same machine, a three-member etcd v3.6.8 cluster, and prints
// throughput and p50 / p99 latency of both side by side, with the ratio.
//
//	cd bench && go run ./cmd/etcdcompare [-clients 1,16,128] [-workloads put,range-l,range-s,txn-put] [-target 7s] [-rounds 1]
//
// Each system gets a fresh cluster per round (its members are processes of
// their own, with data directories on disk under -tmpdir, on random loopback
// ports, heartbeat 100ms and election timeout 1000ms); the workloads then
// run one after the other on it, in the same order for both systems:
//
//	put      put --key-size 8 --val-size 256 --sequential-keys=false --key-space-size 100000
//	range-l  range KEY --consistency l   (one key holding 256 bytes, after the puts)
//	range-s  range KEY --consistency s
//	txn-put  txn-put --key-size 8 --val-size 256 --key-space-size 100000 (one put per txn)
//
// at each -clients count, with --conns min(clients, 16) and --endpoints all
// three members, the current leader first (the tool dials its connections
// round-robin over the endpoints, so a single client talks to the leader).
// --total is chosen from a per-workload rate estimate for this machine so
// that a point lasts about -target. Every process and the temporary
// directory are removed at the end, also on error or interrupt.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	sysIronkv = "ironkv"
	sysEtcd   = "etcd"

	// rangeKey is the key of the range workloads; it holds valSize bytes.
	rangeKey = "etcdcompare/range-key"
	keySize  = 8
	valSize  = 256
)

var allWorkloads = []string{"put", "range-l", "range-s", "txn-put"}

type flags struct {
	ironkv, tools, repo  string
	tmpdir, outDir       string
	pprofDir             string
	clients              []int
	workloads, systems   []string
	target, pointTimeout time.Duration
	rounds, keySpace     int
	maxConns             int
	extraArgs            map[string][]string // per system, appended to the member's flags
}

func main() {
	f, err := parseFlags()
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdcompare:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	err = run(ctx, f, os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "etcdcompare:", err)
		os.Exit(1)
	}
}

func parseFlags() (flags, error) {
	var f flags
	var clients, workloads, systems string
	toolsDefault := os.Getenv("IRONKV_TOOLS")
	if toolsDefault == "" {
		toolsDefault = "/tmp/ironkv-tools"
	}
	flag.StringVar(&f.ironkv, "ironkv", "", "ironkv binary (default: go build ./cmd/ironkv of the repository into the temporary directory)")
	flag.StringVar(&f.repo, "repo", "", "root of the ironraft repository (default: the first parent of the working directory with cmd/ironkv)")
	flag.StringVar(&f.tools, "tools", toolsDefault, "directory of etcd's tools (bin/etcd, bin/benchmark, bin/etcdctl-3.7); scripts/etcd-tools.sh builds what is missing ($IRONKV_TOOLS)")
	flag.StringVar(&f.tmpdir, "tmpdir", "", "parent of the temporary directory with the data directories (default $TMPDIR or /tmp); must be a real disk")
	flag.StringVar(&f.outDir, "out", "", "if set, keep the benchmark tool's output and the members' logs in this directory")
	flag.StringVar(&f.pprofDir, "pprof", "", "if set, start the members with --enable-pprof and save a CPU profile of each system's leader during each point into this directory")
	flag.StringVar(&clients, "clients", "1,16,128", "comma-separated numbers of clients (--clients of the benchmark tool)")
	flag.IntVar(&f.maxConns, "max-conns", 16, "--conns is min(clients, max-conns)")
	flag.StringVar(&workloads, "workloads", strings.Join(allWorkloads, ","), "comma-separated workloads: "+strings.Join(allWorkloads, ", "))
	flag.StringVar(&systems, "systems", sysIronkv+","+sysEtcd, "comma-separated systems: ironkv, etcd")
	flag.DurationVar(&f.target, "target", 7*time.Second, "aimed duration of one point (sets --total from a rate estimate)")
	flag.DurationVar(&f.pointTimeout, "point-timeout", 2*time.Minute, "kill the benchmark tool after this long and report the point as failed")
	flag.IntVar(&f.rounds, "rounds", 1, "repeat everything this many times (systems alternate first) and report the median point")
	flag.IntVar(&f.keySpace, "key-space", 100000, "--key-space-size of put and txn-put")
	var ironkvArgs, etcdArgs string
	flag.StringVar(&ironkvArgs, "ironkv-args", "", "extra flags for every ironkv member, space-separated (e.g. \"--snapshot-count 1000000\")")
	flag.StringVar(&etcdArgs, "etcd-args", "", "extra flags for every etcd member, space-separated")
	flag.Parse()
	f.extraArgs = map[string][]string{sysIronkv: strings.Fields(ironkvArgs), sysEtcd: strings.Fields(etcdArgs)}
	if flag.NArg() > 0 {
		return f, fmt.Errorf("unexpected arguments %q", flag.Args())
	}
	var errs []error
	for _, s := range strings.Split(clients, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			errs = append(errs, fmt.Errorf("-clients: %q is not a positive number", s))
			continue
		}
		f.clients = append(f.clients, n)
	}
	for _, s := range strings.Split(workloads, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allWorkloads, s) {
			errs = append(errs, fmt.Errorf("-workloads: unknown workload %q", s))
			continue
		}
		f.workloads = append(f.workloads, s)
	}
	for _, s := range strings.Split(systems, ",") {
		s = strings.TrimSpace(s)
		if s != sysIronkv && s != sysEtcd {
			errs = append(errs, fmt.Errorf("-systems: unknown system %q", s))
			continue
		}
		f.systems = append(f.systems, s)
	}
	if f.rounds < 1 || f.maxConns < 1 || f.keySpace < 1 || f.target <= 0 {
		errs = append(errs, errors.New("-rounds, -max-conns, -key-space and -target must be positive"))
	}
	return f, errors.Join(errs...)
}

// workload is one point: a benchmark subcommand at a number of clients.
type workload struct {
	name                  string
	clients, conns, total int
}

func (w workload) String() string { return fmt.Sprintf("%s c=%d", w.name, w.clients) }

// args returns the benchmark tool's subcommand and its flags.
func (w workload) args(keySpace int) []string {
	total := strconv.Itoa(w.total)
	switch w.name {
	case "put":
		return []string{"put", "--key-size", strconv.Itoa(keySize), "--val-size", strconv.Itoa(valSize),
			"--total", total, "--sequential-keys=false", "--key-space-size", strconv.Itoa(keySpace)}
	case "range-l":
		return []string{"range", rangeKey, "--consistency", "l", "--total", total}
	case "range-s":
		return []string{"range", rangeKey, "--consistency", "s", "--total", total}
	case "txn-put":
		return []string{"txn-put", "--key-size", strconv.Itoa(keySize), "--val-size", strconv.Itoa(valSize),
			"--total", total, "--key-space-size", strconv.Itoa(keySpace)}
	}
	panic("unknown workload " + w.name)
}

// baseRates are requests per second measured on the reference machine
// (2 vCPUs, shared; both systems within ~1.5× of these) at 1, 16 and 128
// clients. They only size --total.
var baseRates = map[string]map[int]float64{
	"put":     {1: 400, 16: 2000, 128: 4500},
	"range-l": {1: 1300, 16: 3500, 128: 7500},
	"range-s": {1: 3500, 16: 9000, 128: 16000},
	"txn-put": {1: 420, 16: 1500, 128: 4000},
}

// estimatedRate interpolates baseRates in log(clients), flat outside.
func estimatedRate(name string, clients int) float64 {
	r := baseRates[name]
	pts := []int{1, 16, 128}
	if clients <= pts[0] {
		return r[pts[0]]
	}
	for i := 1; i < len(pts); i++ {
		if clients <= pts[i] {
			lo, hi := pts[i-1], pts[i]
			t := math.Log(float64(clients)/float64(lo)) / math.Log(float64(hi)/float64(lo))
			return r[lo] + t*(r[hi]-r[lo])
		}
	}
	return r[pts[len(pts)-1]]
}

func (f flags) points() []workload {
	var ws []workload
	for _, name := range f.workloads {
		for _, c := range f.clients {
			total := int(math.Round(estimatedRate(name, c)*f.target.Seconds()/100)) * 100
			ws = append(ws, workload{name: name, clients: c, conns: min(c, f.maxConns), total: max(total, 100)})
		}
	}
	return ws
}

// result is one system's outcome at one point in one round.
type result struct {
	sum       summary
	err       error
	wall      time.Duration // the benchmark tool's run, process start to exit
	serverCPU time.Duration // CPU time of the three members during the run
	toolCPU   time.Duration // CPU time of the benchmark tool
	leader    string        // the member that led when the point started
}

type key struct {
	sys, workload string
	clients       int
}

// runner holds what one invocation needs.
type runner struct {
	f                  flags
	bins               map[string]string // sysIronkv, sysEtcd, "benchmark", "etcdctl"
	tmp                string
	results            map[key][]result
	notes              []string
	loadStart, loadEnd string
}

func run(ctx context.Context, f flags, out io.Writer) (err error) {
	tmp, err := os.MkdirTemp(f.tmpdir, "etcdcompare-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil {
			err = errors.Join(err, rerr)
		}
	}()
	r := &runner{f: f, tmp: tmp, results: map[key][]result{}}
	if err := r.prepare(ctx); err != nil {
		return err
	}
	for _, d := range []string{f.outDir, f.pprofDir} {
		if d != "" {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
	}
	for _, sys := range f.systems {
		if len(f.extraArgs[sys]) > 0 {
			r.notes = append(r.notes, fmt.Sprintf("%s members started with the extra flags %q", sys, strings.Join(f.extraArgs[sys], " ")))
		}
	}
	r.loadStart = loadAvg()
	var runErr error
rounds:
	for round := 1; round <= f.rounds; round++ {
		systems := slices.Clone(f.systems)
		if round%2 == 0 {
			slices.Reverse(systems)
		}
		for _, sys := range systems {
			if err := r.runSystem(ctx, sys, round); err != nil {
				runErr = err
				if ctx.Err() != nil {
					break rounds
				}
				// A system that fails does not stop the other's run.
				logf("%s: %v", sys, err)
				r.notes = append(r.notes, fmt.Sprintf("round %d, %s: %v", round, sys, firstLine(err.Error())))
			}
		}
	}
	r.loadEnd = loadAvg()
	r.printTables(out)
	return runErr
}

// prepare finds or builds the binaries.
func (r *runner) prepare(ctx context.Context) error {
	f := r.f
	repo := f.repo
	if repo == "" {
		wd, err := os.Getwd()
		if err != nil {
			return err
		}
		for d := wd; ; d = filepath.Dir(d) {
			if st, err := os.Stat(filepath.Join(d, "cmd", "ironkv")); err == nil && st.IsDir() {
				repo = d
				break
			}
			if filepath.Dir(d) == d {
				break
			}
		}
	}
	r.bins = map[string]string{
		sysEtcd:     filepath.Join(f.tools, "bin", "etcd"),
		"benchmark": filepath.Join(f.tools, "bin", "benchmark"),
		"etcdctl":   filepath.Join(f.tools, "bin", "etcdctl-3.7"),
	}
	var missing bool
	for _, b := range r.bins {
		if _, err := os.Stat(b); err != nil {
			missing = true
		}
	}
	if missing {
		if repo == "" {
			return fmt.Errorf("etcd's tools are missing in %s and the repository (scripts/etcd-tools.sh) was not found: pass -repo", f.tools)
		}
		logf("building etcd's tools into %s (scripts/etcd-tools.sh)", f.tools)
		cmd := exec.CommandContext(ctx, "bash", filepath.Join(repo, "scripts", "etcd-tools.sh"), f.tools)
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("scripts/etcd-tools.sh: %w", err)
		}
	}
	r.bins[sysIronkv] = f.ironkv
	if f.ironkv == "" {
		if repo == "" {
			return errors.New("the repository (cmd/ironkv) was not found: pass -repo or -ironkv")
		}
		bin := filepath.Join(r.tmp, "ironkv")
		logf("building ironkv from %s", repo)
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/ironkv")
		cmd.Dir = repo
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("go build ./cmd/ironkv: %w", err)
		}
		r.bins[sysIronkv] = bin
		if out, err := exec.Command("git", "-C", repo, "describe", "--always", "--dirty").Output(); err == nil {
			r.notes = append(r.notes, "ironkv built from commit "+strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// runSystem starts a fresh cluster of sys, runs every point on it in
// order, and stops it.
func (r *runner) runSystem(ctx context.Context, sys string, round int) (err error) {
	dir := filepath.Join(r.tmp, fmt.Sprintf("round%d", round))
	logf("round %d: starting a three-member %s cluster", round, sys)
	c, err := startCluster(ctx, sys, r.bins[sys], r.bins["etcdctl"], dir, r.f.pprofDir != "", r.f.extraArgs[sys])
	if err != nil {
		return fmt.Errorf("cluster start: %w", err)
	}
	defer func() {
		logf("round %d: stopping the %s cluster", round, sys)
		c.stop()
		if r.f.outDir != "" {
			for _, m := range c.members {
				copyFile(m.logPath, filepath.Join(r.f.outDir, fmt.Sprintf("r%d-%s.log", round, m.name)))
			}
		}
		os.RemoveAll(c.dir)
	}()
	term0 := c.term(ctx)
	loaded := false
	points := r.f.points()
	for i, w := range points {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err := c.checkAlive(); err != nil {
			r.failRest(sys, points[i:], err)
			return err
		}
		if strings.HasPrefix(w.name, "range") && !loaded {
			if err := r.ctl(ctx, c, "put", rangeKey, strings.Repeat("v", valSize)); err != nil {
				r.failRest(sys, points[i:], err)
				return fmt.Errorf("loading the range key: %w", err)
			}
			loaded = true
		}
		// Leader first, as it is now (it may have moved under load).
		if err := c.waitLeader(ctx, 15*time.Second); err != nil {
			r.failRest(sys, points[i:], err)
			return err
		}
		res := r.runPoint(ctx, c, w, round)
		k := key{sys, w.name, w.clients}
		r.results[k] = append(r.results[k], res)
		if res.err != nil {
			logf("round %d: %s %v: FAILED: %v", round, sys, w, res.err)
		} else {
			logf("round %d: %s %v (total %d, leader %s): %.0f req/s, p50 %s, p99 %s, %.1fs, members' CPU %.2f cores%s",
				round, sys, w, w.total, res.leader, res.sum.RPS, ms(res.sum.P50), ms(res.sum.P99),
				res.wall.Seconds(), res.serverCPU.Seconds()/res.wall.Seconds(), errNote(res.sum))
		}
	}
	if term1 := c.term(ctx); term0 != 0 && term1 != term0 {
		r.notes = append(r.notes, fmt.Sprintf("round %d, %s: raft term went from %d to %d during the run (leader elections under load)", round, sys, term0, term1))
	}
	return c.checkAlive()
}

func (r *runner) failRest(sys string, ws []workload, err error) {
	for _, w := range ws {
		k := key{sys, w.name, w.clients}
		r.results[k] = append(r.results[k], result{err: err})
	}
}

// ctl runs etcdctl against the cluster.
func (r *runner) ctl(ctx context.Context, c *cluster, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bins["etcdctl"], append([]string{"--endpoints", strings.Join(c.endpoints(), ",")}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("etcdctl %s: %w: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}

// runPoint runs the benchmark tool once against c.
func (r *runner) runPoint(ctx context.Context, c *cluster, w workload, round int) result {
	res := result{leader: c.leader.name}
	args := []string{
		"--endpoints", strings.Join(c.leaderFirst(), ","),
		"--clients", strconv.Itoa(w.clients), "--conns", strconv.Itoa(w.conns),
		"--dial-timeout", "10s", "--precise",
	}
	args = append(args, w.args(r.f.keySpace)...)
	pctx, cancel := context.WithTimeout(ctx, r.f.pointTimeout)
	defer cancel()
	cmd := exec.CommandContext(pctx, r.bins["benchmark"], args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout strings.Builder
	cmd.Stdout = &stdout
	name := fmt.Sprintf("r%d-%s-%s-c%d", round, c.sys, w.name, w.clients)
	stderrPath := filepath.Join(c.dir, name+".stderr") // the progress bar, and dial errors
	if ef, err := os.Create(stderrPath); err == nil {
		defer ef.Close()
		cmd.Stderr = ef
	}
	var profDone chan struct{}
	if r.f.pprofDir != "" && c.leader.pprofBase != "" {
		profDone = make(chan struct{})
		secs := max(1, int(r.f.target.Seconds()*0.7))
		go func() {
			defer close(profDone)
			if err := fetchProfile(pctx, c.leader.pprofBase, secs, filepath.Join(r.f.pprofDir, name+".pprof")); err != nil {
				logf("%s: CPU profile: %v", name, err)
			}
		}()
	}
	cpu0 := c.cpuTime()
	start := time.Now()
	err := cmd.Run()
	res.wall = time.Since(start)
	res.serverCPU = c.cpuTime() - cpu0
	if cmd.ProcessState != nil {
		res.toolCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if profDone != nil {
		<-profDone
	}
	if r.f.outDir != "" {
		os.WriteFile(filepath.Join(r.f.outDir, name+".txt"), []byte("benchmark "+strings.Join(args, " ")+"\n"+stdout.String()), 0o644)
	}
	sum, perr := parseSummary(stdout.String())
	res.sum = sum
	switch {
	case pctx.Err() != nil && ctx.Err() == nil:
		res.err = fmt.Errorf("no result within -point-timeout %v (benchmark killed)", r.f.pointTimeout)
	case err != nil:
		res.err = fmt.Errorf("benchmark: %w: %s", err, tail(stderrPath, 3))
	case perr != nil:
		res.err = perr
	case !sum.HasStats:
		res.err = fmt.Errorf("every request failed: %d errors, mostly %q", sum.Errors, sum.FirstErr)
	}
	return res
}

func errNote(s summary) string {
	if s.Errors == 0 {
		return ""
	}
	return fmt.Sprintf(", %d errors (mostly %q)", s.Errors, s.FirstErr)
}

func copyFile(from, to string) {
	if b, err := os.ReadFile(from); err == nil {
		os.WriteFile(to, b, 0o644)
	}
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "etcdcompare: "+format+"\n", args...)
}
