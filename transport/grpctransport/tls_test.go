package grpctransport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/ironraft/ironraft/raftpb"
)

// testCA is a throwaway certificate authority.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// leaf returns a certificate for 127.0.0.1, usable by servers and clients.
func (ca *testCA) leaf(t *testing.T, serial int64) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(serial),
		Subject:      pkix.Name{CommonName: "node"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// tlsConfig returns a node config for mutual TLS under ca, presenting
// clientCert (none if nil) when it dials.
func tlsConfig(t *testing.T, id uint64, ca *testCA, clientCert *tls.Certificate) Config {
	cfg := testConfig(t, id, "")
	cfg.ServerTLS = &tls.Config{
		Certificates: []tls.Certificate{ca.leaf(t, int64(id)+100)},
		ClientCAs:    ca.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	}
	cfg.ClientTLS = &tls.Config{RootCAs: ca.pool, MinVersion: tls.VersionTLS13}
	if clientCert != nil {
		cfg.ClientTLS.Certificates = []tls.Certificate{*clientCert}
	}
	return cfg
}

func TestMutualTLS(t *testing.T) {
	ca := newTestCA(t, "cluster CA")
	cert := ca.leaf(t, 10)
	a := startNode(t, tlsConfig(t, 1, ca, &cert), nil)
	b := startNode(t, tlsConfig(t, 2, ca, &cert), nil)
	connect(t, a, b)
	sendUntil(t, a, 2, "delivery over mutual TLS", func() bool { return len(b.rec.received(nil)) > 0 })

	other := newTestCA(t, "another CA")
	foreign := other.leaf(t, 11)
	for _, tc := range []struct {
		name string
		id   uint64
		cert *tls.Certificate
	}{
		{"no client certificate", 3, nil},
		{"certificate of another CA", 4, &foreign},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startNode(t, tlsConfig(t, tc.id, ca, tc.cert), nil)
			if err := c.tr.AddPeer(2, b.tr.Addr()); err != nil {
				t.Fatal(err)
			}
			sendUntil(t, c, 2, "ReportUnreachable(2)", func() bool { return c.rec.unreachableCount(2) > 0 })
			if got := b.rec.received(func(m *raftpb.Message) bool { return m.GetFrom() == tc.id }); len(got) != 0 {
				t.Errorf("node 2 received %d messages from a client without a valid certificate", len(got))
			}
		})
	}
}
