package node

import (
	"fmt"
	"io"
	"maps"
	"sync"

	"github.com/ironraft/ironraft/vfs"
)

// addressBookFile is the name, in the data directory, of the file that
// keeps the address of every member this node knows (encoded like a
// snapshot header, without the state machine's part). Addresses are not
// part of Raft's safety: a wrong one makes a peer unreachable, nothing
// worse. The file lets a restarted node reach its peers before it has
// replayed its log, and a joiner remember the members it was given.
const addressBookFile = "members"

// addressBook maps member IDs to transport addresses. It is safe for
// concurrent use.
type addressBook struct {
	mu    sync.Mutex
	addrs map[uint64]string
	// fs and dir locate the file the book is saved to; nil fs: memory only.
	fs  vfs.FS
	dir string
}

func newAddressBook(fs vfs.FS, dir string) *addressBook {
	return &addressBook{addrs: map[uint64]string{}, fs: fs, dir: dir}
}

// load reads the book's file, if there is one.
func (b *addressBook) load() error {
	if b.fs == nil {
		return nil
	}
	f, err := b.fs.Open(b.fs.Join(b.dir, addressBookFile))
	if err != nil {
		return nil // none yet: a new data directory
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, 64<<20))
	if err != nil {
		return fmt.Errorf("node: read the address book: %w", err)
	}
	addrs, _, err := decodeSnapshotHeader(data)
	if err != nil {
		return fmt.Errorf("node: address book %s: %w", b.fs.Join(b.dir, addressBookFile), err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.addrs = addrs
	return nil
}

// saveLocked writes the book to its file: a temporary file, synced, renamed
// over the old one, and the directory synced.
func (b *addressBook) saveLocked() error {
	if b.fs == nil {
		return nil
	}
	tmp := b.fs.Join(b.dir, addressBookFile+".tmp")
	f, err := b.fs.Create(tmp)
	if err != nil {
		return fmt.Errorf("node: save the address book: %w", err)
	}
	_, err = f.Write(encodeSnapshotHeader(b.addrs))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = b.fs.Rename(tmp, b.fs.Join(b.dir, addressBookFile))
	}
	if err == nil {
		err = b.fs.SyncDir(b.dir)
	}
	if err != nil {
		return fmt.Errorf("node: save the address book: %w", err)
	}
	return nil
}

func (b *addressBook) get(id uint64) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.addrs[id]
}

func (b *addressBook) snapshot() map[uint64]string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return maps.Clone(b.addrs)
}

// set records id's address and tells peers (nil: nobody).
func (b *addressBook) set(id uint64, addr string, peers peerSink) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.addrs[id] == addr {
		return nil
	}
	b.addrs[id] = addr
	if peers != nil {
		peers.addPeer(id, addr)
	}
	return b.saveLocked()
}

func (b *addressBook) remove(id uint64, peers peerSink) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.addrs[id]; !ok {
		return nil
	}
	delete(b.addrs, id)
	if peers != nil {
		peers.removePeer(id)
	}
	return b.saveLocked()
}

// merge adds the addresses of other (from a snapshot) to the book; it keeps
// addresses the snapshot does not name, as they may belong to members
// added after it.
func (b *addressBook) merge(other map[uint64]string, peers peerSink) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	changed := false
	for id, addr := range other {
		if addr == "" || b.addrs[id] == addr {
			continue
		}
		b.addrs[id] = addr
		changed = true
		if peers != nil {
			peers.addPeer(id, addr)
		}
	}
	if !changed {
		return nil
	}
	return b.saveLocked()
}
