package server

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// startWithLostData stops member i of a running cluster (once every member
// published its name), gives it an empty data directory and starts it again
// with the given --initial-cluster-state. It returns what Start said.
func startWithLostData(t *testing.T, c *testCluster, i int, state string) error {
	t.Helper()
	cli := c.client(t)
	waitFor(t, "every member to publish its name", func() bool {
		return !slices.ContainsFunc(memberList(t, cli), func(m *pb.Member) bool { return m.Name == "" })
	})
	c.stop(t, i)
	m := c.members[i]
	m.dataDir = filepath.Join(t.TempDir(), "lost")
	s, err := New(c.config(m, state, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), testWait)
	defer cancel()
	err = s.Start(ctx)
	if err == nil {
		m.srv = s // stopped with the cluster
		return nil
	}
	s.Stop(context.Background())
	return err
}

// wantAmnesiaRefused checks that Start refused and told the operator what to
// do.
func wantAmnesiaRefused(t *testing.T, err error, id uint64) {
	t.Helper()
	for _, want := range []string{"has already been bootstrapped", fmt.Sprintf("etcdctl member remove %x", id), "etcdctl member add", "--initial-cluster-state=existing"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Start with an empty data directory as started member %x = %v, want a refusal containing %q", id, err, want)
		}
	}
}

// TestRestartWithEmptyDataDirExistingRefused: a started member whose data
// directory was lost, started with "existing", would find its old ID by its
// peer URL and join with no votes and no log. Start refuses; removing and
// adding the member again, as the error says, lets it join.
func TestRestartWithEmptyDataDirExistingRefused(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	i := c.follower(t)
	id := c.members[i].srv.ID()
	wantAmnesiaRefused(t, startWithLostData(t, c, i, ClusterStateExisting), id)

	ctx := ctxT(t)
	cli := c.client(t)
	if _, err := cli.MemberRemove(ctx, id); err != nil {
		t.Fatal(err)
	}
	add, err := cli.MemberAdd(ctx, []string{c.members[i].peerURL})
	if err != nil {
		t.Fatal(err)
	}
	m := c.members[i]
	s, err := New(c.config(m, ClusterStateExisting, nil, nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		s.Stop(context.Background())
		t.Fatalf("Start after member remove and member add = %v", err)
	}
	m.srv = s
	if s.ID() != add.Member.ID {
		t.Errorf("the re-added member runs as %x, want its new ID %x", s.ID(), add.Member.ID)
	}
}

// TestRestartWithEmptyDataDirNewRefused: an initial member whose data
// directory was lost, started with "new", recomputes its old ID and would
// bootstrap alone; the other members say it has already been bootstrapped.
func TestRestartWithEmptyDataDirNewRefused(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	i := c.follower(t)
	id := c.members[i].srv.ID()
	wantAmnesiaRefused(t, startWithLostData(t, c, i, ClusterStateNew), id)
}
