package server

import (
	"fmt"
	"slices"
	"sync"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/ironraft/ironraft/kv"
)

const (
	// leaseCheckInterval is how often the leader looks for expired leases
	// (etcd: 500ms).
	leaseCheckInterval = 500 * time.Millisecond
	// maxRevokesPerCheck bounds the revocations proposed per check, so
	// that a pile of expired leases cannot flood the log (etcd revokes at
	// most 1000 per second).
	maxRevokesPerCheck = 500
	// revokeParallelism bounds the revocations in flight at once.
	revokeParallelism = 16
)

// lessor keeps the expiry time of every lease, on the leader only: the
// replicated lease table (kv) holds IDs and TTLs, never a clock, so that
// applying the log stays deterministic. The leader's lessor is "primary":
// it refreshes expiries on keep-alive and proposes a LeaseRevoke for every
// lease that expires. Followers keep nothing and forward keep-alives to
// the leader.
//
// On becoming primary (etcd's Promote) every lease gets now + its TTL (or
// its checkpointed remaining TTL) + one election timeout, so that no lease
// expires early because its keep-alives went to the old leader.
type lessor struct {
	minTTL int64
	extend time.Duration

	mu      sync.Mutex
	primary bool
	// expiry of every lease known to the primary; leases granted on other
	// members appear at the next reconcile, with a full TTL.
	expiry map[int64]time.Time
	// revoking records when a revoke was last proposed for an expired
	// lease, so it is not proposed again before it could have applied.
	revoking map[int64]time.Time
}

func newLessor(minTTL int64, extend time.Duration) *lessor {
	return &lessor{minTTL: minTTL, extend: extend}
}

func remainingTTL(l kv.LeaseInfo) int64 {
	if l.RemainingTTL > 0 {
		return l.RemainingTTL
	}
	return l.TTL
}

func seconds(n int64) time.Duration { return time.Duration(n) * time.Second }

// promote makes the lessor primary; it does nothing if it already is.
func (l *lessor) promote(leases []kv.LeaseInfo, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.primary {
		return
	}
	l.primary = true
	l.expiry = make(map[int64]time.Time, len(leases))
	l.revoking = make(map[int64]time.Time)
	for _, ls := range leases {
		l.expiry[ls.ID] = now.Add(seconds(remainingTTL(ls)) + l.extend)
	}
}

// demote forgets every expiry: this member no longer leads.
func (l *lessor) demote() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.primary, l.expiry, l.revoking = false, nil, nil
}

func (l *lessor) isPrimary() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.primary
}

// refresh sets lease id to expire ttl seconds from now (a grant or a
// keep-alive); it reports false if the lessor is not primary.
func (l *lessor) refresh(id, ttl int64, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return false
	}
	l.expiry[id] = now.Add(seconds(ttl))
	delete(l.revoking, id)
	return true
}

// forget drops a revoked lease.
func (l *lessor) forget(id int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.primary {
		delete(l.expiry, id)
		delete(l.revoking, id)
	}
}

// remaining returns how long lease id (of TTL ttl) has left, never below
// zero; ok is false if the lessor is not primary.
func (l *lessor) remaining(id, ttl int64, now time.Time) (d time.Duration, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return 0, false
	}
	e, known := l.expiry[id]
	if !known {
		e = now.Add(seconds(ttl))
		l.expiry[id] = e
	}
	return max(0, e.Sub(now)), true
}

// reconcile brings the expiries in line with the lease table (leases
// granted elsewhere get a full TTL from now; revoked ones are dropped) and
// returns up to maxN expired leases, in ID order, that have no revoke in
// flight (one proposed within retry).
func (l *lessor) reconcile(leases []kv.LeaseInfo, now time.Time, retry time.Duration, maxN int) []int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.primary {
		return nil
	}
	live := make(map[int64]bool, len(leases))
	var expired []int64
	for _, ls := range leases {
		live[ls.ID] = true
		e, ok := l.expiry[ls.ID]
		if !ok {
			l.expiry[ls.ID] = now.Add(seconds(ls.TTL))
			continue
		}
		if e.After(now) {
			continue
		}
		if at, ok := l.revoking[ls.ID]; ok && now.Sub(at) < retry {
			continue
		}
		expired = append(expired, ls.ID)
	}
	for id := range l.expiry {
		if !live[id] {
			delete(l.expiry, id)
			delete(l.revoking, id)
		}
	}
	slices.Sort(expired)
	if len(expired) > maxN {
		expired = expired[:maxN]
	}
	for _, id := range expired {
		l.revoking[id] = now
	}
	return expired
}

// syncLessorRole makes the lessor primary on the leader and not elsewhere.
func (s *Server) syncLessorRole() {
	leader := s.isLeader()
	switch {
	case leader && !s.lessor.isPrimary():
		s.lessor.promote(s.store.Leases(), time.Now())
		s.log.Info("lessor promoted: this member keeps lease expiry")
	case !leader && s.lessor.isPrimary():
		s.lessor.demote()
		s.log.Info("lessor demoted")
	}
}

// leaseLoop follows leadership every heartbeat and, on the leader, revokes
// expired leases every leaseCheckInterval.
func (s *Server) leaseLoop() {
	t := time.NewTicker(s.cfg.HeartbeatInterval)
	defer t.Stop()
	var last time.Time
	for {
		select {
		case <-t.C:
		case <-s.stopCtx.Done():
			return
		}
		s.syncLessorRole()
		now := time.Now()
		if !s.lessor.isPrimary() || now.Sub(last) < leaseCheckInterval {
			continue
		}
		last = now
		if ids := s.lessor.reconcile(s.store.Leases(), now, s.cfg.RequestTimeout, maxRevokesPerCheck); len(ids) > 0 {
			s.revokeExpired(ids)
		}
	}
}

// revokeExpired proposes a LeaseRevoke for each expired lease, at most
// revokeParallelism at once, and waits for them.
func (s *Server) revokeExpired(ids []int64) {
	sem := make(chan struct{}, revokeParallelism)
	var wg sync.WaitGroup
	for _, id := range ids {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			_, err := s.proposeKV(s.stopCtx, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}})
			switch {
			case err == nil:
				s.log.Debug("expired lease revoked", "lease", fmt.Sprintf("%x", id))
				s.lessor.forget(id)
			case err == rpctypes.ErrGRPCLeaseNotFound:
				s.lessor.forget(id)
			default:
				s.log.Warn("could not revoke an expired lease; will retry", "lease", fmt.Sprintf("%x", id), "err", err)
			}
		})
	}
	wg.Wait()
}

// newLeaseID picks the ID of a lease granted with ID 0: random, positive,
// and not in use here (the grant fails with ErrGRPCLeaseExist in the
// unlikely case another member picked it at the same time).
func (s *Server) newLeaseID() int64 {
	for {
		id := s.randInt63()
		if _, taken := s.store.Lease(id); !taken {
			return id
		}
	}
}
