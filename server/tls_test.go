package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// writeTestPKI writes a CA and one certificate for 127.0.0.1, good for
// both server and client authentication, and returns their files.
func writeTestPKI(t *testing.T) (caFile, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "ironkv test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "member"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}}
	caCert, _ := x509.ParseCertificate(caDER)
	leafDER, err := x509.CreateCertificate(rand.Reader, leaf, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, _ := x509.MarshalECPrivateKey(key)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("member.pem", "CERTIFICATE", leafDER), write("member-key.pem", "EC PRIVATE KEY", keyDER)
}

// TestMutualTLS runs a cluster with https client and peer URLs and client
// certificates required on both: the Raft transport, the forwarding of
// keep-alives to the leader, and discovery all speak TLS.
func TestMutualTLS(t *testing.T) {
	caFile, certFile, keyFile := writeTestPKI(t)
	info := TLSInfo{CertFile: certFile, KeyFile: keyFile, TrustedCAFile: caFile, ClientCertAuth: true}
	https := func(u string) string { return strings.Replace(u, "http://", "https://", 1) }
	tweak := func(cfg *Config) {
		cfg.ClientTLS, cfg.PeerTLS = info, info
		for _, l := range [][]string{cfg.ListenClientURLs, cfg.AdvertiseClientURLs, cfg.ListenPeerURLs, cfg.InitialAdvertisePeerURLs} {
			for i := range l {
				l[i] = https(l[i])
			}
		}
		cfg.InitialCluster = strings.ReplaceAll(cfg.InitialCluster, "http://", "https://")
	}
	c := newTestCluster(t, 3, tweak)
	for _, m := range c.members {
		m.clientURL, m.peerURL = https(m.clientURL), https(m.peerURL)
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pool, _ := loadCA(caFile)
	f := c.follower(t)
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.members[f].clientURL}, DialTimeout: 5 * time.Second,
		Logger: zap.NewNop(), TLS: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx := ctxT(t)
	if _, err := cli.Put(ctx, "tls", "v"); err != nil {
		t.Fatal(err)
	}
	l, err := cli.Grant(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := cli.KeepAliveOnce(ctx, l.ID); err != nil || r.TTL != 10 {
		t.Errorf("KeepAliveOnce through a follower over TLS = %v, %v", r, err)
	}

	// A client without a certificate is refused.
	bare, err := clientv3.New(clientv3.Config{Endpoints: []string{c.members[f].clientURL}, DialTimeout: time.Second,
		Logger: zap.NewNop(), TLS: &tls.Config{RootCAs: pool}})
	if err == nil {
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		_, err = bare.Get(sctx, "tls")
		cancel()
		bare.Close()
	}
	if err == nil {
		t.Errorf("a client without a certificate was served")
	}

	// Discovery over TLS: a member joins.
	m := c.newMember(t, "tls-joiner")
	m.clientURL, m.peerURL = https(m.clientURL), https(m.peerURL)
	if _, err := cli.MemberAddAsLearner(ctx, []string{m.peerURL}); err != nil {
		t.Fatal(err)
	}
	c.join(t, m)
	if m.srv.ClusterID() != c.members[0].srv.ClusterID() {
		t.Errorf("the joiner is in cluster %x, want %x", m.srv.ClusterID(), c.members[0].srv.ClusterID())
	}
}

// TestHTTPSMetricsURLServesTLS: an https metrics URL is served over TLS with
// the client certificate (as etcd does), not as plain HTTP; without a client
// certificate the config is refused.
func TestHTTPSMetricsURLServesTLS(t *testing.T) {
	caFile, certFile, keyFile := writeTestPKI(t)
	c := newTestCluster(t, 1, func(cfg *Config) {
		cfg.ClientTLS = TLSInfo{CertFile: certFile, KeyFile: keyFile, TrustedCAFile: caFile}
		cfg.ListenMetricsURLs = []string{"https://127.0.0.1:0"}
	})
	addr := c.members[0].srv.MetricsAddrs()[0]
	pool, err := loadCA(caFile)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}, Timeout: testWait}
	defer hc.CloseIdleConnections()
	waitFor(t, "https /health to answer healthy", func() bool {
		resp, err := hc.Get("https://" + addr + "/health")
		if err != nil {
			t.Fatalf("GET https://%s/health: %v", addr, err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	plain := &http.Client{Timeout: testWait}
	if resp, err := plain.Get("http://" + addr + "/health"); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Errorf("plain HTTP on an https metrics URL answered %d, want no service", resp.StatusCode)
		}
	}

	err = Config{Name: "x", DataDir: t.TempDir(), ListenMetricsURLs: []string{"https://127.0.0.1:0"}}.Validate()
	if want := "--listen-metrics-urls"; err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "client certificate") {
		t.Errorf("Validate(https metrics URL without a client certificate) = %v, want an error naming %s and the client certificate", err, want)
	}
}
