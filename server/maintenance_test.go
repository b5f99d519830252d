package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/version"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// TestMaintenanceAndHealth checks Maintenance Status, Alarm and MoveLeader,
// the gRPC health service, and the HTTP endpoints on the metrics URL.
func TestMaintenanceAndHealth(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.ListenMetricsURLs = []string{"http://127.0.0.1:0"}
		cfg.EnablePprof = true
	})
	ctx := ctxT(t)
	cli := c.client(t)
	put, err := cli.Put(ctx, "status", strings.Repeat("x", 1000))
	if err != nil {
		t.Fatal(err)
	}
	lead := c.waitLeader(t)
	f := c.follower(t)
	fs := c.members[f].srv
	waitFor(t, "the follower to apply the put", func() bool { return fs.store.Revision() >= put.Header.Revision })
	st, err := cli.Status(ctx, c.members[f].clientURL)
	if err != nil {
		t.Fatal(err)
	}
	if st.Version != version.Version || st.DbSize < 1000 || st.Leader != c.members[lead].srv.ID() ||
		st.RaftTerm == 0 || st.RaftIndex == 0 || st.RaftAppliedIndex == 0 || st.IsLearner || st.Header.MemberId != fs.ID() {
		t.Errorf("Status = %+v", st)
	}
	alarms, err := cli.AlarmList(ctx)
	if err != nil || len(alarms.Alarms) != 0 {
		t.Errorf("AlarmList = %v, %v, want none", alarms, err)
	}

	// MoveLeader through a follower (forwarded to the leader).
	to := c.members[3-lead-f].srv.ID()
	if _, err := c.client(t, f).MoveLeader(ctx, to); err != nil {
		t.Fatal(err)
	}
	if got := c.waitLeader(t); c.members[got].srv.ID() != to {
		t.Errorf("leader after MoveLeader is %x, want %x", c.members[got].srv.ID(), to)
	}
	if _, err := c.client(t, f).MoveLeader(ctx, 12345); err == nil || err.Error() != "etcdserver: bad leader transferee" {
		t.Errorf("MoveLeader(unknown) = %v, want etcd's bad leader transferee", err)
	}

	// gRPC health.
	cc, err := grpc.NewClient(fs.ClientAddrs()[0], grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	waitFor(t, "gRPC health SERVING", func() bool {
		r, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{})
		return err == nil && r.Status == healthpb.HealthCheckResponse_SERVING
	})

	// HTTP.
	base := "http://" + fs.MetricsAddrs()[0]
	get := func(path string) (int, string) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/health")
	var h struct{ Health, Reason string }
	if err := json.Unmarshal([]byte(body), &h); code != 200 || err != nil || h.Health != "true" {
		t.Errorf("/health = %d %q", code, body)
	}
	for _, p := range []string{"/livez", "/readyz"} {
		if code, body := get(p); code != 200 || body != "ok\n" {
			t.Errorf("%s = %d %q", p, code, body)
		}
	}
	code, body = get("/metrics")
	for _, m := range []string{"ironkv_grpc_requests_total", "ironkv_has_leader 1", "ironraft_term", "ironraft_peer_sent_messages_total", "go_goroutines"} {
		if code != 200 || !strings.Contains(body, m) {
			t.Errorf("/metrics (%d) lacks %s", code, m)
		}
	}
	if code, _ := get("/debug/pprof/"); code != 200 {
		t.Errorf("/debug/pprof/ = %d with EnablePprof", code)
	}

	// Unimplemented services answer so.
	if _, err := cli.Defragment(ctx, c.members[f].clientURL); err == nil || !strings.Contains(err.Error(), "Unimplemented") {
		t.Errorf("Defragment = %v, want Unimplemented", err)
	}
	if _, err := cli.UserList(ctx); err == nil {
		t.Errorf("UserList = nil error, want Unimplemented")
	}
}

// TestStatusDbSizeNeverZero: a new cluster reports a db size above 0
// (etcdctl endpoint status divides by it), in use no more than the size, and
// etcd's default quota unless one is configured.
func TestStatusDbSizeNeverZero(t *testing.T) {
	tests := []struct {
		quota, want int64
	}{
		{0, 2 << 30},
		{8 << 30, 8 << 30},
	}
	for _, tt := range tests {
		c := newTestCluster(t, 1, func(cfg *Config) { cfg.QuotaBackendBytes = tt.quota })
		cli := c.client(t)
		st, err := cli.Status(ctxT(t), c.members[0].clientURL)
		if err != nil {
			t.Fatal(err)
		}
		if st.DbSize <= 0 || st.DbSizeInUse <= 0 || st.DbSizeInUse > st.DbSize || st.DbSizeQuota != tt.want {
			t.Errorf("new cluster, QuotaBackendBytes %d: Status sizes = %d, in use %d, quota %d; want in use in (0, size], quota %d",
				tt.quota, st.DbSize, st.DbSizeInUse, st.DbSizeQuota, tt.want)
		}
		if _, err := cli.Put(ctxT(t), "k", strings.Repeat("x", 1000)); err != nil {
			t.Fatal(err)
		}
		after, err := cli.Status(ctxT(t), c.members[0].clientURL)
		if err != nil {
			t.Fatal(err)
		}
		if after.DbSize < st.DbSize+1000 || after.DbSizeInUse > after.DbSize {
			t.Errorf("after a 1000-byte put: Status sizes = %d, in use %d; want at least %d, in use <= size", after.DbSize, after.DbSizeInUse, st.DbSize+1000)
		}
		c.stopAll()
	}
}
