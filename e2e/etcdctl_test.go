package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// etcdctlVersions are the etcdctl binaries of the matrix: Debian's
// etcd-client (3.4) and the current release (3.7).
var etcdctlVersions = []string{"3.4", "3.7"}

// ctlTimeout bounds one etcdctl command that should finish by itself.
const ctlTimeout = 20 * time.Second

// ctlRow is one row of the matrix: a feature checked through etcdctl.
type ctlRow struct {
	name string
	run  func(t *testing.T, e *ctlEnv)
}

// ctlEnv is one etcdctl version against one cluster.
type ctlEnv struct {
	c       *cluster
	version string
	bin     string
}

// TestEtcdctlMatrix runs every row with every etcdctl version, each version
// against its own fresh three-member cluster, and prints a version × row
// summary. A failing row fails the test; nothing is skipped.
func TestEtcdctlMatrix(t *testing.T) {
	bins := map[string]string{}
	for _, v := range etcdctlVersions {
		bins[v] = etcdctlBin(t, v)
	}
	results := map[string]map[string]string{} // version -> row -> PASS/FAIL
	for _, v := range etcdctlVersions {
		results[v] = map[string]string{}
		t.Run("etcdctl-"+v, func(t *testing.T) {
			e := &ctlEnv{c: newCluster(t, 3), version: v, bin: bins[v]}
			for _, row := range etcdctlRows {
				results[v][row.name] = "FAIL"
				if t.Run(row.name, func(t *testing.T) { row.run(t, e) }) {
					results[v][row.name] = "PASS"
				}
			}
		})
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "etcdctl compatibility matrix:\n%-38s", "row")
	for _, v := range etcdctlVersions {
		fmt.Fprintf(&sb, "  etcdctl-%-5s", v)
	}
	for _, row := range etcdctlRows {
		fmt.Fprintf(&sb, "\n%-38s", row.name)
		for _, v := range etcdctlVersions {
			r := results[v][row.name]
			if r == "" {
				r = "not run"
			}
			fmt.Fprintf(&sb, "  %-13s", r)
		}
	}
	t.Log(sb.String())
}

// command returns an etcdctl command against eps (every running member if
// empty).
func (e *ctlEnv) command(ctx context.Context, eps []string, args ...string) *exec.Cmd {
	if len(eps) == 0 {
		eps = e.c.endpoints()
	}
	full := append([]string{"--endpoints=" + strings.Join(eps, ","), "--dial-timeout=5s", "--command-timeout=15s"}, args...)
	cmd := exec.CommandContext(ctx, e.bin, full...)
	if e.version == "3.4" {
		cmd.Env = childEnv("ETCDCTL_API=3")
	} else {
		cmd.Env = childEnv() // 3.5 and later warn about ETCDCTL_API
	}
	cmd.SysProcAttr = procAttr()
	return cmd
}

// ctlResult is the outcome of one etcdctl run.
type ctlResult struct {
	args           []string
	stdout, stderr string
	err            error
}

func (r ctlResult) String() string {
	return fmt.Sprintf("etcdctl %s: %v\nstdout:\n%s\nstderr:\n%s", strings.Join(r.args, " "), r.err, r.stdout, r.stderr)
}

// exec runs etcdctl with stdin against eps and returns what it did.
func (e *ctlEnv) exec(t *testing.T, eps []string, stdin string, args ...string) ctlResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), ctlTimeout)
	defer cancel()
	cmd := e.command(ctx, eps, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return ctlResult{args: args, stdout: stdout.String(), stderr: stderr.String(), err: err}
}

// ctl runs etcdctl against the cluster and returns its stdout; it fails the
// test if etcdctl fails.
func (e *ctlEnv) ctl(t *testing.T, args ...string) string {
	t.Helper()
	r := e.exec(t, nil, "", args...)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	return r.stdout
}

// ctlIn is ctl with stdin.
func (e *ctlEnv) ctlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := e.exec(t, nil, stdin, args...)
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	return r.stdout
}

// expect runs etcdctl and compares its stdout with want.
func (e *ctlEnv) expect(t *testing.T, want string, args ...string) {
	t.Helper()
	if got := e.ctl(t, args...); got != want {
		t.Errorf("etcdctl %s printed\n%q\nwant\n%q", strings.Join(args, " "), got, want)
	}
}

// bgCtl is an etcdctl process that runs until stopped (watch, lock,
// elect, keep-alive). Its waiter goroutine is joined through done.
type bgCtl struct {
	args []string
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error // valid after done
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// start starts etcdctl in the background; it is killed when the test ends
// if still running.
func (e *ctlEnv) start(t *testing.T, args ...string) *bgCtl {
	t.Helper()
	cmd := e.command(context.Background(), nil, args...)
	b := &bgCtl{args: args, cmd: cmd, out: &syncBuffer{}, done: make(chan struct{})}
	var stderr syncBuffer
	cmd.Stdout, cmd.Stderr = b.out, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("etcdctl %s: %v", strings.Join(args, " "), err)
	}
	go func() {
		b.err = cmd.Wait()
		if s := stderr.String(); s != "" && b.err != nil {
			b.err = fmt.Errorf("%w; stderr: %s", b.err, s)
		}
		close(b.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-b.done
	})
	return b
}

// waitOutput waits until the process's stdout satisfies ok.
func (b *bgCtl) waitOutput(t *testing.T, what string, ok func(out string) bool) {
	t.Helper()
	waitFor(t, fmt.Sprintf("etcdctl %s to print %s", strings.Join(b.args, " "), what), func() error {
		out := b.out.String()
		if ok(out) {
			return nil
		}
		select {
		case <-b.done:
			t.Fatalf("etcdctl %s exited (%v) before printing %s; stdout:\n%s", strings.Join(b.args, " "), b.err, what, out)
		default:
		}
		return fmt.Errorf("stdout so far: %q", out)
	})
}

// waitContains waits until stdout contains s.
func (b *bgCtl) waitContains(t *testing.T, s string) {
	t.Helper()
	b.waitOutput(t, fmt.Sprintf("%q", s), func(out string) bool { return strings.Contains(out, s) })
}

// running reports whether the process still runs.
func (b *bgCtl) running() bool {
	select {
	case <-b.done:
		return false
	default:
		return true
	}
}

// interrupt sends SIGINT (etcdctl then resigns, unlocks or stops) and
// waits for the process to exit.
func (b *bgCtl) interrupt(t *testing.T) {
	t.Helper()
	b.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-b.done:
	case <-time.After(waitTimeout):
		t.Fatalf("etcdctl %s still runs %v after SIGINT", strings.Join(b.args, " "), waitTimeout)
	}
}

// wait waits for the process to exit by itself and returns its error.
func (b *bgCtl) wait(t *testing.T) error {
	t.Helper()
	select {
	case <-b.done:
		return b.err
	case <-time.After(waitTimeout):
		t.Fatalf("etcdctl %s still runs after %v", strings.Join(b.args, " "), waitTimeout)
		return nil
	}
}
