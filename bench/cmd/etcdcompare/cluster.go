package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// member is one server process of a cluster.
type member struct {
	name               string
	clientURL, peerURL string
	metricsURL         string
	dataDir, logPath   string
	cmd                *exec.Cmd
	done               chan struct{} // closed when the process exited
	waitErr            error         // set before done closes
	id                 uint64        // raft member ID, from endpoint status
	pprofBase          string        // base URL of /debug/pprof
}

func (m *member) endpoint() string { return strings.TrimPrefix(m.clientURL, "http://") }

func (m *member) exited() bool {
	select {
	case <-m.done:
		return true
	default:
		return false
	}
}

// cpuTime returns the user+system CPU time the process has used so far
// (from /proc/PID/stat; 0 if it is gone).
func (m *member) cpuTime() time.Duration {
	return procCPUTime(m.cmd.Process.Pid)
}

// cluster is three members of one system, each a process of its own with
// its data directory and log file under dir.
type cluster struct {
	sys     string
	dir     string
	ctl     string // etcdctl binary
	members []*member
	leader  *member
}

// clockTick is the kernel's USER_HZ, the unit of /proc/PID/stat times.
const clockTick = 100

func procCPUTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The command name (field 2) may contain spaces: skip past its ')'.
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	// After the name: state is field 3, utime field 14, stime field 15.
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTick
}

// freePorts reserves n distinct loopback ports by listening on port 0, and
// releases them together (a small window remains in which another
// process may take one; startCluster retries then).
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// startCluster starts a three-member cluster of sys (sysIronkv or sysEtcd)
// with the binary bin under dir and waits until it has a leader that all
// members agree on. On error every process it started is stopped.
func startCluster(ctx context.Context, sys, bin, ctl, dir string, pprof bool, extra []string) (*cluster, error) {
	var lastErr error
	for attempt := 1; attempt <= 3; attempt++ {
		adir := filepath.Join(dir, fmt.Sprintf("%s-%d", sys, attempt))
		c, err := tryStartCluster(ctx, sys, bin, ctl, adir, pprof, extra)
		if err == nil {
			return c, nil
		}
		lastErr = err
		if ctx.Err() != nil || !errors.Is(err, errAddrInUse) {
			break
		}
		logf("%s: a port was taken meanwhile, retrying with new ports", sys)
	}
	return nil, lastErr
}

var errAddrInUse = errors.New("address already in use")

func tryStartCluster(ctx context.Context, sys, bin, ctl, dir string, pprof bool, extra []string) (*cluster, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ports, err := freePorts(9)
	if err != nil {
		return nil, err
	}
	c := &cluster{sys: sys, dir: dir, ctl: ctl}
	var initial []string
	for i := range 3 {
		name := fmt.Sprintf("%s%d", sys, i+1)
		m := &member{
			name:       name,
			clientURL:  fmt.Sprintf("http://127.0.0.1:%d", ports[3*i]),
			peerURL:    fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+1]),
			metricsURL: fmt.Sprintf("http://127.0.0.1:%d", ports[3*i+2]),
			dataDir:    filepath.Join(dir, name+".data"),
			logPath:    filepath.Join(dir, name+".log"),
			done:       make(chan struct{}),
		}
		c.members = append(c.members, m)
		initial = append(initial, name+"="+m.peerURL)
	}
	token := fmt.Sprintf("etcdcompare-%s-%d", sys, time.Now().UnixNano())
	for _, m := range c.members {
		args := []string{
			"--name", m.name,
			"--data-dir", m.dataDir,
			"--listen-client-urls", m.clientURL,
			"--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL,
			"--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","),
			"--initial-cluster-state", "new",
			"--initial-cluster-token", token,
			"--listen-metrics-urls", m.metricsURL,
			"--heartbeat-interval", "100",
			"--election-timeout", "1000",
		}
		switch sys {
		case sysIronkv:
			args = append([]string{"serve"}, args...)
			args = append(args, "--log-level", "info")
			if pprof {
				args = append(args, "--enable-pprof")
				m.pprofBase = m.metricsURL + "/debug/pprof"
			}
		case sysEtcd:
			// 8 GiB: the default 2 GiB quota is far off for these loads, but
			// the alarm would turn every later put into an error.
			args = append(args, "--quota-backend-bytes", strconv.FormatInt(8<<30, 10), "--log-level", "info")
			if pprof {
				args = append(args, "--enable-pprof")
				m.pprofBase = m.clientURL + "/debug/pprof"
			}
		}
		args = append(args, extra...)
		if err := c.startMember(bin, m, args); err != nil {
			c.stop()
			return nil, err
		}
	}
	if err := c.waitLeader(ctx, 30*time.Second); err != nil {
		for _, m := range c.members {
			if b, _ := os.ReadFile(m.logPath); bytes.Contains(b, []byte("address already in use")) {
				err = fmt.Errorf("%w (%s: %w)", errAddrInUse, m.name, err)
				break
			}
		}
		c.stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) startMember(bin string, m *member, args []string) error {
	logf, err := os.Create(m.logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	// A process group of its own: a terminal's ^C reaches only this
	// program, which then stops the members in order. Pdeathsig kills a
	// member if this program dies without cleaning up.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", m.name, err)
	}
	m.cmd = cmd
	go func() {
		m.waitErr = cmd.Wait()
		logf.Close()
		close(m.done)
	}()
	return nil
}

// epStatus is the part of `etcdctl endpoint status -w json` we read.
type epStatus struct {
	Endpoint string
	Status   struct {
		Header struct {
			MemberID uint64 `json:"member_id"`
			RaftTerm uint64 `json:"raft_term"`
		} `json:"header"`
		Leader    uint64 `json:"leader"`
		RaftIndex uint64 `json:"raftIndex"`
	}
}

func (c *cluster) endpoints() []string {
	var eps []string
	for _, m := range c.members {
		eps = append(eps, m.endpoint())
	}
	return eps
}

// status asks every member for its status with etcdctl.
func (c *cluster) status(ctx context.Context) ([]epStatus, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.ctl, "--endpoints", strings.Join(c.endpoints(), ","),
		"--command-timeout", "3s", "endpoint", "status", "-w", "json")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("etcdctl endpoint status: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	var st []epStatus
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		return nil, fmt.Errorf("etcdctl endpoint status: %w", err)
	}
	return st, nil
}

// waitLeader waits until all three members answer and name the same leader.
func (c *cluster) waitLeader(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var lastErr error
	for {
		if err := c.checkAlive(); err != nil {
			return err
		}
		st, err := c.status(ctx)
		if err == nil {
			err = c.adoptStatus(st)
		}
		if err == nil {
			return nil
		}
		lastErr = err
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s cluster has no leader after %v: %w", c.sys, timeout, lastErr)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// adoptStatus records member IDs and the leader if all members answered
// and agree on a leader.
func (c *cluster) adoptStatus(st []epStatus) error {
	if len(st) != len(c.members) {
		return fmt.Errorf("%d of %d members answered", len(st), len(c.members))
	}
	lead := st[0].Status.Leader
	for _, s := range st {
		if s.Status.Leader == 0 || s.Status.Leader != lead {
			return fmt.Errorf("no agreed leader yet")
		}
		for _, m := range c.members {
			if m.endpoint() == s.Endpoint {
				m.id = s.Status.Header.MemberID
			}
		}
	}
	c.leader = nil
	for _, m := range c.members {
		if m.id == lead {
			c.leader = m
		}
	}
	if c.leader == nil {
		return fmt.Errorf("leader %x is not among the members", lead)
	}
	return nil
}

// term returns the highest raft term any member reports (0 on error).
func (c *cluster) term(ctx context.Context) uint64 {
	st, err := c.status(ctx)
	if err != nil {
		return 0
	}
	var t uint64
	for _, s := range st {
		t = max(t, s.Status.Header.RaftTerm)
	}
	return t
}

// leaderFirst returns the client endpoints with the leader's first: the
// benchmark tool dials its connections round-robin over --endpoints, so
// with one connection every request goes to the leader.
func (c *cluster) leaderFirst() []string {
	eps := []string{c.leader.endpoint()}
	for _, m := range c.members {
		if m != c.leader {
			eps = append(eps, m.endpoint())
		}
	}
	return eps
}

// checkAlive reports a member that exited, with the end of its log.
func (c *cluster) checkAlive() error {
	for _, m := range c.members {
		if m.exited() {
			return fmt.Errorf("%s member %s exited (%v); end of %s:\n%s", c.sys, m.name, m.waitErr, m.logPath, tail(m.logPath, 15))
		}
	}
	return nil
}

func (c *cluster) cpuTime() time.Duration {
	var t time.Duration
	for _, m := range c.members {
		t += m.cpuTime()
	}
	return t
}

// stop sends SIGTERM to every member (graceful stop), waits up to 10s, and
// kills what is left.
func (c *cluster) stop() {
	for _, m := range c.members {
		if m.cmd != nil && !m.exited() {
			syscall.Kill(-m.cmd.Process.Pid, syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for _, m := range c.members {
		if m.cmd == nil {
			continue
		}
		select {
		case <-m.done:
		case <-time.After(time.Until(deadline)):
			logf("%s: %s did not stop within 10s, killing it", c.sys, m.name)
			syscall.Kill(-m.cmd.Process.Pid, syscall.SIGKILL)
			<-m.done
		}
	}
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
