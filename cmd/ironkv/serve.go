package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/ironraft/ironraft/server"
)

// envPrefix is the prefix of the environment variables that set flags:
// IRONKV_LISTEN_CLIENT_URLS sets --listen-client-urls. A flag given on the
// command line wins over the environment, as with etcd's ETCD_ variables.
const envPrefix = "IRONKV_"

// serveFlags binds the serve flags to a server.Config.
type serveFlags struct {
	fs  *flag.FlagSet
	cfg server.Config

	listenClientURLs, advertiseClientURLs    string
	listenPeerURLs, initialAdvertisePeerURLs string
	listenMetricsURLs                        string
	heartbeatMs, electionMs                  uint
	logLevel, logFormat                      string
}

func newServeFlags(stderr io.Writer) *serveFlags {
	f := &serveFlags{fs: flag.NewFlagSet("serve", flag.ContinueOnError)}
	fs, c := f.fs, &f.cfg
	fs.SetOutput(stderr)
	fs.StringVar(&c.Name, "name", server.DefaultName, "human-readable name for this member")
	fs.StringVar(&c.DataDir, "data-dir", "", "path to the data directory (default \"<name>.etcd\")")
	fs.StringVar(&f.listenClientURLs, "listen-client-urls", server.DefaultListenClientURL, "comma-separated URLs to serve the etcd v3 API on")
	fs.StringVar(&f.advertiseClientURLs, "advertise-client-urls", "", "comma-separated client URLs to advertise to the cluster and clients (default: --listen-client-urls)")
	fs.StringVar(&f.listenPeerURLs, "listen-peer-urls", server.DefaultListenPeerURL, "URL to serve the Raft peer traffic on")
	fs.StringVar(&f.initialAdvertisePeerURLs, "initial-advertise-peer-urls", "", "this member's peer URLs as listed in --initial-cluster (default: --listen-peer-urls)")
	fs.StringVar(&c.InitialCluster, "initial-cluster", "", "initial cluster configuration: name=peerURL,name=peerURL,...")
	fs.StringVar(&c.InitialClusterState, "initial-cluster-state", server.ClusterStateNew, "\"new\" to bootstrap the cluster, \"existing\" to join one")
	fs.StringVar(&c.InitialClusterToken, "initial-cluster-token", server.DefaultInitialClusterToken, "token that keeps the IDs of this cluster apart from another's")
	fs.StringVar(&f.listenMetricsURLs, "listen-metrics-urls", "", "comma-separated URLs to serve /metrics, /health, /livez and /readyz on")
	fs.StringVar(&c.ClientTLS.CertFile, "cert-file", "", "client TLS certificate file")
	fs.StringVar(&c.ClientTLS.KeyFile, "key-file", "", "client TLS key file")
	fs.StringVar(&c.ClientTLS.TrustedCAFile, "trusted-ca-file", "", "CA bundle that verifies client certificates")
	fs.BoolVar(&c.ClientTLS.ClientCertAuth, "client-cert-auth", false, "require client certificates signed by --trusted-ca-file")
	fs.StringVar(&c.PeerTLS.CertFile, "peer-cert-file", "", "peer TLS certificate file")
	fs.StringVar(&c.PeerTLS.KeyFile, "peer-key-file", "", "peer TLS key file")
	fs.StringVar(&c.PeerTLS.TrustedCAFile, "peer-trusted-ca-file", "", "CA bundle that verifies peer certificates")
	fs.BoolVar(&c.PeerTLS.ClientCertAuth, "peer-client-cert-auth", false, "require peer certificates signed by --peer-trusted-ca-file")
	fs.UintVar(&f.heartbeatMs, "heartbeat-interval", uint(server.DefaultHeartbeatInterval/time.Millisecond), "time (in milliseconds) of a heartbeat interval")
	fs.UintVar(&f.electionMs, "election-timeout", uint(server.DefaultElectionTimeout/time.Millisecond), "time (in milliseconds) for an election to time out")
	fs.Uint64Var(&c.SnapshotCount, "snapshot-count", server.DefaultSnapshotCount, "number of applied entries that triggers a snapshot")
	fs.IntVar(&c.MaxRequestBytes, "max-request-bytes", server.DefaultMaxRequestBytes, "maximum client request size in bytes")
	fs.IntVar(&c.MaxTxnOps, "max-txn-ops", server.DefaultMaxTxnOps, "maximum number of operations in a transaction")
	fs.Int64Var(&c.QuotaBackendBytes, "quota-backend-bytes", server.DefaultQuotaBackendBytes, "space quota reported by endpoint status (not enforced yet)")
	fs.StringVar(&c.AutoCompactionMode, "auto-compaction-mode", server.DefaultAutoCompactionMode, "\"periodic\" or \"revision\"")
	fs.StringVar(&c.AutoCompactionRetention, "auto-compaction-retention", server.DefaultAutoCompactionRetention, "history to keep: a duration or hours (periodic), a revision count (revision); 0 disables")
	fs.DurationVar(&c.GRPCKeepAliveMinTime, "grpc-keepalive-min-time", server.DefaultGRPCKeepAliveMinTime, "minimum interval between client keepalive pings")
	fs.DurationVar(&c.GRPCKeepAliveInterval, "grpc-keepalive-interval", server.DefaultGRPCKeepAliveInterval, "interval of the server's keepalive pings")
	fs.DurationVar(&c.GRPCKeepAliveTimeout, "grpc-keepalive-timeout", server.DefaultGRPCKeepAliveTimeout, "timeout of the server's keepalive pings")
	fs.BoolVar(&c.EnablePprof, "enable-pprof", false, "serve /debug/pprof on the metrics URLs")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "json", "json or text")
	return f
}

// parse parses args, then fills every flag not given on the command line
// from its IRONKV_ environment variable.
func (f *serveFlags) parse(args, env []string, stderr io.Writer) error {
	if err := f.fs.Parse(args); err != nil {
		return usageError{err}
	}
	if f.fs.NArg() > 0 {
		return usageError{fmt.Errorf("unexpected arguments %q (flags only)", f.fs.Args())}
	}
	set := map[string]bool{}
	f.fs.Visit(func(fl *flag.Flag) { set[fl.Name] = true })
	var errs []error
	for _, kv := range env {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, envPrefix) {
			continue
		}
		flagName := strings.ToLower(strings.ReplaceAll(strings.TrimPrefix(name, envPrefix), "_", "-"))
		fl := f.fs.Lookup(flagName)
		if fl == nil {
			fmt.Fprintf(stderr, "ironkv serve: warning: ignoring %s: there is no flag --%s\n", name, flagName)
			continue
		}
		if set[flagName] {
			continue // the command line wins
		}
		if err := fl.Value.Set(value); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %w", name, value, err))
		}
	}
	if len(errs) > 0 {
		return usageError{errors.Join(errs...)}
	}
	c := &f.cfg
	c.ListenClientURLs = splitList(f.listenClientURLs)
	c.AdvertiseClientURLs = splitList(f.advertiseClientURLs)
	if len(c.AdvertiseClientURLs) == 0 {
		c.AdvertiseClientURLs = c.ListenClientURLs
	}
	c.ListenPeerURLs = splitList(f.listenPeerURLs)
	c.InitialAdvertisePeerURLs = splitList(f.initialAdvertisePeerURLs)
	if len(c.InitialAdvertisePeerURLs) == 0 {
		c.InitialAdvertisePeerURLs = c.ListenPeerURLs
	}
	c.ListenMetricsURLs = splitList(f.listenMetricsURLs)
	c.HeartbeatInterval = time.Duration(f.heartbeatMs) * time.Millisecond
	c.ElectionTimeout = time.Duration(f.electionMs) * time.Millisecond
	if c.DataDir == "" {
		c.DataDir = c.Name + ".etcd"
	}
	logger, err := newLogger(f.logLevel, f.logFormat, stderr)
	if err != nil {
		return usageError{err}
	}
	c.Logger = logger.With("member", c.Name)
	if err := c.Validate(); err != nil {
		return usageError{err}
	}
	return nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func newLogger(level, format string, w io.Writer) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level %q: want debug, info, warn or error", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format %q: want json or text", format)
}

// stopTimeout bounds a graceful stop: handing leadership over, draining
// requests, stopping the node.
const stopTimeout = 30 * time.Second

func serve(ctx context.Context, args, env []string, stdout, stderr io.Writer) error {
	f := newServeFlags(stderr)
	if err := f.parse(args, env, stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	return runServer(ctx, f.cfg)
}

// runServer runs one member until ctx ends (SIGTERM or SIGINT: a graceful
// stop) or the member stops by itself (removed, or a fatal error).
func runServer(ctx context.Context, cfg server.Config) error {
	s, err := server.New(cfg)
	if err != nil {
		return err
	}
	if err := s.Start(ctx); err != nil {
		return errors.Join(err, s.Stop(context.Background()))
	}
	cfg.Logger.Info("ironkv serving", "id", fmt.Sprintf("%x", s.ID()), "cluster", fmt.Sprintf("%x", s.ClusterID()),
		"client", s.ClientAddrs(), "peer", s.PeerAddr(), "metrics", s.MetricsAddrs())
	select {
	case <-ctx.Done():
		cfg.Logger.Info("ironkv stopping: signal received")
	case <-s.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	err = s.Stop(sctx)
	if serr := s.Err(); serr != nil {
		return serr
	}
	return err
}
