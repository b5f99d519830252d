package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"time"
)

// median returns the successful result with the median throughput (the
// lower one of the middle two), or the first failure if none succeeded.
func median(rs []result) (result, int, bool) {
	var ok []result
	for _, r := range rs {
		if r.err == nil {
			ok = append(ok, r)
		}
	}
	if len(ok) == 0 {
		if len(rs) == 0 {
			return result{}, 0, false
		}
		return rs[0], 0, false
	}
	slices.SortFunc(ok, func(a, b result) int {
		switch {
		case a.sum.RPS < b.sum.RPS:
			return -1
		case a.sum.RPS > b.sum.RPS:
			return 1
		}
		return 0
	})
	return ok[(len(ok)-1)/2], len(ok), true
}

func (r *runner) printTables(out io.Writer) {
	w := bufio.NewWriter(out)
	defer w.Flush()
	f := r.f
	fmt.Fprintf(w, "%s/%s, %d CPUs (%s), load average %s at the start, %s at the end; %s; benchmark 3.6.8 --precise; 3 members each, loopback, heartbeat 100ms, election 1000ms; --conns min(clients, %d), --endpoints all members (leader first); %d round(s)",
		runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), cpuModel(), r.loadStart, r.loadEnd, r.etcdVersion(), f.maxConns, f.rounds)
	if f.rounds > 1 {
		fmt.Fprint(w, ", median by throughput")
	}
	fmt.Fprint(w, "\n\n")
	fmt.Fprintln(w, "| workload | clients | ironkv req/s | p50 | p99 | etcd req/s | p50 | p99 | ratio (ironkv/etcd) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|---:|")
	pts := f.points()
	for _, p := range pts {
		ik, okI := r.cell(sysIronkv, p)
		et, okE := r.cell(sysEtcd, p)
		ratio := "—"
		if okI && okE {
			i, _, _ := median(r.results[key{sysIronkv, p.name, p.clients}])
			e, _, _ := median(r.results[key{sysEtcd, p.name, p.clients}])
			if e.sum.RPS > 0 {
				ratio = fmt.Sprintf("%.2f×", i.sum.RPS/e.sum.RPS)
			}
		}
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s |\n", p.name, p.clients, ik, et, ratio)
	}

	fmt.Fprintln(w, "\nCPU used per request (user+system; the three members together, and the benchmark tool) and the members' CPU use during the point (2 = both cores):")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| workload | clients | --total | ironkv members µs/req | etcd members µs/req | ironkv members cores | etcd members cores | tool µs/req (ironkv / etcd) |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range pts {
		i, _, okI := median(r.results[key{sysIronkv, p.name, p.clients}])
		e, _, okE := median(r.results[key{sysEtcd, p.name, p.clients}])
		perReq := func(res result, ok bool, d time.Duration) string {
			if !ok || p.total == 0 {
				return "—"
			}
			return fmt.Sprintf("%.0f", float64(d.Microseconds())/float64(p.total))
		}
		cores := func(res result, ok bool) string {
			if !ok || res.wall <= 0 {
				return "—"
			}
			return fmt.Sprintf("%.2f", res.serverCPU.Seconds()/res.wall.Seconds())
		}
		fmt.Fprintf(w, "| %s | %d | %d | %s | %s | %s | %s | %s / %s |\n", p.name, p.clients, p.total,
			perReq(i, okI, i.serverCPU), perReq(e, okE, e.serverCPU), cores(i, okI), cores(e, okE),
			perReq(i, okI, i.toolCPU), perReq(e, okE, e.toolCPU))
	}

	var notes []string
	notes = append(notes, r.notes...)
	for _, p := range pts {
		for _, sys := range f.systems {
			for n, res := range r.results[key{sys, p.name, p.clients}] {
				if res.err != nil {
					notes = append(notes, fmt.Sprintf("%s %v, round %d: %v", sys, p, n+1, firstLine(res.err.Error())))
				} else if res.sum.Errors > 0 {
					notes = append(notes, fmt.Sprintf("%s %v, round %d: %d failed requests, mostly %q", sys, p, n+1, res.sum.Errors, res.sum.FirstErr))
				}
			}
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nNotes:")
		for _, n := range notes {
			fmt.Fprintln(w, "- "+n)
		}
	}
}

// cell formats req/s, p50 and p99 of sys at p as three table cells.
func (r *runner) cell(sys string, p workload) (string, bool) {
	res, n, ok := median(r.results[key{sys, p.name, p.clients}])
	if !ok {
		if res.err != nil {
			return "error | — | —", false
		}
		return "— | — | —", false
	}
	s := fmt.Sprintf("%.0f", res.sum.RPS)
	if res.sum.Errors > 0 {
		s += fmt.Sprintf(" (%d err)", res.sum.Errors)
	}
	if len(r.results[key{sys, p.name, p.clients}]) > n {
		s += fmt.Sprintf(" (%d/%d ok)", n, len(r.results[key{sys, p.name, p.clients}]))
	}
	return fmt.Sprintf("%s | %s | %s", s, ms(res.sum.P50), ms(res.sum.P99)), true
}

func ms(d time.Duration) string {
	return fmt.Sprintf("%.2f ms", float64(d)/float64(time.Millisecond))
}

func (r *runner) etcdVersion() string {
	out, err := exec.Command(r.bins[sysEtcd], "--version").Output()
	if err != nil {
		return "etcd ?"
	}
	l := firstLine(strings.TrimSpace(string(out)))
	return strings.Replace(strings.ToLower(l), "etcd version:", "etcd", 1)
}

// fetchProfile saves a CPU profile of secs seconds from the pprof base URL.
func fetchProfile(ctx context.Context, base string, secs int, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/profile?seconds=%d", base, secs), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(fh, resp.Body); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
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
