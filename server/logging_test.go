package server

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the server's goroutines.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// topLevelKeys returns the keys of a JSON object in order, duplicates kept.
func topLevelKeys(line string) ([]string, error) {
	var obj []string
	dec := json.NewDecoder(strings.NewReader(line))
	if _, err := dec.Token(); err != nil { // {
		return nil, err
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil, err
		}
		obj = append(obj, k.(string))
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
	}
	return obj, nil
}

// TestJSONLogsHaveNoDuplicateKeys: cmd/ironkv's logger carries "member" (the
// name); the server adds the member ID under its own key, "member_id", so no
// JSON record carries one of the keys the server and cmd/ironkv add twice.
// (The keys the node and its storage add are theirs to check.)
func TestJSONLogsHaveNoDuplicateKeys(t *testing.T) {
	var buf lockedBuffer
	c := newTestCluster(t, 1, func(cfg *Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})).With("member", cfg.Name)
	})
	if _, err := c.client(t).Put(ctxT(t), "k", "v"); err != nil {
		t.Fatal(err)
	}
	c.stop(t, 0)
	serverKeys := map[string]bool{"member": true, "member_id": true, "name": true}
	var sawID bool
	for line := range strings.Lines(buf.String()) {
		keys, err := topLevelKeys(line)
		if err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		seen := map[string]bool{}
		for _, k := range keys {
			if seen[k] && serverKeys[k] {
				t.Errorf("log line has key %q twice: %s", k, line)
			}
			seen[k] = true
		}
		sawID = sawID || seen["member_id"]
	}
	if !sawID {
		t.Errorf("no log line carries member_id:\n%s", buf.String())
	}
}
