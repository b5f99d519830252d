package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"sync"
	"time"
)

// The peer port carries the Raft transport (gRPC) and one small service of
// its own: discovery, which tells a member being started with
// --initial-cluster-state=existing the cluster ID and the member list (etcd
// serves the same on its peer port, GET /members). A discovery connection
// opens with discoveryMagic instead of the HTTP/2 preface or a TLS hello;
// with peer TLS both sides then speak TLS on it. The server answers one
// JSON clusterInfo and closes:
//
//	client                        server
//	"ironkv/members/1"       ->
//	(TLS handshake, with peer TLS)
//	                         <-   {"cluster_id":..., "members":[...]}   then close
const (
	discoveryMagic = "ironkv/members/1"
	// sniffTimeout bounds the wait for a new connection's first bytes.
	sniffTimeout = 10 * time.Second
	// maxSniffing bounds the connections being sniffed at once; beyond it,
	// accepting waits.
	maxSniffing = 64
	// maxDiscoveryBytes bounds a discovery answer.
	maxDiscoveryBytes = 4 << 20
	// discoveryTimeout bounds one discovery exchange.
	discoveryTimeout = 5 * time.Second
)

// clusterInfo is the discovery answer.
type clusterInfo struct {
	ClusterID uint64          `json:"cluster_id"`
	Members   []discoveryInfo `json:"members"`
}

type discoveryInfo struct {
	ID        uint64   `json:"id"`
	Name      string   `json:"name"`
	PeerURLs  []string `json:"peer_urls"`
	IsLearner bool     `json:"is_learner"`
}

// started reports whether the member has run: it published its name, as
// every member does after every start (etcd's rule: a member with a name
// has been started).
func (m discoveryInfo) started() bool { return m.Name != "" }

// peerMux is the peer listener as the transport sees it: it accepts
// connections, answers discovery ones itself and hands the others over
// (with the bytes it read put back).
//
// Goroutines: one accept loop, and one per connection being sniffed (at
// most maxSniffing); Close stops and joins them all.
type peerMux struct {
	ln   net.Listener
	tls  *tls.Config
	info func() clusterInfo
	log  *slog.Logger

	conns     chan net.Conn // unbuffered: a sniffer waits for Accept
	closed    chan struct{} // closed by Close
	acceptErr chan struct{} // closed when the accept loop failed
	closeOnce sync.Once
	sem       chan struct{}
	wg        sync.WaitGroup

	mu     sync.Mutex
	err    error                 // the accept loop's error
	active map[net.Conn]struct{} // connections being sniffed or answered
}

var _ net.Listener = (*peerMux)(nil)

func newPeerMux(ln net.Listener, serverTLS *tls.Config, info func() clusterInfo, log *slog.Logger) *peerMux {
	m := &peerMux{ln: ln, tls: serverTLS, info: info, log: log,
		conns: make(chan net.Conn), closed: make(chan struct{}), acceptErr: make(chan struct{}),
		sem: make(chan struct{}, maxSniffing), active: make(map[net.Conn]struct{})}
	m.wg.Go(m.acceptLoop)
	return m
}

func (m *peerMux) acceptLoop() {
	for {
		select {
		case m.sem <- struct{}{}:
		case <-m.closed:
			return
		}
		c, err := m.ln.Accept()
		if err != nil {
			<-m.sem
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			m.mu.Lock()
			m.err = err
			m.mu.Unlock()
			close(m.acceptErr)
			return
		}
		if !m.track(c, true) {
			c.Close()
			<-m.sem
			return
		}
		m.wg.Go(func() {
			defer func() { <-m.sem }()
			m.sniff(c)
		})
	}
}

// track adds c to (or removes it from) the active connections, which Close
// closes. It reports false once Close has begun.
func (m *peerMux) track(c net.Conn, add bool) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !add {
		delete(m.active, c)
		return true
	}
	if m.active == nil {
		return false
	}
	m.active[c] = struct{}{}
	return true
}

// sniff reads a connection's first bytes and routes it.
func (m *peerMux) sniff(c net.Conn) {
	defer m.track(c, false)
	buf := make([]byte, len(discoveryMagic))
	c.SetReadDeadline(time.Now().Add(sniffTimeout))
	n, err := io.ReadFull(c, buf)
	c.SetReadDeadline(time.Time{})
	if err != nil && n == 0 {
		c.Close()
		return
	}
	if string(buf[:n]) == discoveryMagic {
		m.serveDiscovery(c)
		return
	}
	pc := &prefixConn{Conn: c, prefix: buf[:n]}
	select {
	case m.conns <- pc:
	case <-m.closed:
		c.Close()
	}
}

func (m *peerMux) serveDiscovery(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(discoveryTimeout))
	var w io.Writer = c
	if m.tls != nil {
		tc := tls.Server(c, m.tls)
		if err := tc.Handshake(); err != nil {
			m.log.Warn("discovery: TLS handshake failed", "remote", c.RemoteAddr(), "err", err)
			return
		}
		defer tc.Close()
		w = tc
	}
	if err := json.NewEncoder(w).Encode(m.info()); err != nil {
		m.log.Debug("discovery: answer not written", "remote", c.RemoteAddr(), "err", err)
	}
}

// Accept returns the next transport connection.
func (m *peerMux) Accept() (net.Conn, error) {
	select {
	case c := <-m.conns:
		return c, nil
	case <-m.acceptErr:
		m.mu.Lock()
		defer m.mu.Unlock()
		return nil, m.err
	case <-m.closed:
		return nil, net.ErrClosed
	}
}

// Close closes the listener and joins the goroutines. It is idempotent.
func (m *peerMux) Close() error {
	var err error
	m.closeOnce.Do(func() {
		close(m.closed)
		err = m.ln.Close()
		m.mu.Lock()
		for c := range m.active {
			c.Close()
		}
		m.active = nil
		m.mu.Unlock()
		m.wg.Wait()
	})
	if err != nil && errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// Addr returns the listener's address.
func (m *peerMux) Addr() net.Addr { return m.ln.Addr() }

// prefixConn is a connection whose first bytes were read already.
type prefixConn struct {
	net.Conn
	prefix []byte
}

func (c *prefixConn) Read(b []byte) (int, error) {
	if len(c.prefix) > 0 {
		n := copy(b, c.prefix)
		c.prefix = c.prefix[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// discoveryInfo is what this member answers discovery with.
// It is empty until the node has started.
func (s *Server) discoveryInfo() clusterInfo {
	if !s.nodeReady.Load() {
		return clusterInfo{}
	}
	info := clusterInfo{ClusterID: s.clusterID}
	for _, m := range s.members() {
		info.Members = append(info.Members, discoveryInfo{ID: m.ID, Name: m.Name, PeerURLs: m.PeerURLs, IsLearner: m.IsLearner})
	}
	return info
}

// fetchClusterInfo asks the peer URLs in turn, round after round, until one
// answers or ctx ends.
func fetchClusterInfo(ctx context.Context, peerURLs []string, clientTLS *tls.Config) (clusterInfo, error) {
	var errs []error
	for {
		errs = errs[:0]
		for _, u := range peerURLs {
			info, err := fetchOne(ctx, u, clientTLS)
			if err == nil {
				return info, nil
			}
			errs = append(errs, fmt.Errorf("%s: %w", u, err))
		}
		t := time.NewTimer(500 * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return clusterInfo{}, fmt.Errorf("server: no member of --initial-cluster told the cluster's members (is this member added and are they running?): %w",
				errors.Join(append(errs, ctx.Err())...))
		}
	}
}

func fetchOne(ctx context.Context, peerURL string, clientTLS *tls.Config) (clusterInfo, error) {
	u, err := url.Parse(peerURL)
	if err != nil {
		return clusterInfo{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, discoveryTimeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return clusterInfo{}, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	if _, err := c.Write([]byte(discoveryMagic)); err != nil {
		return clusterInfo{}, err
	}
	var r io.Reader = c
	if u.Scheme == "https" {
		cfg := clientTLS.Clone()
		if cfg.ServerName == "" {
			cfg.ServerName, _, _ = net.SplitHostPort(u.Host)
		}
		tc := tls.Client(c, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return clusterInfo{}, err
		}
		r = tc
	}
	b, err := io.ReadAll(io.LimitReader(r, maxDiscoveryBytes+1))
	if err != nil {
		return clusterInfo{}, err
	}
	if len(b) > maxDiscoveryBytes {
		return clusterInfo{}, fmt.Errorf("discovery answer over %d bytes", maxDiscoveryBytes)
	}
	var info clusterInfo
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&info); err != nil {
		return clusterInfo{}, fmt.Errorf("bad discovery answer: %w", err)
	}
	if info.ClusterID == 0 || len(info.Members) == 0 {
		return clusterInfo{}, errors.New("the member has not started yet")
	}
	return info, nil
}
