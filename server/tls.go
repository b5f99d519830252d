package server

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
)

// loadTLS builds the TLS configurations from the certificate files. A side
// whose URLs are all http gets none.
func (s *Server) loadTLS() error {
	c := s.cfg
	https := func(urls ...[]string) bool {
		for _, l := range urls {
			for _, u := range l {
				if strings.HasPrefix(u, "https://") {
					return true
				}
			}
		}
		return false
	}
	var err error
	if https(c.ListenClientURLs) {
		if s.clientTLS, err = serverTLS(c.ClientTLS); err != nil {
			return fmt.Errorf("server: client TLS: %w", err)
		}
	}
	if https(c.ListenMetricsURLs) {
		// etcd serves https metrics URLs with the client TLS settings.
		if s.metricsTLS, err = serverTLS(c.ClientTLS); err != nil {
			return fmt.Errorf("server: metrics TLS (the client certificate): %w", err)
		}
	}
	if https(c.AdvertiseClientURLs) || https(c.ListenClientURLs) {
		// Forwarding to the leader's client URL: this member's client
		// certificate, and the client CA to check the leader's.
		if s.fwdTLS, err = clientTLS(c.ClientTLS); err != nil {
			return fmt.Errorf("server: client TLS: %w", err)
		}
	}
	if https(c.ListenPeerURLs, c.InitialAdvertisePeerURLs) {
		if s.peerServerTLS, err = serverTLS(c.PeerTLS); err != nil {
			return fmt.Errorf("server: peer TLS: %w", err)
		}
		if s.peerClientTLS, err = clientTLS(c.PeerTLS); err != nil {
			return fmt.Errorf("server: peer TLS: %w", err)
		}
	}
	return nil
}

func loadCA(file string) (*x509.CertPool, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("no PEM certificate in %s", file)
	}
	return pool, nil
}

// serverTLS is the listening side: its certificate, and with
// ClientCertAuth a required client certificate signed by TrustedCAFile.
func serverTLS(info TLSInfo) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(info.CertFile, info.KeyFile)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}}
	if info.TrustedCAFile != "" {
		if cfg.ClientCAs, err = loadCA(info.TrustedCAFile); err != nil {
			return nil, err
		}
		cfg.ClientAuth = tls.VerifyClientCertIfGiven
	}
	if info.ClientCertAuth {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// clientTLS is the dialling side: TrustedCAFile checks the server, and the
// certificate, if any, is presented as a client certificate.
func clientTLS(info TLSInfo) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if info.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(info.CertFile, info.KeyFile)
		if err != nil {
			return nil, err
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	if info.TrustedCAFile != "" {
		pool, err := loadCA(info.TrustedCAFile)
		if err != nil {
			return nil, err
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}
