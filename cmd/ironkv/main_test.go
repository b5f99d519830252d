package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func TestServeFlagsAndEnvironment(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	f := newServeFlags(&stderr)
	err := f.parse([]string{"--name", "m1", "--data-dir", dir, "--listen-client-urls", "http://127.0.0.1:0"},
		[]string{"IRONKV_NAME=ignored", "IRONKV_MAX_TXN_OPS=64", "IRONKV_NO_SUCH_FLAG=1", "OTHER=1"}, &stderr)
	if err != nil {
		t.Fatalf("parse = %v", err)
	}
	if f.cfg.Name != "m1" {
		t.Errorf("Name = %q: the command line must win over IRONKV_NAME", f.cfg.Name)
	}
	if f.cfg.MaxTxnOps != 64 {
		t.Errorf("MaxTxnOps = %d, want 64 from IRONKV_MAX_TXN_OPS", f.cfg.MaxTxnOps)
	}
	if !strings.Contains(stderr.String(), "IRONKV_NO_SUCH_FLAG") {
		t.Errorf("no warning about IRONKV_NO_SUCH_FLAG in %q", stderr.String())
	}
	if got := f.cfg.AdvertiseClientURLs; len(got) != 1 || got[0] != "http://127.0.0.1:0" {
		t.Errorf("AdvertiseClientURLs = %v, want the listen URL", got)
	}
}

func TestServeRefusesBadConfiguration(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		env  []string
		want string
	}{
		{"positional argument", []string{"extra"}, nil, "unexpected arguments"},
		{"bad env value", nil, []string{"IRONKV_MAX_TXN_OPS=many"}, "IRONKV_MAX_TXN_OPS"},
		{"name not in initial cluster", []string{"--name", "x", "--initial-cluster", "y=http://127.0.0.1:2380"}, nil, "x"},
		{"bad log level", []string{"--log-level", "loud"}, nil, "--log-level"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run(context.Background(), append([]string{"serve", "--data-dir", t.TempDir()}, tc.args...), tc.env, &stdout, &stderr)
			if code != 2 || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("run(serve %v) = %d, stderr %q; want 2 and a message naming %q", tc.args, code, stderr.String(), tc.want)
			}
		})
	}
}

func TestUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"frobnicate"}, nil, &stdout, &stderr); code != 2 {
		t.Errorf("run(frobnicate) = %d, want 2", code)
	}
	if code := run(context.Background(), []string{"version"}, nil, &stdout, &stderr); code != 0 || !strings.Contains(stdout.String(), version) {
		t.Errorf("run(version) = %d, %q", code, stdout.String())
	}
}

// TestDemo starts the three-member demo, waits for it to say it runs, and
// stops it as Ctrl-C would.
func TestDemo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	var stderr bytes.Buffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--data-dir", t.TempDir()}, nil, pw, &stderr)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	running := false
	for sc.Scan() {
		if strings.Contains(sc.Text(), "Press Ctrl-C") {
			running = true
			cancel()
		}
	}
	if code := <-done; code != 0 || !running {
		t.Fatalf("demo exited %d (running=%v); stderr:\n%s", code, running, stderr.String())
	}
}
