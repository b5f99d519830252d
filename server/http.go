package server

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

const (
	// healthReadTimeout bounds the read fence /health and /readyz wait for.
	healthReadTimeout = time.Second
	// httpReadHeaderTimeout bounds reading a request's headers on the
	// metrics listeners.
	httpReadHeaderTimeout = 10 * time.Second
)

// newHTTPServers builds one HTTP server per metrics listener (with
// metricsTLS for an https URL: serve runs ServeTLS for those):
//
//	/health   etcd's JSON {"health":"true","reason":""}: true when the member
//	          knows a leader and a linearizable read fence passes within 1s
//	          (503 and the reason otherwise)
//	/livez    200 "ok" while the server runs
//	/readyz   200 "ok" under the same condition as /health
//	/metrics  the registry, in the Prometheus text format
//	/debug/pprof/...  with EnablePprof
func (s *Server) newHTTPServers() []*http.Server {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", s.serveHealth)
	mux.HandleFunc("/livez", s.serveLivez)
	mux.HandleFunc("/readyz", s.serveReadyz)
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	if s.cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	out := make([]*http.Server, len(s.metricsLns))
	for i := range out {
		out[i] = &http.Server{Handler: mux, ReadHeaderTimeout: httpReadHeaderTimeout,
			// Bad requests and failed TLS handshakes are the client's
			// problem: debug logs, not the process's standard error.
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		if strings.HasPrefix(s.cfg.ListenMetricsURLs[i], "https://") {
			out[i].TLSConfig = s.metricsTLS
		}
	}
	return out
}

// ready says whether the member serves linearizable requests, and if not,
// why (etcd's reasons).
func (s *Server) ready(ctx context.Context) (bool, string) {
	if !s.nodeReady.Load() {
		return false, "NOT STARTED"
	}
	select {
	case <-s.node.Done():
		return false, "STOPPED"
	default:
	}
	if !s.hasLeader() {
		return false, "RAFT NO LEADER"
	}
	ctx, cancel := context.WithTimeout(ctx, healthReadTimeout)
	defer cancel()
	if _, err := s.node.ReadIndex(ctx); err != nil {
		return false, "LINEARIZABLE READ FAILED"
	}
	return true, ""
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	ok, reason := s.ready(r.Context())
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	health := "false"
	if ok {
		health = "true"
	}
	json.NewEncoder(w).Encode(struct {
		Health string `json:"health"`
		Reason string `json:"reason"`
	}{health, reason})
}

func (s *Server) serveLivez(w http.ResponseWriter, r *http.Request) {
	if s.stopCtx.Err() != nil {
		http.Error(w, "stopping", http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

func (s *Server) serveReadyz(w http.ResponseWriter, r *http.Request) {
	if ok, reason := s.ready(r.Context()); !ok {
		http.Error(w, reason, http.StatusServiceUnavailable)
		return
	}
	w.Write([]byte("ok\n"))
}

// healthLoop keeps the gRPC health service's status: SERVING while the
// member knows a leader.
func (s *Server) healthLoop() {
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	serving, first := false, true
	for {
		has := s.hasLeader()
		if first || has != serving {
			first = false
			st := healthpb.HealthCheckResponse_NOT_SERVING
			if has {
				st = healthpb.HealthCheckResponse_SERVING
			}
			s.health.SetServingStatus("", st)
			serving = has
		}
		select {
		case <-t.C:
		case <-s.stopCtx.Done():
			return
		case <-s.node.Done():
			return
		}
	}
}
