package server

import (
	"crypto/sha1"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// computeMemberID is etcd's member ID: the first 8 bytes (big-endian) of
// the SHA-1 of the sorted peer URLs joined, the cluster token and, for a
// member added at run time, the Unix time of the add. The initial members
// use no time, so every member computes the same IDs from --initial-cluster.
func computeMemberID(peerURLs []string, token string, now *time.Time) uint64 {
	urls := slices.Clone(peerURLs)
	slices.Sort(urls)
	b := []byte(strings.Join(urls, ""))
	b = append(b, token...)
	if now != nil {
		b = strconv.AppendInt(b, now.Unix(), 10)
	}
	h := sha1.Sum(b)
	return binary.BigEndian.Uint64(h[:8])
}

// computeClusterID is etcd's cluster ID: the first 8 bytes of the SHA-1 of
// the sorted initial member IDs, each 8 bytes big-endian.
func computeClusterID(memberIDs []uint64) uint64 {
	ids := slices.Clone(memberIDs)
	slices.Sort(ids)
	b := make([]byte, 8*len(ids))
	for i, id := range ids {
		binary.BigEndian.PutUint64(b[8*i:], id)
	}
	h := sha1.Sum(b)
	return binary.BigEndian.Uint64(h[:8])
}

// bootstrapMember is an initial member with its computed ID.
type bootstrapMember struct {
	id       uint64
	name     string
	peerURLs []string
}

// bootstrapIDs computes every initial member's ID and the cluster ID.
func bootstrapIDs(ic initialCluster, token string) ([]bootstrapMember, uint64, error) {
	ms := make([]bootstrapMember, len(ic))
	ids := make([]uint64, len(ic))
	for i, m := range ic {
		ms[i] = bootstrapMember{id: computeMemberID(m.peerURLs, token, nil), name: m.name, peerURLs: m.peerURLs}
		ids[i] = ms[i].id
		if ids[i] == 0 || slices.Contains(ids[:i], ids[i]) {
			return nil, 0, fmt.Errorf("server: --initial-cluster member %q gets member ID %x, which is 0 or taken: change its peer URLs or the token", m.name, ids[i])
		}
	}
	cid := computeClusterID(ids)
	if cid == 0 {
		return nil, 0, errors.New("server: the initial cluster's ID is 0: change --initial-cluster-token")
	}
	return ms, cid, nil
}

// hostOf returns the host:port of a peer URL, the address the Raft
// transport dials.
func hostOf(peerURL string) string {
	u, err := url.Parse(peerURL)
	if err != nil {
		return ""
	}
	return u.Host
}

// memberFile records who this data directory belongs to. It is written
// (atomically) after the node first started, and read on every later start:
// its presence is what makes a start a restart.
type memberFile struct {
	Version   int    `json:"version"`
	Name      string `json:"name"`
	MemberID  string `json:"member_id"`  // hex, as etcd prints IDs
	ClusterID string `json:"cluster_id"` // hex
}

const memberFileName = "ironkv-member.json"

func memberFilePath(dataDir string) string { return filepath.Join(dataDir, memberFileName) }

// readMemberFile returns the IDs recorded in dataDir; ok is false if there
// is no member file (a fresh data directory).
func readMemberFile(dataDir string) (id, cid uint64, ok bool, err error) {
	b, err := os.ReadFile(memberFilePath(dataDir))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, 0, false, nil
	}
	if err != nil {
		return 0, 0, false, fmt.Errorf("server: read the member file: %w", err)
	}
	var mf memberFile
	if err := json.Unmarshal(b, &mf); err != nil {
		return 0, 0, false, fmt.Errorf("server: member file %s is damaged: %w", memberFilePath(dataDir), err)
	}
	if mf.Version != 1 {
		return 0, 0, false, fmt.Errorf("server: member file %s has version %d, this server reads 1", memberFilePath(dataDir), mf.Version)
	}
	id, err1 := strconv.ParseUint(mf.MemberID, 16, 64)
	cid, err2 := strconv.ParseUint(mf.ClusterID, 16, 64)
	if err1 != nil || err2 != nil || id == 0 || cid == 0 {
		return 0, 0, false, fmt.Errorf("server: member file %s holds bad IDs %q, %q", memberFilePath(dataDir), mf.MemberID, mf.ClusterID)
	}
	return id, cid, true, nil
}

// writeMemberFile writes the member file durably: a temporary file,
// fsync, rename, fsync of the directory.
func writeMemberFile(dataDir, name string, id, cid uint64) error {
	b, err := json.MarshalIndent(memberFile{Version: 1, Name: name,
		MemberID: strconv.FormatUint(id, 16), ClusterID: strconv.FormatUint(cid, 16)}, "", "  ")
	if err != nil {
		return fmt.Errorf("server: encode the member file: %w", err)
	}
	tmp := memberFilePath(dataDir) + ".tmp"
	if err := writeSynced(tmp, append(b, '\n')); err != nil {
		return fmt.Errorf("server: write the member file: %w", err)
	}
	if err := os.Rename(tmp, memberFilePath(dataDir)); err != nil {
		return fmt.Errorf("server: write the member file: %w", err)
	}
	d, err := os.Open(dataDir)
	if err != nil {
		return fmt.Errorf("server: sync the data directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("server: sync the data directory: %w", err)
	}
	return nil
}

func writeSynced(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
