package server

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestMemberAndClusterIDMatchEtcd checks the IDs against etcd's well-known
// ones for its default single-member cluster (member 8e9e05c52164694d,
// cluster cdf818194e3a8c32).
func TestMemberAndClusterIDMatchEtcd(t *testing.T) {
	ic, err := parseInitialCluster("default=http://localhost:2380")
	if err != nil {
		t.Fatal(err)
	}
	ms, cid, err := bootstrapIDs(ic, "etcd-cluster")
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprintf("%x", ms[0].id); got != "8e9e05c52164694d" {
		t.Errorf("member ID = %s, want 8e9e05c52164694d", got)
	}
	if got := fmt.Sprintf("%x", cid); got != "cdf818194e3a8c32" {
		t.Errorf("cluster ID = %s, want cdf818194e3a8c32", got)
	}
	// The peer URLs' order does not matter; the add time does.
	a := computeMemberID([]string{"http://a:1", "http://b:2"}, "t", nil)
	b := computeMemberID([]string{"http://b:2", "http://a:1"}, "t", nil)
	now := time.Unix(1700000000, 0)
	if a != b || a == computeMemberID([]string{"http://a:1", "http://b:2"}, "t", &now) {
		t.Errorf("computeMemberID: sorted URLs must give the same ID and a time another one")
	}
}

func TestParseInitialCluster(t *testing.T) {
	tests := []struct {
		in      string
		want    initialCluster
		wantErr string
	}{
		{in: "a=http://h:1", want: initialCluster{{"a", []string{"http://h:1"}}}},
		{in: "a=http://h:1,b=http://h:2,a=http://h:3",
			want: initialCluster{{"a", []string{"http://h:1", "http://h:3"}}, {"b", []string{"http://h:2"}}}},
		{in: "a", wantErr: `"a" is not name=peerURL`},
		{in: "a=ftp://h:1", wantErr: `unknown scheme "ftp"`},
		{in: "a=http://h", wantErr: "needs a host and a port"},
		{in: "a=http://h:1,b=http://h:1", wantErr: `lists peer URL "http://h:1" for both "a" and "b"`},
	}
	for _, tt := range tests {
		got, err := parseInitialCluster(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("parseInitialCluster(%q) error = %v, want it to contain %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseInitialCluster(%q) = %v", tt.in, err)
			continue
		}
		if diff := cmp.Diff(tt.want, got, cmp.AllowUnexported(initialMember{})); diff != "" {
			t.Errorf("parseInitialCluster(%q) diff (-want +got):\n%s", tt.in, diff)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	good := func() Config {
		return Config{
			Name: "a", DataDir: "/tmp/x",
			ListenClientURLs: []string{"http://127.0.0.1:2379"}, AdvertiseClientURLs: []string{"http://127.0.0.1:2379"},
			ListenPeerURLs: []string{"http://127.0.0.1:2380"}, InitialAdvertisePeerURLs: []string{"http://127.0.0.1:2380"},
			InitialCluster: "a=http://127.0.0.1:2380,b=http://127.0.0.2:2380",
		}
	}
	if err := good().Validate(); err != nil {
		t.Fatalf("Validate(good) = %v", err)
	}
	if err := (Config{}).Validate(); err != nil {
		t.Errorf("Validate(zero config: etcd's defaults) = %v", err)
	}
	tests := []struct {
		name   string
		change func(*Config)
		want   []string // every one must be reported
	}{
		{"unknown scheme", func(c *Config) { c.ListenClientURLs = []string{"unix://x:1"} }, []string{`unknown scheme "unix"`}},
		{"name missing from the initial cluster", func(c *Config) { c.Name = "z" },
			[]string{`does not list this member's name "z": add z=<peer URL>`}},
		{"advertise URL not in the initial cluster", func(c *Config) { c.InitialAdvertisePeerURLs = []string{"http://127.0.0.9:2380"} },
			[]string{"--initial-advertise-peer-urls is", "they must match"}},
		{"duplicate URL", func(c *Config) { c.InitialCluster = "a=http://127.0.0.1:2380,b=http://127.0.0.1:2380" },
			[]string{"for both"}},
		{"bad state", func(c *Config) { c.InitialClusterState = "old" }, []string{`--initial-cluster-state "old"`}},
		{"two peer listeners", func(c *Config) { c.ListenPeerURLs = append(c.ListenPeerURLs, "http://127.0.0.1:2381") },
			[]string{"give exactly one URL"}},
		{"https without certificates", func(c *Config) { c.ListenClientURLs = []string{"https://127.0.0.1:2379"} },
			[]string{"client URLs use https but no client certificate"}},
		{"election timeout too short", func(c *Config) { c.ElectionTimeout = 300 * time.Millisecond },
			[]string{"at least 5 times --heartbeat-interval"}},
		{"bad retention", func(c *Config) { c.AutoCompactionMode, c.AutoCompactionRetention = "revision", "1h" },
			[]string{"revision mode needs a revision count"}},
		{"negative quota", func(c *Config) { c.QuotaBackendBytes = -1 }, []string{"--quota-backend-bytes -1 is negative"}},
		{"several problems at once", func(c *Config) {
			c.InitialClusterState = "x"
			c.MaxTxnOps = -1
			c.ListenMetricsURLs = []string{"tcp://y:1"}
		}, []string{"--initial-cluster-state", "--max-txn-ops -1", `unknown scheme "tcp"`}},
	}
	for _, tt := range tests {
		c := good()
		tt.change(&c)
		err := c.Validate()
		for _, w := range tt.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: Validate() = %v, want it to contain %q", tt.name, err, w)
			}
		}
	}
}

func TestParseCompaction(t *testing.T) {
	tests := []struct {
		mode, retention string
		want            compaction
		ok              bool
	}{
		{"periodic", "0", compaction{mode: "periodic"}, true},
		{"periodic", "1", compaction{mode: "periodic", period: time.Hour}, true},
		{"periodic", "30m", compaction{mode: "periodic", period: 30 * time.Minute}, true},
		{"revision", "1000", compaction{mode: "revision", revisions: 1000}, true},
		{"revision", "-1", compaction{}, false},
		{"periodic", "soon", compaction{}, false},
		{"hourly", "1", compaction{}, false},
	}
	for _, tt := range tests {
		got, err := parseCompaction(tt.mode, tt.retention)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseCompaction(%q, %q) = %+v, %v, want %+v, ok %t", tt.mode, tt.retention, got, err, tt.want, tt.ok)
		}
	}
}

func TestMinLeaseTTLMatchesEtcd(t *testing.T) {
	tests := []struct {
		heartbeat, election time.Duration
		want                int64
	}{
		{100 * time.Millisecond, time.Second, 2}, // etcd's defaults: 1.5s rounded up
		{20 * time.Millisecond, 200 * time.Millisecond, 1},
		{time.Second, 10 * time.Second, 15},
	}
	for _, tt := range tests {
		s := &Server{cfg: Config{HeartbeatInterval: tt.heartbeat, ElectionTimeout: tt.election}}
		if got := s.minLeaseTTL(); got != tt.want {
			t.Errorf("minLeaseTTL(%v, %v) = %d, want %d", tt.heartbeat, tt.election, got, tt.want)
		}
	}
}
