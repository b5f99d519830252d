package server

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of the Config fields, etcd's defaults where etcd has the flag.
const (
	DefaultName                        = "default"
	DefaultListenClientURL             = "http://localhost:2379"
	DefaultListenPeerURL               = "http://localhost:2380"
	DefaultInitialClusterToken         = "etcd-cluster"
	DefaultHeartbeatInterval           = 100 * time.Millisecond
	DefaultElectionTimeout             = 1000 * time.Millisecond
	DefaultSnapshotCount               = 10000
	DefaultMaxRequestBytes             = 1536 * 1024 // etcd's --max-request-bytes
	DefaultMaxTxnOps                   = 128
	DefaultMaxConcurrentStreams        = math.MaxUint32
	DefaultGRPCKeepAliveMinTime        = 5 * time.Second
	DefaultGRPCKeepAliveInterval       = 2 * time.Hour
	DefaultGRPCKeepAliveTimeout        = 20 * time.Second
	DefaultAutoCompactionMode          = CompactionPeriodic
	DefaultAutoCompactionRetention     = "0"
	DefaultRevisionCompactionInterval  = 5 * time.Minute
	DefaultWatchProgressNotifyInterval = 10 * time.Minute
	DefaultMaxWatchStreams             = 65536
	DefaultQuotaBackendBytes           = 2 << 30 // etcd's --quota-backend-bytes default

	// grpcOverheadBytes is what gRPC may receive beyond MaxRequestBytes
	// (etcd's grpcOverheadBytes).
	grpcOverheadBytes = 512 * 1024
	// maxMaxRequestBytes bounds MaxRequestBytes: one Raft entry.
	maxMaxRequestBytes = 64 << 20
)

// Initial cluster states (etcd's --initial-cluster-state).
const (
	ClusterStateNew      = "new"
	ClusterStateExisting = "existing"
)

// Auto-compaction modes (etcd's --auto-compaction-mode).
const (
	CompactionPeriodic = "periodic"
	CompactionRevision = "revision"
)

// Config configures one ironkv member. Field names follow etcd's flags
// (--listen-client-urls is ListenClientURLs). Zero fields take the Default*
// values (Validate and New see the same defaults); Validate reports every
// problem at once.
type Config struct {
	// Name is this member's human-readable name (--name).
	Name string
	// DataDir holds the member's state (--data-dir; default "<Name>.etcd").
	// A data directory that holds state is restarted from it, whatever
	// InitialClusterState says, as etcd does.
	DataDir string

	// ListenClientURLs are where the etcd v3 gRPC API is served
	// (--listen-client-urls); AdvertiseClientURLs are the URLs other
	// members and clients are told (--advertise-client-urls). Schemes:
	// http, https (https needs ClientTLS).
	ListenClientURLs    []string
	AdvertiseClientURLs []string
	// ListenPeerURLs is where peers reach this member
	// (--listen-peer-urls); exactly one, since the Raft transport serves
	// one listener. InitialAdvertisePeerURLs are this member's peer URLs as
	// listed in InitialCluster (--initial-advertise-peer-urls).
	ListenPeerURLs           []string
	InitialAdvertisePeerURLs []string
	// InitialCluster is "name=peerURL,name=peerURL,..." (--initial-cluster;
	// a name may appear once per peer URL). Default: Name with
	// InitialAdvertisePeerURLs.
	InitialCluster string
	// InitialClusterState is "new" (bootstrap the members of
	// InitialCluster) or "existing" (join a running cluster this member was
	// added to with MemberAdd). Ignored when DataDir holds state.
	InitialClusterState string
	// InitialClusterToken makes the member and cluster IDs of one cluster
	// differ from another's with the same peer URLs.
	InitialClusterToken string
	// ListenMetricsURLs serve /metrics, /health, /livez, /readyz and, with
	// EnablePprof, /debug/pprof (--listen-metrics-urls): http URLs over
	// plain HTTP, https URLs over TLS with ClientTLS (its certificate, and
	// its client certificate authentication), as etcd does.
	ListenMetricsURLs []string

	// ClientListeners, PeerListener and MetricsListeners, when set, are
	// used instead of binding ListenClientURLs, ListenPeerURLs and
	// ListenMetricsURLs: one listener per URL, in order (the URLs still
	// give the scheme). The server owns them from New on.
	ClientListeners  []net.Listener
	PeerListener     net.Listener
	MetricsListeners []net.Listener

	// ClientTLS secures the client URLs (--cert-file, --key-file,
	// --trusted-ca-file, --client-cert-auth); PeerTLS the peer URLs
	// (--peer-cert-file ...). Either is used for https URLs only.
	ClientTLS TLSInfo
	PeerTLS   TLSInfo

	// HeartbeatInterval is the Raft tick (--heartbeat-interval);
	// ElectionTimeout the election timeout (--election-timeout), at least
	// five heartbeats, as etcd demands.
	HeartbeatInterval time.Duration
	ElectionTimeout   time.Duration
	// SnapshotCount is the number of applied entries that triggers a
	// snapshot (--snapshot-count).
	SnapshotCount uint64
	// RequestTimeout bounds each proposal and read fence a request makes.
	// etcd derives it (5s + 2 * ElectionTimeout); that is the default.
	RequestTimeout time.Duration

	// MaxRequestBytes bounds a request's encoded command
	// (--max-request-bytes); gRPC accepts messages up to it plus 512 KiB.
	MaxRequestBytes int
	// MaxTxnOps bounds the operations of a Txn (--max-txn-ops).
	MaxTxnOps int
	// MaxConcurrentStreams bounds the gRPC streams per client connection
	// (--max-concurrent-streams).
	MaxConcurrentStreams uint32
	// MaxWatchStreams bounds the Watch streams open on this member; more
	// are refused with codes.ResourceExhausted (no etcd equivalent).
	MaxWatchStreams int
	// GRPCKeepAliveMinTime is the shortest interval between client pings
	// the server accepts (--grpc-keepalive-min-time); pings are allowed
	// without active streams. GRPCKeepAliveInterval and
	// GRPCKeepAliveTimeout are the server's own pings
	// (--grpc-keepalive-interval, --grpc-keepalive-timeout).
	GRPCKeepAliveMinTime  time.Duration
	GRPCKeepAliveInterval time.Duration
	GRPCKeepAliveTimeout  time.Duration

	// AutoCompactionMode is "periodic" or "revision"
	// (--auto-compaction-mode); AutoCompactionRetention is "0" (off), a
	// revision count in revision mode, and in periodic mode a duration
	// ("30m") or a number of hours ("1") (--auto-compaction-retention).
	AutoCompactionMode      string
	AutoCompactionRetention string
	// RevisionCompactionInterval is how often revision mode checks the
	// revision (etcd: five minutes, fixed).
	RevisionCompactionInterval time.Duration
	// WatchProgressNotifyInterval is how often watchers created with
	// progress_notify get a progress response when idle
	// (--experimental-watch-progress-notify-interval).
	WatchProgressNotifyInterval time.Duration

	// QuotaBackendBytes is the space quota Maintenance Status reports
	// (--quota-backend-bytes). ironkv does not enforce it: no alarm is
	// raised and no write is refused when the data outgrows it.
	QuotaBackendBytes int64

	// EnablePprof serves /debug/pprof on the metrics URLs (--enable-pprof).
	EnablePprof bool
	// Logger receives the server's and the node's logs; nil discards them.
	Logger *slog.Logger
	// Registry receives the metrics (the node's, the peers', the server's)
	// and is served on /metrics; nil creates one with the Go and process
	// collectors.
	Registry *prometheus.Registry
}

// TLSInfo names the files of one TLS endpoint, as etcd's flags do.
type TLSInfo struct {
	// CertFile and KeyFile are this member's certificate and key (PEM).
	CertFile, KeyFile string
	// TrustedCAFile is the CA bundle that signs the other side's
	// certificates (PEM).
	TrustedCAFile string
	// ClientCertAuth requires the other side to present a certificate
	// TrustedCAFile signed.
	ClientCertAuth bool
}

// Empty reports whether no TLS is configured.
func (t TLSInfo) Empty() bool { return t.CertFile == "" && t.KeyFile == "" && t.TrustedCAFile == "" }

// withDefaults returns c with every zero field set to its default. It is
// the only place defaults are applied.
func (c Config) withDefaults() Config {
	setDefault(&c.Name, DefaultName)
	setDefault(&c.DataDir, c.Name+".etcd")
	if len(c.ListenClientURLs) == 0 {
		c.ListenClientURLs = []string{DefaultListenClientURL}
	}
	if len(c.AdvertiseClientURLs) == 0 {
		c.AdvertiseClientURLs = []string{DefaultListenClientURL}
	}
	if len(c.ListenPeerURLs) == 0 {
		c.ListenPeerURLs = []string{DefaultListenPeerURL}
	}
	if len(c.InitialAdvertisePeerURLs) == 0 {
		c.InitialAdvertisePeerURLs = []string{DefaultListenPeerURL}
	}
	if c.InitialCluster == "" {
		parts := make([]string, len(c.InitialAdvertisePeerURLs))
		for i, u := range c.InitialAdvertisePeerURLs {
			parts[i] = c.Name + "=" + u
		}
		c.InitialCluster = strings.Join(parts, ",")
	}
	setDefault(&c.InitialClusterState, ClusterStateNew)
	setDefault(&c.InitialClusterToken, DefaultInitialClusterToken)
	setDefault(&c.HeartbeatInterval, DefaultHeartbeatInterval)
	setDefault(&c.ElectionTimeout, DefaultElectionTimeout)
	setDefault(&c.SnapshotCount, DefaultSnapshotCount)
	setDefault(&c.RequestTimeout, 5*time.Second+2*c.ElectionTimeout)
	setDefault(&c.MaxRequestBytes, DefaultMaxRequestBytes)
	setDefault(&c.MaxTxnOps, DefaultMaxTxnOps)
	setDefault(&c.MaxConcurrentStreams, DefaultMaxConcurrentStreams)
	setDefault(&c.MaxWatchStreams, DefaultMaxWatchStreams)
	setDefault(&c.QuotaBackendBytes, DefaultQuotaBackendBytes)
	setDefault(&c.GRPCKeepAliveMinTime, DefaultGRPCKeepAliveMinTime)
	setDefault(&c.GRPCKeepAliveInterval, DefaultGRPCKeepAliveInterval)
	setDefault(&c.GRPCKeepAliveTimeout, DefaultGRPCKeepAliveTimeout)
	setDefault(&c.AutoCompactionMode, DefaultAutoCompactionMode)
	setDefault(&c.AutoCompactionRetention, DefaultAutoCompactionRetention)
	setDefault(&c.RevisionCompactionInterval, DefaultRevisionCompactionInterval)
	setDefault(&c.WatchProgressNotifyInterval, DefaultWatchProgressNotifyInterval)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return c
}

func setDefault[T comparable](p *T, def T) {
	var zero T
	if *p == zero {
		*p = def
	}
}

// Validate reports every problem of c (after defaults) at once, each saying
// what to fix. It changes nothing.
func (c Config) Validate() error {
	d := c.withDefaults()
	v := &validator{}
	d.validateURLs(v)
	d.validateCluster(v)
	d.validateTLS(v)
	d.validateLimits(v)
	if _, err := parseCompaction(d.AutoCompactionMode, d.AutoCompactionRetention); err != nil {
		v.bad("%v", err)
	}
	if len(v.errs) == 0 {
		return nil
	}
	return fmt.Errorf("server: invalid config: %w", errors.Join(v.errs...))
}

type validator struct{ errs []error }

func (v *validator) bad(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

func (c Config) validateURLs(v *validator) {
	lists := []struct {
		flag   string
		urls   []string
		listen int // listeners given for them, -1: none may be
	}{
		{"--listen-client-urls", c.ListenClientURLs, len(c.ClientListeners)},
		{"--advertise-client-urls", c.AdvertiseClientURLs, -1},
		{"--listen-peer-urls", c.ListenPeerURLs, boolInt(c.PeerListener != nil)},
		{"--initial-advertise-peer-urls", c.InitialAdvertisePeerURLs, -1},
		{"--listen-metrics-urls", c.ListenMetricsURLs, len(c.MetricsListeners)},
	}
	for _, l := range lists {
		for _, s := range l.urls {
			if _, err := parseURL(s); err != nil {
				v.bad("%s: %v", l.flag, err)
			}
		}
		if l.listen > 0 && l.listen != len(l.urls) {
			v.bad("%s has %d URLs but %d pre-opened listeners were given: give one listener per URL", l.flag, len(l.urls), l.listen)
		}
	}
	if len(c.ListenPeerURLs) != 1 {
		v.bad("--listen-peer-urls %q: give exactly one URL (the Raft transport serves one listener)", c.ListenPeerURLs)
	}
	if dup := firstDuplicate(c.ListenClientURLs); dup != "" {
		v.bad("--listen-client-urls lists %q twice", dup)
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// parseURL checks an http or https URL with a host and a port.
func parseURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, fmt.Errorf("%q is not a URL: %w", s, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("URL %q has unknown scheme %q: use http or https", s, u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || port == "" {
		return nil, fmt.Errorf("URL %q needs a host and a port (http://host:port)", s)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("URL %q has a bad port %q", s, port)
	}
	if host == "" {
		return nil, fmt.Errorf("URL %q has no host", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("URL %q must not have a path, query or fragment", s)
	}
	return u, nil
}

func firstDuplicate(ss []string) string {
	seen := make(map[string]bool, len(ss))
	for _, s := range ss {
		if seen[s] {
			return s
		}
		seen[s] = true
	}
	return ""
}

func (c Config) validateCluster(v *validator) {
	if c.Name == "" {
		v.bad("--name is empty")
	}
	if c.DataDir == "" {
		v.bad("--data-dir is empty")
	}
	if c.InitialClusterState != ClusterStateNew && c.InitialClusterState != ClusterStateExisting {
		v.bad("--initial-cluster-state %q: use %q or %q", c.InitialClusterState, ClusterStateNew, ClusterStateExisting)
	}
	if c.InitialClusterToken == "" {
		v.bad("--initial-cluster-token is empty")
	}
	ic, err := parseInitialCluster(c.InitialCluster)
	if err != nil {
		v.bad("%v", err)
		return
	}
	own, ok := ic.urls(c.Name)
	if !ok {
		v.bad("--initial-cluster %q does not list this member's name %q: add %s=<peer URL>", c.InitialCluster, c.Name, c.Name)
		return
	}
	if !sameSet(own, c.InitialAdvertisePeerURLs) {
		v.bad("--initial-cluster lists %s=%q but --initial-advertise-peer-urls is %q: they must match", c.Name, own, c.InitialAdvertisePeerURLs)
	}
	schemes := map[string]bool{}
	for _, m := range ic {
		for _, u := range m.peerURLs {
			pu, _ := url.Parse(u)
			schemes[pu.Scheme] = true
		}
	}
	if len(schemes) > 1 {
		v.bad("--initial-cluster %q mixes http and https peer URLs: the cluster speaks TLS everywhere or nowhere", c.InitialCluster)
	}
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(slices.Compact(a), slices.Compact(b))
}

func (c Config) validateTLS(v *validator) {
	isHTTPS := func(s string) bool { return strings.HasPrefix(s, "https://") }
	check := func(what string, info TLSInfo, urls []string) {
		https := slices.ContainsFunc(urls, isHTTPS)
		if https && (info.CertFile == "" || info.KeyFile == "") {
			v.bad("%s URLs use https but no %s certificate and key files are given", what, what)
		}
		if (info.CertFile == "") != (info.KeyFile == "") {
			v.bad("%s TLS: give both the certificate file (%q) and the key file (%q)", what, info.CertFile, info.KeyFile)
		}
		if info.ClientCertAuth && info.TrustedCAFile == "" {
			v.bad("%s TLS: client certificate authentication needs a trusted CA file", what)
		}
	}
	clientURLs := append(slices.Clone(c.ListenClientURLs), c.AdvertiseClientURLs...)
	check("client", c.ClientTLS, clientURLs)
	if !slices.ContainsFunc(clientURLs, isHTTPS) && slices.ContainsFunc(c.ListenMetricsURLs, isHTTPS) &&
		(c.ClientTLS.CertFile == "" || c.ClientTLS.KeyFile == "") {
		v.bad("--listen-metrics-urls %q use https but no client certificate and key files are given (https metrics URLs are served with the client certificate, --cert-file and --key-file)", c.ListenMetricsURLs)
	}
	check("peer", c.PeerTLS, append(slices.Clone(c.ListenPeerURLs), c.InitialAdvertisePeerURLs...))
}

func (c Config) validateLimits(v *validator) {
	if c.HeartbeatInterval < time.Millisecond {
		v.bad("--heartbeat-interval %v is below 1ms", c.HeartbeatInterval)
	}
	if c.ElectionTimeout < 5*c.HeartbeatInterval {
		v.bad("--election-timeout %v must be at least 5 times --heartbeat-interval %v", c.ElectionTimeout, c.HeartbeatInterval)
	}
	if c.MaxRequestBytes < 0 || c.MaxRequestBytes > maxMaxRequestBytes {
		v.bad("--max-request-bytes %d is outside [1, %d]", c.MaxRequestBytes, maxMaxRequestBytes)
	}
	if c.MaxTxnOps < 0 {
		v.bad("--max-txn-ops %d is negative", c.MaxTxnOps)
	}
	if c.MaxWatchStreams < 0 {
		v.bad("MaxWatchStreams %d is negative", c.MaxWatchStreams)
	}
	if c.QuotaBackendBytes < 0 {
		v.bad("--quota-backend-bytes %d is negative", c.QuotaBackendBytes)
	}
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"RequestTimeout", c.RequestTimeout},
		{"--grpc-keepalive-min-time", c.GRPCKeepAliveMinTime},
		{"--grpc-keepalive-interval", c.GRPCKeepAliveInterval},
		{"--grpc-keepalive-timeout", c.GRPCKeepAliveTimeout},
		{"RevisionCompactionInterval", c.RevisionCompactionInterval},
		{"--experimental-watch-progress-notify-interval", c.WatchProgressNotifyInterval},
	} {
		if d.v < 0 {
			v.bad("%s %v is negative", d.flag, d.v)
		}
	}
}

// initialCluster is a parsed --initial-cluster, in the order given.
type initialCluster []initialMember

type initialMember struct {
	name     string
	peerURLs []string
}

// parseInitialCluster parses "name=url,name=url". A name given several
// times collects its URLs. Every problem is reported at once.
func parseInitialCluster(s string) (initialCluster, error) {
	var ic initialCluster
	var errs []error
	seenURL := map[string]string{}
	for part := range strings.SplitSeq(s, ",") {
		name, u, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || name == "" {
			errs = append(errs, fmt.Errorf("--initial-cluster entry %q is not name=peerURL", part))
			continue
		}
		if _, err := parseURL(u); err != nil {
			errs = append(errs, fmt.Errorf("--initial-cluster member %q: %w", name, err))
			continue
		}
		if other, dup := seenURL[u]; dup {
			errs = append(errs, fmt.Errorf("--initial-cluster lists peer URL %q for both %q and %q", u, other, name))
			continue
		}
		seenURL[u] = name
		i := slices.IndexFunc(ic, func(m initialMember) bool { return m.name == name })
		if i < 0 {
			ic = append(ic, initialMember{name: name})
			i = len(ic) - 1
		}
		ic[i].peerURLs = append(ic[i].peerURLs, u)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return ic, nil
}

func (ic initialCluster) urls(name string) ([]string, bool) {
	for _, m := range ic {
		if m.name == name {
			return m.peerURLs, true
		}
	}
	return nil, false
}

// compaction is a parsed auto-compaction setting.
type compaction struct {
	mode      string
	revisions int64         // revision mode: keep this many revisions
	period    time.Duration // periodic mode: keep this much history
}

func (c compaction) enabled() bool { return c.revisions > 0 || c.period > 0 }

func parseCompaction(mode, retention string) (compaction, error) {
	switch mode {
	case CompactionRevision:
		n, err := strconv.ParseInt(retention, 10, 64)
		if err != nil || n < 0 {
			return compaction{}, fmt.Errorf("--auto-compaction-retention %q: revision mode needs a revision count >= 0", retention)
		}
		return compaction{mode: mode, revisions: n}, nil
	case CompactionPeriodic:
		if h, err := strconv.ParseInt(retention, 10, 64); err == nil && h >= 0 {
			return compaction{mode: mode, period: time.Duration(h) * time.Hour}, nil
		}
		d, err := time.ParseDuration(retention)
		if err != nil || d < 0 {
			return compaction{}, fmt.Errorf("--auto-compaction-retention %q: periodic mode needs hours (\"1\") or a duration (\"30m\")", retention)
		}
		return compaction{mode: mode, period: d}, nil
	}
	return compaction{}, fmt.Errorf("--auto-compaction-mode %q: use %q or %q", mode, CompactionPeriodic, CompactionRevision)
}
