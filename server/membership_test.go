package server

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/ironraft/ironraft/node"
)

// TestMembership lists, adds (as a learner and as a voter), promotes and
// removes members through clientv3, starting the added members with
// --initial-cluster-state=existing.
func TestMembership(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	cli := c.client(t)
	ctx := ctxT(t)
	if _, err := cli.Put(ctx, "before-join", "v"); err != nil {
		t.Fatal(err)
	}
	t.Run("List", func(t *testing.T) { testMemberList(t, c) })
	t.Run("Errors", func(t *testing.T) { testMemberErrors(t, c) })
	t.Run("AddLearnerPromoteRemove", func(t *testing.T) { testAddLearner(t, c) })
	t.Run("AddVoterPromotedWhenCaughtUp", func(t *testing.T) { testAddVoter(t, c) })
	t.Run("RemoveTheLeader", func(t *testing.T) { testRemoveLeader(t, c) })
}

// memberList returns name:learner for every member, waiting until every
// member published its name.
func memberList(t *testing.T, cli *clientv3.Client) []*pb.Member {
	t.Helper()
	resp, err := cli.MemberList(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	return resp.Members
}

func testMemberList(t *testing.T, c *testCluster) {
	cli := c.client(t)
	waitFor(t, "every member to publish its name", func() bool {
		return !slices.ContainsFunc(memberList(t, cli), func(m *pb.Member) bool { return m.Name == "" })
	})
	resp, err := cli.MemberList(ctxT(t), clientv3.WithSerializable())
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.ClusterId != c.members[0].srv.ClusterID() {
		t.Errorf("MemberList header %v, want cluster %x", resp.Header, c.members[0].srv.ClusterID())
	}
	var got, want []string
	for _, m := range resp.Members {
		got = append(got, fmt.Sprintf("%x %s %v %v %t", m.ID, m.Name, m.PeerURLs, m.ClientURLs, m.IsLearner))
	}
	for _, m := range c.members {
		want = append(want, fmt.Sprintf("%x %s %v %v false", m.srv.ID(), m.name, []string{m.peerURL}, []string{m.clientURL}))
	}
	slices.Sort(want)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Errorf("MemberList =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func testMemberErrors(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t, c.follower(t))
	tests := []struct {
		name string
		do   func() error
		want string
	}{
		{"existing peer URL", func() error { _, err := cli.MemberAdd(ctx, []string{c.members[1].peerURL}); return err },
			"etcdserver: Peer URLs already exists"},
		{"bad peer URL", func() error {
			_, err := pb.NewClusterClient(cli.ActiveConnection()).MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"ftp://x"}})
			return rpctypes.Error(err)
		},
			"etcdserver: given member URLs are invalid"},
		{"remove unknown", func() error { _, err := cli.MemberRemove(ctx, 12345); return err }, "etcdserver: member not found"},
		{"promote a voter", func() error { _, err := cli.MemberPromote(ctx, c.members[1].srv.ID()); return err },
			"etcdserver: can only promote a learner member"},
	}
	for _, tt := range tests {
		if err := tt.do(); err == nil || err.Error() != tt.want {
			t.Errorf("%s: error = %v, want %q", tt.name, err, tt.want)
		}
	}
}

// join starts a new member added with peer URL m.peerURL, as etcd's
// operator would: --initial-cluster-state=existing and an --initial-cluster
// of the running members plus itself.
func (c *testCluster) join(t *testing.T, m *testMember) {
	t.Helper()
	parts := []string{m.name + "=" + m.peerURL}
	for _, i := range c.running() {
		parts = append(parts, c.members[i].name+"="+c.members[i].peerURL)
	}
	saved := c.initial
	c.initial = strings.Join(parts, ",")
	cfg := c.config(m, ClusterStateExisting, nil, nil)
	c.initial = saved
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		s.Stop(context.Background())
		t.Fatal(err)
	}
	m.srv = s
	c.members = append(c.members, m)
}

// newMember reserves addresses for a member to be added.
func (c *testCluster) newMember(t *testing.T, name string) *testMember {
	cl, pl := listen(t), listen(t)
	m := &testMember{name: name, clientURL: "http://" + cl.Addr().String(), peerURL: "http://" + pl.Addr().String(),
		dataDir: filepath.Join(c.t.TempDir(), "data")} // outlives the subtest
	cl.Close()
	pl.Close()
	return m
}

func isLearner(t *testing.T, cli *clientv3.Client, id uint64) (learner, found bool) {
	for _, m := range memberList(t, cli) {
		if m.ID == id {
			return m.IsLearner, true
		}
	}
	return false, false
}

func testAddLearner(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t, c.follower(t))
	m := c.newMember(t, "learner")
	add, err := cli.MemberAddAsLearner(ctx, []string{m.peerURL})
	if err != nil {
		t.Fatal(err)
	}
	if !add.Member.IsLearner || add.Member.ID == 0 || len(add.Members) != 4 {
		t.Fatalf("MemberAddAsLearner = %v, want a learner among 4 members", add)
	}
	c.join(t, m)
	idx := len(c.members) - 1
	if m.srv.ID() != add.Member.ID || m.srv.ClusterID() != c.members[0].srv.ClusterID() {
		t.Fatalf("the joined member is %x of cluster %x, want %x of %x", m.srv.ID(), m.srv.ClusterID(), add.Member.ID, c.members[0].srv.ClusterID())
	}
	lcli := c.client(t, idx)
	waitFor(t, "the learner to receive the log", func() bool {
		r, err := lcli.Get(ctx, "before-join", clientv3.WithSerializable())
		return err == nil && len(r.Kvs) == 1
	})
	waitFor(t, "the learner's promotion", func() bool {
		_, err := cli.MemberPromote(ctx, add.Member.ID)
		if err != nil && err.Error() != "etcdserver: can only promote a learner member which is in sync with leader" {
			t.Fatalf("MemberPromote = %v", err)
		}
		return err == nil
	})
	if learner, _ := isLearner(t, cli, add.Member.ID); learner {
		t.Errorf("the promoted member is still a learner")
	}
	if _, err := cli.MemberRemove(ctx, add.Member.ID); err != nil {
		t.Fatal(err)
	}
	select {
	case <-m.srv.Done():
	case <-time.After(testWait):
		t.Fatal("the removed member did not stop")
	}
	if !errors.Is(m.srv.Err(), node.ErrRemoved) {
		t.Errorf("removed member: Err() = %v, want node.ErrRemoved", m.srv.Err())
	}
	c.stop(t, idx)
	if _, found := isLearner(t, cli, add.Member.ID); found {
		t.Errorf("the removed member is still listed")
	}
}

func testAddVoter(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	cli := c.client(t, c.waitLeader(t))
	m := c.newMember(t, "voter")
	add, err := cli.MemberAdd(ctx, []string{m.peerURL})
	if err != nil {
		t.Fatal(err)
	}
	if add.Member.IsLearner || !slices.ContainsFunc(add.Members, func(pm *pb.Member) bool { return pm.ID == add.Member.ID }) {
		t.Errorf("MemberAdd = %v, want a voter, listed among the members", add)
	}
	c.join(t, m)
	waitFor(t, "the added voter's automatic promotion", func() bool {
		learner, found := isLearner(t, cli, add.Member.ID)
		return found && !learner
	})
	waitFor(t, "the new voter to publish its name", func() bool {
		return slices.ContainsFunc(memberList(t, cli), func(pm *pb.Member) bool { return pm.ID == add.Member.ID && pm.Name == "voter" })
	})
	if _, err := c.client(t, len(c.members)-1).Put(ctx, "from-new-voter", "v"); err != nil {
		t.Errorf("Put through the new voter: %v", err)
	}
}

// testRemoveLeader removes the leader through a follower: the leader hands
// over and stops, the others go on.
func testRemoveLeader(t *testing.T, c *testCluster) {
	ctx := ctxT(t)
	lead := c.waitLeader(t)
	cli := c.client(t, c.follower(t))
	id := c.members[lead].srv.ID()
	if _, err := cli.MemberRemove(ctx, id); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.members[lead].srv.Done():
	case <-time.After(testWait):
		t.Fatal("the removed leader did not stop")
	}
	c.stop(t, lead)
	c.waitLeader(t)
	if _, err := cli.Put(ctx, "after-leader-removed", "v"); err != nil {
		t.Errorf("Put after the leader's removal: %v", err)
	}
	if _, found := isLearner(t, cli, id); found {
		t.Errorf("the removed leader is still listed")
	}
}
