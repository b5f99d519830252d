package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// etcdctlRows are the rows of the matrix, run in this order on one fresh
// cluster per etcdctl version. Each row uses its own keys.
var etcdctlRows = []ctlRow{
	// First, so that it sees the store empty, as right after a cluster
	// starts.
	{"endpoint status --cluster", rowEndpointStatus},
	{"endpoint health --cluster", rowEndpointHealth},
	{"put, get", rowPutGet},
	{"get --prefix and options", rowGetPrefix},
	{"del", rowDel},
	{"txn", rowTxn},
	{"watch", rowWatch},
	{"lease grant, keep-alive, put --lease", rowLease},
	{"lock", rowLock},
	{"elect", rowElect},
	{"member list", rowMemberList},
	{"member add, remove", rowMemberAddRemove},
	{"member add --learner, promote", rowMemberPromote},
	{"compaction", rowCompaction},
}

// JSON output of etcdctl -w json (the API's protobuf messages as JSON).
type (
	ctlHeader struct {
		ClusterID uint64 `json:"cluster_id"`
		MemberID  uint64 `json:"member_id"`
		Revision  int64  `json:"revision"`
		RaftTerm  uint64 `json:"raft_term"`
	}
	ctlKV struct {
		Key            []byte `json:"key"`
		Value          []byte `json:"value"`
		CreateRevision int64  `json:"create_revision"`
		ModRevision    int64  `json:"mod_revision"`
		Version        int64  `json:"version"`
		Lease          int64  `json:"lease"`
	}
	ctlGetResponse struct {
		Header ctlHeader `json:"header"`
		Kvs    []ctlKV   `json:"kvs"`
		More   bool      `json:"more"`
		Count  int64     `json:"count"`
	}
	ctlEndpointStatus struct {
		Endpoint string
		Status   struct {
			Header   ctlHeader `json:"header"`
			Version  string    `json:"version"`
			DBSize   int64     `json:"dbSize"`
			Leader   uint64    `json:"leader"`
			RaftTerm uint64    `json:"raftTerm"`
		}
	}
	ctlMember struct {
		ID         uint64   `json:"ID"`
		Name       string   `json:"name"`
		PeerURLs   []string `json:"peerURLs"`
		ClientURLs []string `json:"clientURLs"`
		IsLearner  bool     `json:"isLearner"`
	}
	ctlMemberList struct {
		Header  ctlHeader   `json:"header"`
		Members []ctlMember `json:"members"`
	}
)

func decodeJSON[T any](t *testing.T, what, out string) T {
	t.Helper()
	var v T
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("%s: %v; output:\n%s", what, err, out)
	}
	return v
}

// getJSON runs etcdctl get -w json with args.
func (e *ctlEnv) getJSON(t *testing.T, args ...string) ctlGetResponse {
	t.Helper()
	return decodeJSON[ctlGetResponse](t, "get -w json", e.ctl(t, append([]string{"get", "-w", "json"}, args...)...))
}

// revision returns the cluster's current revision.
func (e *ctlEnv) revision(t *testing.T) int64 {
	t.Helper()
	return e.getJSON(t, "ctl/no-such-key").Header.Revision
}

func rowEndpointStatus(t *testing.T, e *ctlEnv) {
	out := e.ctl(t, "endpoint", "status", "--cluster", "-w", "json")
	sts := decodeJSON[[]ctlEndpointStatus](t, "endpoint status -w json", out)
	var eps []string
	leaders := 0
	for _, st := range sts {
		eps = append(eps, st.Endpoint)
		s := st.Status
		if s.Leader == 0 || s.Leader != sts[0].Status.Leader || s.Header.ClusterID != sts[0].Status.Header.ClusterID {
			t.Errorf("endpoint %s: leader %x, cluster %x; want the leader and cluster of the others (%x, %x)",
				st.Endpoint, s.Leader, s.Header.ClusterID, sts[0].Status.Leader, sts[0].Status.Header.ClusterID)
		}
		if s.Leader == s.Header.MemberID {
			leaders++
		}
		if s.Version == "" || s.RaftTerm == 0 {
			t.Errorf("endpoint %s: version %q, raft term %d, want both set", st.Endpoint, s.Version, s.RaftTerm)
		}
	}
	slices.Sort(eps)
	want := e.c.endpoints()
	slices.Sort(want)
	if !slices.Equal(eps, want) || leaders != 1 {
		t.Errorf("endpoint status --cluster: endpoints %v with %d leaders, want %v with 1", eps, leaders, want)
	}
	// The table, as an operator types it. (etcd's db size is never 0: a
	// new bbolt file has its meta pages; etcdctl 3.5 and later divide by
	// it.)
	r := e.exec(t, nil, "", "endpoint", "status", "--cluster", "-w", "table")
	if r.err != nil {
		var sizes []int64
		for _, st := range sts {
			sizes = append(sizes, st.Status.DBSize)
		}
		t.Fatalf("%v\n(the members report db sizes %v in endpoint status -w json)", r, sizes)
	}
	for _, ep := range want {
		if !strings.Contains(r.stdout, ep) {
			t.Errorf("endpoint status -w table does not list %s:\n%s", ep, r.stdout)
		}
	}
}

func rowEndpointHealth(t *testing.T, e *ctlEnv) {
	r := e.exec(t, nil, "", "endpoint", "health", "--cluster")
	if r.err != nil {
		t.Fatalf("%v", r)
	}
	out := r.stdout + r.stderr // 3.4 prints the verdicts on stderr, 3.5 and later on stdout
	for _, ep := range e.c.endpoints() {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(ep) + ` is healthy: successfully committed proposal`).MatchString(out) {
			t.Errorf("endpoint health --cluster does not say %s is healthy:\n%s", ep, out)
		}
	}
}

func rowPutGet(t *testing.T, e *ctlEnv) {
	e.expect(t, "OK\n", "put", "ctl/k", "v1")
	put := decodeJSON[struct{ Header ctlHeader }](t, "put -w json", e.ctl(t, "put", "ctl/k", "v2", "-w", "json"))
	e.expect(t, "ctl/k\nv2\n", "get", "ctl/k")
	e.expect(t, "v2\n", "get", "ctl/k", "--print-value-only")
	e.expect(t, "OK\nctl/k\nv2\n", "put", "ctl/k", "v3", "--prev-kv")
	g := e.getJSON(t, "ctl/k", "--rev", fmt.Sprint(put.Header.Revision))
	if g.Count != 1 || len(g.Kvs) != 1 || string(g.Kvs[0].Key) != "ctl/k" || string(g.Kvs[0].Value) != "v2" ||
		g.Kvs[0].ModRevision != put.Header.Revision || g.Kvs[0].Version != 2 || g.Kvs[0].CreateRevision != put.Header.Revision-1 {
		t.Errorf("get ctl/k --rev %d -w json = %+v, want v2 at mod revision %d, version 2, created at %d",
			put.Header.Revision, g, put.Header.Revision, put.Header.Revision-1)
	}
	if g.Header.Revision != put.Header.Revision+1 || g.Header.ClusterID == 0 || g.Header.MemberID == 0 {
		t.Errorf("get -w json header = %+v, want revision %d (the current one) and IDs", g.Header, put.Header.Revision+1)
	}
}

func rowGetPrefix(t *testing.T, e *ctlEnv) {
	first := e.revision(t) + 1
	for _, kv := range [][2]string{{"ctl/p/a", "1"}, {"ctl/p/b", "2"}, {"ctl/p/c", "3"}, {"ctl/q", "4"}} {
		e.ctl(t, "put", kv[0], kv[1])
	}
	e.ctl(t, "put", "ctl/p/a", "5")
	e.expect(t, "ctl/p/a\n5\nctl/p/b\n2\nctl/p/c\n3\n", "get", "ctl/p/", "--prefix")
	e.expect(t, "ctl/p/a\n\nctl/p/b\n\nctl/p/c\n\n", "get", "ctl/p/", "--prefix", "--keys-only")
	e.expect(t, "5\n3\n2\n", "get", "ctl/p/", "--prefix", "--sort-by=VALUE", "--order=DESCEND", "--print-value-only")
	e.expect(t, "ctl/p/c\n\nctl/p/b\n\n", "get", "ctl/p/", "--prefix", "--sort-by=CREATE", "--order=DESCEND", "--keys-only", "--limit=2")
	e.expect(t, "ctl/p/b\n2\nctl/p/c\n3\n", "get", "ctl/p/b", "ctl/q")
	e.expect(t, "ctl/p/c\n3\nctl/q\n4\n", "get", "ctl/p/c", "--from-key")
	e.expect(t, "1\n", "get", "ctl/p/a", "--rev", fmt.Sprint(first), "--print-value-only")

	g := e.getJSON(t, "ctl/p/", "--prefix", "--limit", "2")
	if got := []string{string(g.Kvs[0].Key), string(g.Kvs[1].Key)}; len(g.Kvs) != 2 || !g.More || g.Count != 3 || !slices.Equal(got, []string{"ctl/p/a", "ctl/p/b"}) {
		t.Errorf("get ctl/p/ --prefix --limit 2 -w json = %+v, want ctl/p/a and ctl/p/b, more, count 3", g)
	}
	if last := first + 4; g.Header.Revision != last || g.Kvs[0].ModRevision != last || g.Kvs[0].CreateRevision != first || g.Kvs[0].Version != 2 {
		t.Errorf("get -w json: header revision %d, ctl/p/a %+v; want revision %d, ctl/p/a created at %d, modified at %d, version 2",
			g.Header.Revision, g.Kvs[0], last, first, last)
	}
}

func rowDel(t *testing.T, e *ctlEnv) {
	for _, k := range []string{"ctl/d/a", "ctl/d/b", "ctl/d/c"} {
		e.ctl(t, "put", k, k[len(k)-1:])
	}
	e.expect(t, "1\n", "del", "ctl/d/a")
	e.expect(t, "0\n", "del", "ctl/d/absent")
	e.expect(t, "2\nctl/d/b\nb\nctl/d/c\nc\n", "del", "ctl/d/", "--prefix", "--prev-kv")
	e.expect(t, "", "get", "ctl/d/", "--prefix")
}

func rowTxn(t *testing.T, e *ctlEnv) {
	e.ctl(t, "put", "ctl/t", "1")
	const txn = "value(\"ctl/t\") = \"1\"\n\nput ctl/t 2\n\nput ctl/t-else x\n\n"
	if out := e.ctlIn(t, txn, "txn"); out != "SUCCESS\n\nOK\n" {
		t.Errorf("txn (compare true) printed %q, want %q", out, "SUCCESS\n\nOK\n")
	}
	e.expect(t, "2\n", "get", "ctl/t", "--print-value-only")
	if out := e.ctlIn(t, txn, "txn"); out != "FAILURE\n\nOK\n" {
		t.Errorf("txn (compare false) printed %q, want %q", out, "FAILURE\n\nOK\n")
	}
	e.expect(t, "x\n", "get", "ctl/t-else", "--print-value-only")

	out := e.ctlIn(t, "mod(\"ctl/t\") > \"0\"\nversion(\"ctl/t\") = \"2\"\n\nget ctl/t\n\n\n", "txn", "-w", "json")
	r := decodeJSON[struct {
		Header    ctlHeader
		Succeeded bool
		Responses []struct {
			Response struct {
				ResponseRange   *ctlGetResponse `json:"response_range"` // 3.5 and later
				ResponseRange34 *ctlGetResponse `json:"ResponseRange"`  // 3.4
			}
		}
	}](t, "txn -w json", out)
	var rr *ctlGetResponse
	if len(r.Responses) == 1 {
		rr = r.Responses[0].Response.ResponseRange
		if rr == nil {
			rr = r.Responses[0].Response.ResponseRange34
		}
	}
	if !r.Succeeded || rr == nil || len(rr.Kvs) != 1 || string(rr.Kvs[0].Value) != "2" || r.Header.Revision == 0 {
		t.Errorf("txn -w json = %s, want succeeded with ctl/t = 2", out)
	}
}

func rowWatch(t *testing.T, e *ctlEnv) {
	from := e.revision(t) + 1
	w := e.start(t, "watch", "ctl/w/", "--prefix", "--rev", fmt.Sprint(from))
	e.ctl(t, "put", "ctl/w/1", "a")
	e.ctl(t, "put", "ctl/w/1", "b")
	e.ctl(t, "del", "ctl/w/1")
	const past = "PUT\nctl/w/1\na\nPUT\nctl/w/1\nb\nDELETE\nctl/w/1\n\n"
	w.waitOutput(t, "the three events", func(out string) bool { return len(out) >= len(past) })
	if out := w.out.String(); out != past {
		t.Fatalf("watch printed %q, want %q", out, past)
	}
	// A put made now reaches the running watch.
	e.ctl(t, "put", "ctl/w/2", "live")
	w.waitOutput(t, "the live event", func(out string) bool { return len(out) > len(past) })
	w.waitContains(t, "PUT\nctl/w/2\nlive\n")
	if out := w.out.String(); out != past+"PUT\nctl/w/2\nlive\n" {
		t.Errorf("watch printed %q, want %q", out, past+"PUT\nctl/w/2\nlive\n")
	}
	w.interrupt(t)
}

var leaseGranted = regexp.MustCompile(`^lease ([0-9a-f]+) granted with TTL\((\d+)s\)\n$`)

func rowLease(t *testing.T, e *ctlEnv) {
	out := e.ctl(t, "lease", "grant", "60")
	m := leaseGranted.FindStringSubmatch(out)
	if m == nil || m[2] != "60" {
		t.Fatalf("lease grant 60 printed %q, want \"lease <id> granted with TTL(60s)\"", out)
	}
	id := m[1]
	e.expect(t, "OK\n", "put", "ctl/l", "v", "--lease="+id)
	g := e.getJSON(t, "ctl/l")
	if want, _ := strconv.ParseUint(id, 16, 64); len(g.Kvs) != 1 || uint64(g.Kvs[0].Lease) != want {
		t.Errorf("get ctl/l -w json = %+v, want lease %s", g, id)
	}
	if out := e.ctl(t, "lease", "timetolive", id, "--keys"); !strings.Contains(out, "lease "+id+" granted with TTL(60s)") ||
		!strings.Contains(out, "attached keys([ctl/l])") {
		t.Errorf("lease timetolive --keys printed %q, want the TTL and key ctl/l", out)
	}
	e.expect(t, "lease "+id+" keepalived with TTL(60)\n", "lease", "keep-alive", "--once", id)
	ka := e.start(t, "lease", "keep-alive", id)
	ka.waitContains(t, "lease "+id+" keepalived with TTL(60)\n")
	ka.interrupt(t)
	if out := e.ctl(t, "lease", "list"); !regexp.MustCompile(`(?m)^` + id + `$`).MatchString(out) {
		t.Errorf("lease list printed %q, want %s among the leases", out, id)
	}
	e.expect(t, "lease "+id+" revoked\n", "lease", "revoke", id)
	e.expect(t, "", "get", "ctl/l")
	if out := e.ctl(t, "lease", "timetolive", id); !strings.Contains(out, "already expired") {
		t.Errorf("lease timetolive of a revoked lease printed %q, want \"already expired\"", out)
	}
}

func rowLock(t *testing.T, e *ctlEnv) {
	e.expect(t, "locked\n", "lock", "ctl/lock", "--", "echo", "locked")
	first := e.start(t, "lock", "ctl/lock2")
	first.waitContains(t, "ctl/lock2/")
	second := e.start(t, "lock", "ctl/lock2", "--", "echo", "second")
	// The second waits: its key exists, its command has not run.
	waitFor(t, "the second locker's key", func() error {
		if n := strings.Count(e.ctl(t, "get", "ctl/lock2/", "--prefix", "--keys-only"), "ctl/lock2/"); n != 2 {
			return fmt.Errorf("%d keys under ctl/lock2/", n)
		}
		return nil
	})
	if !second.running() || second.out.String() != "" {
		t.Fatalf("the second lock holder ran (%q, %v) while the first held the lock", second.out.String(), second.err)
	}
	first.interrupt(t)
	if err := second.wait(t); err != nil || second.out.String() != "second\n" {
		t.Errorf("second lock holder after the first unlocked: %q, %v; want \"second\"", second.out.String(), err)
	}
	e.expect(t, "", "get", "ctl/lock2/", "--prefix")
}

func rowElect(t *testing.T, e *ctlEnv) {
	p1 := e.start(t, "elect", "ctl/elect", "p1")
	p1.waitOutput(t, "its proposal p1", func(out string) bool { return strings.HasSuffix(out, "\np1\n") })
	if !strings.HasPrefix(p1.out.String(), "ctl/elect/") {
		t.Errorf("elect printed %q, want its key under ctl/elect/ and p1", p1.out.String())
	}
	observer := e.start(t, "elect", "-l", "ctl/elect")
	observer.waitContains(t, "\np1\n")
	p2 := e.start(t, "elect", "ctl/elect", "p2")
	waitFor(t, "the second candidate's key", func() error {
		if n := strings.Count(e.ctl(t, "get", "ctl/elect/", "--prefix", "--keys-only"), "ctl/elect/"); n != 2 {
			return fmt.Errorf("%d keys under ctl/elect/", n)
		}
		return nil
	})
	if out := p2.out.String(); out != "" {
		t.Fatalf("the second candidate was elected (%q) while the first leads", out)
	}
	p1.interrupt(t) // resigns
	p2.waitContains(t, "\np2\n")
	observer.waitContains(t, "\np2\n")
	p2.interrupt(t)
	observer.interrupt(t)
}

// memberList returns the member list as etcdctl member list -w json shows
// it.
func (e *ctlEnv) memberList(t *testing.T) ctlMemberList {
	t.Helper()
	return decodeJSON[ctlMemberList](t, "member list -w json", e.ctl(t, "member", "list", "-w", "json"))
}

func rowMemberList(t *testing.T, e *ctlEnv) {
	l := e.memberList(t)
	var got, want []string
	for _, m := range l.Members {
		got = append(got, fmt.Sprintf("%x %s %v %v learner=%v", m.ID, m.Name, m.PeerURLs, m.ClientURLs, m.IsLearner))
	}
	for _, m := range e.c.members {
		want = append(want, fmt.Sprintf("%x %s %v %v learner=false", e.c.memberID(m), m.name, []string{m.peerURL}, []string{m.clientURL}))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("member list -w json:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	out := e.ctl(t, "member", "list")
	for _, m := range e.c.members {
		line := fmt.Sprintf("%x, started, %s, %s, %s, false", e.c.memberID(m), m.name, m.peerURL, m.clientURL)
		if !strings.Contains(out, line+"\n") {
			t.Errorf("member list printed\n%s\nwant the line %q", out, line)
		}
	}
}

var (
	memberAdded   = regexp.MustCompile(`(?m)^Member +([0-9a-f]+) added (?:as learner )?to cluster +([0-9a-f]+)$`)
	memberEnvLine = regexp.MustCompile(`(?m)^(ETCD_[A-Z_]+)="(.*)"$`)
)

// addMember runs etcdctl member add for a new member named name and
// returns it (not started, its --initial-cluster from etcdctl's output) and
// its ID in hex.
func (e *ctlEnv) addMember(t *testing.T, name string, extra ...string) (*member, string) {
	t.Helper()
	m := e.c.newMember(name)
	out := e.ctl(t, append([]string{"member", "add", name, "--peer-urls=" + m.peerURL}, extra...)...)
	added := memberAdded.FindStringSubmatch(out)
	env := map[string]string{}
	for _, kv := range memberEnvLine.FindAllStringSubmatch(out, -1) {
		env[kv[1]] = kv[2]
	}
	if added == nil || env["ETCD_NAME"] != name || env["ETCD_INITIAL_CLUSTER_STATE"] != "existing" ||
		env["ETCD_INITIAL_ADVERTISE_PEER_URLS"] != m.peerURL || !strings.Contains(env["ETCD_INITIAL_CLUSTER"], name+"="+m.peerURL) {
		t.Fatalf("member add printed\n%s\nwant \"Member <id> added\" and the ETCD_ variables of %s", out, name)
	}
	m.initialCluster = env["ETCD_INITIAL_CLUSTER"]
	return m, added[1]
}

// waitListed waits until member list shows the member with ID id (hex)
// started, and as a voter or learner as asked.
func (e *ctlEnv) waitListed(t *testing.T, id, name string, learner bool) {
	t.Helper()
	waitFor(t, fmt.Sprintf("member list to show %s started (learner: %v)", name, learner), func() error {
		for _, m := range e.memberList(t).Members {
			if fmt.Sprintf("%x", m.ID) == id {
				if m.Name != name || len(m.ClientURLs) == 0 || m.IsLearner != learner {
					return fmt.Errorf("listed as %+v", m)
				}
				return nil
			}
		}
		return fmt.Errorf("%s not listed", id)
	})
}

func rowMemberAddRemove(t *testing.T, e *ctlEnv) {
	e.ctl(t, "put", "ctl/m", "before-add")
	m, id := e.addMember(t, "m4")
	e.c.start(m)
	e.waitListed(t, id, "m4", false)
	// The new member serves the data written before it joined.
	r := e.exec(t, []string{m.clientURL}, "", "get", "ctl/m", "--print-value-only")
	if r.err != nil || r.stdout != "before-add\n" {
		t.Errorf("get from the new member: %v; want before-add", r)
	}
	out := e.ctl(t, "member", "remove", id)
	if !regexp.MustCompile(`^Member +` + id + ` removed from cluster +[0-9a-f]+\n$`).MatchString(out) {
		t.Errorf("member remove printed %q, want \"Member %s removed from cluster <id>\"", out, id)
	}
	e.c.waitExit(m)
	if n := len(e.memberList(t).Members); n != 3 {
		t.Errorf("member list after remove has %d members, want 3", n)
	}
	e.expect(t, "OK\n", "put", "ctl/m", "after-remove")
}

func rowMemberPromote(t *testing.T, e *ctlEnv) {
	m, id := e.addMember(t, "m5", "--learner")
	e.c.start(m)
	e.waitListed(t, id, "m5", true)
	waitFor(t, "member promote", func() error {
		r := e.exec(t, nil, "", "member", "promote", id)
		if r.err != nil {
			if strings.Contains(r.stderr, "in sync with leader") {
				return fmt.Errorf("%v", r)
			}
			t.Fatalf("%v", r)
		}
		if !regexp.MustCompile(`^Member +` + id + ` promoted in cluster +[0-9a-f]+\n$`).MatchString(r.stdout) {
			t.Errorf("member promote printed %q, want \"Member %s promoted in cluster <id>\"", r.stdout, id)
		}
		return nil
	})
	e.waitListed(t, id, "m5", false)
	e.ctl(t, "member", "remove", id)
	e.c.waitExit(m)
}

func rowCompaction(t *testing.T, e *ctlEnv) {
	e.ctl(t, "put", "ctl/c", "v1")
	r1 := e.revision(t)
	e.ctl(t, "put", "ctl/c", "v2")
	r2 := e.revision(t)
	e.expect(t, fmt.Sprintf("compacted revision %d\n", r2), "compaction", fmt.Sprint(r2))
	r := e.exec(t, nil, "", "get", "ctl/c", "--rev", fmt.Sprint(r1))
	if r.err == nil || !strings.Contains(r.stderr, "required revision has been compacted") {
		t.Errorf("get below the compacted revision: %v; want the error \"required revision has been compacted\"", r)
	}
	e.expect(t, "v2\n", "get", "ctl/c", "--rev", fmt.Sprint(r2), "--print-value-only")
	e.ctl(t, "put", "ctl/c", "v3")
	r3 := e.revision(t)
	e.expect(t, fmt.Sprintf("compacted revision %d\n", r3), "compaction", "--physical", fmt.Sprint(r3))
	e.expect(t, "v3\n", "get", "ctl/c", "--print-value-only")
}
