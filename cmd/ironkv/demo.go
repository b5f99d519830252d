package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/ironraft/ironraft/server"
)

// demo starts a three-member cluster on loopback ports in a temporary
// directory, prints its endpoints and an etcdctl line to try, and stops it
// when ctx ends (Ctrl-C).
func demo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dataDir := fs.String("data-dir", "", "where the members keep their data (default: a temporary directory, removed at exit)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error (logs go to stderr)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return usageError{err}
	}
	logger, err := newLogger(*logLevel, "text", stderr)
	if err != nil {
		return usageError{err}
	}
	dir := *dataDir
	if dir == "" {
		if dir, err = os.MkdirTemp("", "ironkv-demo-"); err != nil {
			return err
		}
		defer os.RemoveAll(dir)
	}

	const members = 3
	type listeners struct{ client, peer, metrics net.Listener }
	lns := make([]listeners, members)
	var closeAll []net.Listener
	defer func() {
		for _, l := range closeAll {
			l.Close()
		}
	}()
	listen := func() (net.Listener, error) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err == nil {
			closeAll = append(closeAll, l)
		}
		return l, err
	}
	var initial []string
	for i := range lns {
		for _, p := range []*net.Listener{&lns[i].client, &lns[i].peer, &lns[i].metrics} {
			if *p, err = listen(); err != nil {
				return err
			}
		}
		initial = append(initial, fmt.Sprintf("m%d=http://%s", i+1, lns[i].peer.Addr()))
	}
	cfgs := make([]server.Config, members)
	var endpoints []string
	for i := range cfgs {
		client := "http://" + lns[i].client.Addr().String()
		endpoints = append(endpoints, client)
		cfgs[i] = server.Config{
			Name:                     fmt.Sprintf("m%d", i+1),
			DataDir:                  filepath.Join(dir, fmt.Sprintf("m%d", i+1)),
			ListenClientURLs:         []string{client},
			AdvertiseClientURLs:      []string{client},
			ListenPeerURLs:           []string{"http://" + lns[i].peer.Addr().String()},
			InitialAdvertisePeerURLs: []string{"http://" + lns[i].peer.Addr().String()},
			ListenMetricsURLs:        []string{"http://" + lns[i].metrics.Addr().String()},
			InitialCluster:           strings.Join(initial, ","),
			InitialClusterState:      server.ClusterStateNew,
			InitialClusterToken:      "ironkv-demo",
			ClientListeners:          []net.Listener{lns[i].client},
			PeerListener:             lns[i].peer,
			MetricsListeners:         []net.Listener{lns[i].metrics},
			Logger:                   logger.With("member", fmt.Sprintf("m%d", i+1)),
		}
	}
	closeAll = nil // the servers own the listeners from New on

	servers := make([]*server.Server, members)
	for i, cfg := range cfgs {
		s, err := server.New(cfg)
		if err != nil {
			for j := i; j < members; j++ {
				lns[j].client.Close()
				lns[j].peer.Close()
				lns[j].metrics.Close()
			}
			stopAll(servers[:i])
			return fmt.Errorf("member %s: %w", cfg.Name, err)
		}
		servers[i] = s
	}
	// The members start together: each waits for the others to elect a
	// leader and to publish itself.
	var wg sync.WaitGroup
	errs := make([]error, members)
	for i, s := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			defer cancel()
			errs[i] = s.Start(sctx)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		stopAll(servers)
		return err
	}
	eps := strings.Join(endpoints, ",")
	fmt.Fprintf(stdout, "ironkv demo: a three-member cluster is running (data in %s)\n\n", dir)
	for i, s := range servers {
		fmt.Fprintf(stdout, "  m%d  client %s  metrics http://%s/metrics\n", i+1, endpoints[i], s.MetricsAddrs()[0])
	}
	fmt.Fprintf(stdout, "\nTry:\n  etcdctl --endpoints=%s put hello world\n", eps)
	fmt.Fprintf(stdout, "  etcdctl --endpoints=%s get hello\n", eps)
	fmt.Fprintf(stdout, "  etcdctl --endpoints=%s endpoint status -w table\n", eps)
	fmt.Fprintf(stdout, "\nPress Ctrl-C to stop.\n")
	if f, ok := stdout.(*os.File); ok {
		f.Sync()
	}

	select {
	case <-ctx.Done():
	case <-servers[0].Done():
	case <-servers[1].Done():
	case <-servers[2].Done():
	}
	fmt.Fprintf(stdout, "\nironkv demo: stopping\n")
	return stopAll(servers)
}

// stopAll stops the servers gracefully, in parallel.
func stopAll(servers []*server.Server) error {
	ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
	defer cancel()
	errs := make([]error, len(servers))
	var wg sync.WaitGroup
	for i, s := range servers {
		if s == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.Stop(ctx)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}
