package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ironkvBin is the ironkv binary under test, set by TestMain.
var ironkvBin string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	if bin := os.Getenv("IRONKV_BIN"); bin != "" {
		abs, err := filepath.Abs(bin)
		if err != nil {
			fmt.Fprintf(os.Stderr, "e2e: IRONKV_BIN=%q: %v\n", bin, err)
			return 1
		}
		ironkvBin = abs
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "ironkv-e2e-bin-")
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	defer os.RemoveAll(dir)
	bin, err := buildIronkv(dir)
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e: %v\n", err)
		return 1
	}
	ironkvBin = bin
	return m.Run()
}

// buildIronkv builds ./cmd/ironkv of this module into dir, without the race
// detector (the processes under test need not pay for it).
func buildIronkv(dir string) (string, error) {
	var out bytes.Buffer
	gomod := exec.Command("go", "env", "GOMOD")
	gomod.Stderr = &out
	mod, err := gomod.Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w\n%s", err, out.String())
	}
	root := filepath.Dir(strings.TrimSpace(string(mod)))
	if _, err := os.Stat(filepath.Join(root, "cmd", "ironkv")); err != nil {
		return "", fmt.Errorf("module root %s has no cmd/ironkv: %w", root, err)
	}
	bin := filepath.Join(dir, "ironkv")
	build := exec.Command("go", "build", "-o", bin, "./cmd/ironkv")
	build.Dir = root
	build.Stdout, build.Stderr = &out, &out
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/ironkv: %w\n%s", err, out.String())
	}
	return bin, nil
}

// etcdctlBin returns the path of etcdctl-<version> in $IRONKV_TOOLS/bin.
// Without the tools the test is skipped, or fails under CI.
func etcdctlBin(t *testing.T, version string) string {
	t.Helper()
	const how = "run `bash scripts/etcd-tools.sh DIR` and set IRONKV_TOOLS=DIR"
	dir := os.Getenv("IRONKV_TOOLS")
	if dir == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("IRONKV_TOOLS is not set: the etcdctl matrix must run in CI; %s", how)
		}
		t.Skipf("IRONKV_TOOLS is not set; %s", how)
	}
	bin := filepath.Join(dir, "bin", "etcdctl-"+version)
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("etcdctl %s: %v; %s", version, err, how)
	}
	return bin
}
