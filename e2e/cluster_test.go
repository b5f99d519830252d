package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Cluster timing: fast elections keep the tests short; the deadlines are
// generous for two loaded cores.
const (
	heartbeatMs = 50
	electionMs  = 500
	// waitTimeout is the deadline of every wait for a condition.
	waitTimeout = 30 * time.Second
	// stopTimeout bounds a graceful stop (SIGTERM) before SIGKILL.
	stopTimeout = 30 * time.Second
	// startAttempts: a cluster whose member could not bind its port (taken
	// between our probe and its bind) is started again on new ports.
	startAttempts = 3
	logTailLines  = 40
)

// member is one ironkv member: its URLs and data directory, stable across
// restarts, and its process while it runs.
type member struct {
	name                           string
	clientURL, peerURL, metricsURL string
	dataDir                        string
	logPath                        string
	initialCluster, clusterState   string
	id                             uint64   // from Status; 0 until known
	proc                           *process // nil when not running
	starts                         int
}

// process is one run of a member. Its waiter goroutine (started by
// startProcess) is joined by receiving from done.
type process struct {
	cmd  *exec.Cmd
	done chan struct{} // closed once the process has exited
	err  error         // cmd.Wait's result, valid after done
}

// cluster is a set of ironkv processes on loopback ports. Only the test's
// goroutine touches it.
type cluster struct {
	t       *testing.T
	dir     string
	token   string
	members []*member
}

// newCluster starts an n-member cluster and waits until every member is
// ready (/readyz: a leader is known and a read fence passes).
func newCluster(t *testing.T, n int) *cluster {
	t.Helper()
	c := &cluster{t: t, dir: t.TempDir(), token: fmt.Sprintf("e2e-%d", time.Now().UnixNano())}
	t.Cleanup(c.cleanup)
	for attempt := 1; ; attempt++ {
		err := c.tryStart(n, attempt)
		if err == nil {
			return c
		}
		if attempt < startAttempts && c.portTaken() {
			t.Logf("starting the cluster (attempt %d): %v; a port was taken, retrying on new ports", attempt, err)
			c.killAll()
			continue
		}
		t.Fatalf("starting a %d-member cluster: %v", n, err)
	}
}

// tryStart starts n fresh members on new ports and waits for them.
func (c *cluster) tryStart(n, attempt int) error {
	ports, err := freePorts(3 * n)
	if err != nil {
		return err
	}
	c.members = nil
	var initial []string
	for i := range n {
		name := fmt.Sprintf("m%d", i+1)
		m := &member{
			name:         name,
			clientURL:    fmt.Sprintf("http://127.0.0.1:%d", ports[3*i]),
			peerURL:      fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+1]),
			metricsURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+2]),
			dataDir:      filepath.Join(c.dir, fmt.Sprintf("%s-%d", name, attempt)),
			logPath:      filepath.Join(c.dir, name+".log"),
			clusterState: "new",
		}
		c.members = append(c.members, m)
		initial = append(initial, name+"="+m.peerURL)
	}
	for _, m := range c.members {
		m.initialCluster = strings.Join(initial, ",")
		if err := c.startProcess(m); err != nil {
			return err
		}
	}
	for _, m := range c.members {
		if err := c.waitReady(m); err != nil {
			return err
		}
	}
	return nil
}

// portTaken reports whether a member's log says it could not bind.
func (c *cluster) portTaken() bool {
	for _, m := range c.members {
		if b, err := os.ReadFile(m.logPath); err == nil && strings.Contains(string(b), "address already in use") {
			return true
		}
	}
	return false
}

// freePorts returns n distinct loopback ports that were free a moment ago.
func freePorts(n int) ([]int, error) {
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("e2e: finding a free port: %w", err)
		}
		lns = append(lns, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// serveArgs is the command line of m.
func (m *member) serveArgs(token string) []string {
	return []string{"serve",
		"--name", m.name,
		"--data-dir", m.dataDir,
		"--listen-client-urls", m.clientURL,
		"--advertise-client-urls", m.clientURL,
		"--listen-peer-urls", m.peerURL,
		"--initial-advertise-peer-urls", m.peerURL,
		"--initial-cluster", m.initialCluster,
		"--initial-cluster-state", m.clusterState,
		"--initial-cluster-token", token,
		"--listen-metrics-urls", m.metricsURL,
		"--heartbeat-interval", fmt.Sprint(heartbeatMs),
		"--election-timeout", fmt.Sprint(electionMs),
		"--log-level", "info",
		"--log-format", "text",
	}
}

// childEnv is the environment of the processes we start, without our own
// IRONKV_ variables (ironkv would read them as flags) and ETCDCTL_ ones.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "IRONKV_") && !strings.HasPrefix(kv, "ETCDCTL_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// startProcess starts m's process, its output appended to m's log file.
func (c *cluster) startProcess(m *member) error {
	if m.proc != nil {
		c.t.Fatalf("e2e: starting %s, which is already running", m.name)
	}
	f, err := os.OpenFile(m.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	m.starts++
	args := m.serveArgs(c.token)
	fmt.Fprintf(f, "=== e2e: start #%d of %s: ironkv %s\n", m.starts, m.name, strings.Join(args, " "))
	cmd := exec.Command(ironkvBin, args...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.Env = childEnv()
	cmd.SysProcAttr = procAttr()
	if err := cmd.Start(); err != nil {
		f.Close()
		return fmt.Errorf("starting %s: %w", m.name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		f.Close()
		close(p.done)
	}()
	m.proc = p
	return nil
}

// waitReady waits until m's /readyz answers 200.
func (c *cluster) waitReady(m *member) error {
	hc := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(waitTimeout)
	var last string
	for {
		if m.proc == nil {
			return fmt.Errorf("%s is not running", m.name)
		}
		select {
		case <-m.proc.done:
			return fmt.Errorf("%s exited before it was ready: %v", m.name, m.proc.err)
		default:
		}
		resp, err := hc.Get(m.metricsURL + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready after %v: last /readyz: %s", m.name, waitTimeout, last)
		}
		select {
		case <-m.proc.done:
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// start starts a stopped member (a restart from its data directory, or the
// first start of an added member) and waits until it is ready.
func (c *cluster) start(m *member) {
	c.t.Helper()
	if err := c.startProcess(m); err != nil {
		c.t.Fatal(err)
	}
	if err := c.waitReady(m); err != nil {
		c.t.Fatal(err)
	}
}

// kill kills m with SIGKILL and waits for it to exit.
func (c *cluster) kill(m *member) {
	c.t.Helper()
	if m.proc == nil {
		c.t.Fatalf("e2e: killing %s, which is not running", m.name)
	}
	m.proc.cmd.Process.Kill()
	<-m.proc.done
	m.proc = nil
}

// terminate stops m with SIGTERM (a graceful stop) and returns its exit
// error; after stopTimeout it is killed.
func (c *cluster) terminate(m *member) error {
	c.t.Helper()
	if m.proc == nil {
		c.t.Fatalf("e2e: stopping %s, which is not running", m.name)
	}
	p := m.proc
	m.proc = nil
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.err
	case <-time.After(stopTimeout):
		p.cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not stop within %v of SIGTERM; killed", m.name, stopTimeout)
	}
}

// waitExit waits for m to exit by itself (as a removed member does) and
// returns its exit error.
func (c *cluster) waitExit(m *member) error {
	c.t.Helper()
	p := m.proc
	select {
	case <-p.done:
		m.proc = nil
		return p.err
	case <-time.After(waitTimeout):
		c.t.Fatalf("%s still runs %v later", m.name, waitTimeout)
		return nil
	}
}

func (c *cluster) killAll() {
	for _, m := range c.members {
		if m.proc != nil {
			m.proc.cmd.Process.Kill()
			<-m.proc.done
			m.proc = nil
		}
	}
}

// cleanup kills every process and, if the test failed, prints the tail of
// every member's log.
func (c *cluster) cleanup() {
	c.killAll()
	if !c.t.Failed() {
		return
	}
	for _, m := range c.members {
		c.t.Logf("--- last %d lines of %s's log (%s) ---\n%s", logTailLines, m.name, m.logPath, tail(m.logPath, logTailLines))
	}
}

func tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	return strings.Join(lines, "\n")
}

// running returns the members whose process runs.
func (c *cluster) running() []*member {
	var out []*member
	for _, m := range c.members {
		if m.proc != nil {
			out = append(out, m)
		}
	}
	return out
}

// endpoints returns the client URLs of ms, or of every running member.
func (c *cluster) endpoints(ms ...*member) []string {
	if len(ms) == 0 {
		ms = c.running()
	}
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.clientURL)
	}
	return eps
}

// client returns a clientv3 client of ms (every running member if none),
// closed when the test ends.
func (c *cluster) client(ms ...*member) *clientv3.Client {
	c.t.Helper()
	return newClient(c.t, c.endpoints(ms...))
}

func newClient(t *testing.T, endpoints []string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		t.Fatalf("clientv3.New(%v): %v", endpoints, err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// memberID returns m's member ID, asking m for it the first time.
func (c *cluster) memberID(m *member) uint64 {
	c.t.Helper()
	if m.id == 0 {
		cli := c.client(m)
		waitFor(c.t, m.name+"'s member ID", func() error {
			ctx, cancel := context.WithTimeout(c.t.Context(), 2*time.Second)
			defer cancel()
			st, err := cli.Status(ctx, m.clientURL)
			if err != nil {
				return err
			}
			m.id = st.Header.MemberId
			return nil
		})
	}
	return m.id
}

// leader waits until a running member says it leads, and returns it.
func (c *cluster) leader() *member {
	c.t.Helper()
	var lead *member
	waitFor(c.t, "a leader", func() error {
		for _, m := range c.running() {
			st, err := status(c.t, m)
			if err != nil {
				continue
			}
			if st.Leader != 0 && st.Leader == st.Header.MemberId {
				m.id = st.Header.MemberId
				lead = m
				return nil
			}
		}
		return errors.New("no running member leads")
	})
	return lead
}

// status asks m for its Status, with a short timeout.
func status(t *testing.T, m *member) (*clientv3.StatusResponse, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.clientURL}, DialTimeout: 2 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
	defer cancel()
	return cli.Status(ctx, m.clientURL)
}

// followers returns the running members other than lead.
func (c *cluster) followers(lead *member) []*member {
	var out []*member
	for _, m := range c.running() {
		if m != lead {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls cond until it returns nil, and fails the test with cond's
// last error if that takes longer than waitTimeout.
func waitFor(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s: %v", waitTimeout, what, err)
		}
		select {
		case <-t.Context().Done():
			t.Fatalf("waiting for %s: %v", what, t.Context().Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ctxTimeout returns a context of the test that ends after d.
func ctxTimeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// newMember adds a member that is not started yet, on new ports, to join
// the cluster (--initial-cluster-state existing): set its initialCluster,
// then start it.
func (c *cluster) newMember(name string) *member {
	c.t.Helper()
	ports, err := freePorts(3)
	if err != nil {
		c.t.Fatal(err)
	}
	m := &member{
		name:         name,
		clientURL:    fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		peerURL:      fmt.Sprintf("http://127.0.0.1:%d", ports[1]),
		metricsURL:   fmt.Sprintf("http://127.0.0.1:%d", ports[2]),
		dataDir:      filepath.Join(c.dir, name),
		logPath:      filepath.Join(c.dir, name+".log"),
		clusterState: "existing",
	}
	c.members = append(c.members, m)
	return m
}
