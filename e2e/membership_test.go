package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// initialClusterFor is the --initial-cluster of a member joining as name
// with peer URL peerURL, given the member list MemberAdd returned (the new
// member is the one without a name), as etcdctl member add prints it.
func initialClusterFor(members []*etcdserverpb.Member, name, peerURL string) string {
	var parts []string
	for _, m := range members {
		n := m.Name
		if slices.Contains(m.PeerURLs, peerURL) {
			n = name
		}
		for _, u := range m.PeerURLs {
			parts = append(parts, n+"="+u)
		}
	}
	return strings.Join(parts, ",")
}

// waitMember waits until the member list, as one member sees it, has the
// member with peerURL started under its name, as a voter if voter is set
// (ironkv adds a voter as a learner and promotes it once caught up).
func waitMember(t *testing.T, cli *clientv3.Client, name, peerURL string, voter bool) *etcdserverpb.Member {
	t.Helper()
	var found *etcdserverpb.Member
	waitFor(t, fmt.Sprintf("%s in the member list (voter: %v)", name, voter), func() error {
		ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
		defer cancel()
		l, err := cli.MemberList(ctx)
		if err != nil {
			return err
		}
		for _, m := range l.Members {
			if slices.Contains(m.PeerURLs, peerURL) {
				if m.Name != name || len(m.ClientURLs) == 0 || (voter && m.IsLearner) {
					return fmt.Errorf("listed as %v", m)
				}
				found = m
				return nil
			}
		}
		return fmt.Errorf("not listed among %d members", len(l.Members))
	})
	return found
}

// TestMemberAddRemove adds a fourth member (promoted once caught up),
// removes the leader, adds a learner and promotes it, and checks that the
// cluster keeps every write and serves from every member throughout.
func TestMemberAddRemove(t *testing.T) {
	c := newCluster(t, 3)
	ctx := ctxTimeout(t, 2*time.Minute)
	cli := c.client()
	if _, err := cli.Put(ctx, "mem/before", "1"); err != nil {
		t.Fatal(err)
	}

	// Add m4 as a voter and start it.
	m4 := c.newMember("m4")
	add, err := cli.MemberAdd(ctx, []string{m4.peerURL})
	if err != nil {
		t.Fatalf("MemberAdd(%s) = %v", m4.peerURL, err)
	}
	if len(add.Members) != 4 || add.Member.ID == 0 {
		t.Fatalf("MemberAdd = member %v, %d members, want an ID and 4 members", add.Member, len(add.Members))
	}
	m4.initialCluster = initialClusterFor(add.Members, m4.name, m4.peerURL)
	c.start(m4)
	if got := waitMember(t, cli, "m4", m4.peerURL, true); got.ID != add.Member.ID || got.ClientURLs[0] != m4.clientURL {
		t.Errorf("m4 listed as %v, want ID %x and client URL %s", got, add.Member.ID, m4.clientURL)
	}
	c4 := c.client(m4)
	if g, err := c4.Get(ctx, "mem/before"); err != nil || !slices.Equal(values(g.Kvs), []string{"1"}) {
		t.Errorf("m4: Get(mem/before) = %v, %v, want 1", g, err)
	}
	if _, err := c4.Put(ctx, "mem/through-m4", "1"); err != nil {
		t.Errorf("m4: Put = %v", err)
	}

	// Remove the leader: it stops by itself, the others elect a new one.
	lead := c.leader()
	others := c.client(c.followers(lead)...)
	if _, err := others.MemberRemove(ctx, c.memberID(lead)); err != nil {
		t.Fatalf("MemberRemove(leader %s) = %v", lead.name, err)
	}
	err = c.waitExit(lead)
	if last := tail(lead.logPath, 3); !strings.Contains(last, "removed from the cluster") {
		t.Errorf("the removed leader %s exited (%v) with no word of its removal at the end of its log:\n%s", lead.name, err, last)
	}
	l, err := others.MemberList(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.Members) != 3 || slices.ContainsFunc(l.Members, func(m *etcdserverpb.Member) bool { return m.ID == lead.id }) {
		t.Errorf("member list after removing %s = %v, want the 3 others", lead.name, l.Members)
	}
	if _, err := others.Put(ctx, "mem/after-remove", "1"); err != nil {
		t.Fatalf("Put after removing the leader = %v", err)
	}

	// Add m5 as a learner: it stays one until promoted.
	m5 := c.newMember("m5")
	addL, err := others.MemberAddAsLearner(ctx, []string{m5.peerURL})
	if err != nil {
		t.Fatalf("MemberAddAsLearner = %v", err)
	}
	if !addL.Member.IsLearner {
		t.Errorf("MemberAddAsLearner answered %v, want a learner", addL.Member)
	}
	m5.initialCluster = initialClusterFor(addL.Members, m5.name, m5.peerURL)
	c.start(m5)
	if got := waitMember(t, others, "m5", m5.peerURL, false); !got.IsLearner {
		t.Errorf("m5 listed as %v before MemberPromote, want a learner", got)
	}
	waitFor(t, "MemberPromote(m5)", func() error {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, err := others.MemberPromote(pctx, addL.Member.ID)
		if errors.Is(err, rpctypes.ErrMemberLearnerNotReady) {
			return err
		}
		if err != nil {
			t.Fatalf("MemberPromote = %v", err)
		}
		return nil
	})
	waitMember(t, others, "m5", m5.peerURL, true)

	// Every running member serves every write, linearizably.
	for _, m := range c.running() {
		g, err := c.client(m).Get(ctx, "mem/", clientv3.WithPrefix())
		if want := []string{"mem/after-remove", "mem/before", "mem/through-m4"}; err != nil || !slices.Equal(keys(g.Kvs), want) {
			t.Errorf("%s: Get(mem/) = %v, %v, want %q", m.name, g, err, want)
		}
	}
	// Removing m5 stops it too.
	if _, err := others.MemberRemove(ctx, addL.Member.ID); err != nil {
		t.Fatalf("MemberRemove(m5) = %v", err)
	}
	c.waitExit(m5)
}
