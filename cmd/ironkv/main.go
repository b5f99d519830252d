// Command ironkv is a replicated key-value server that speaks the etcd v3
// gRPC API: etcdctl, clientv3 programs and etcd's benchmark tool work
// against it unchanged.
//
//	ironkv serve [flags]   run one member (flags named as etcd's)
//	ironkv demo            run a three-member cluster on loopback, for a first look
//	ironkv version         print the version
//
// See docs/operations.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is ironkv's version; the etcd API version it speaks is the
// server's.
const version = "0.1.0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

const usage = `usage: ironkv <command> [flags]

commands:
  serve     run one member of an ironkv cluster (flags as etcd's; see ironkv serve -h)
  demo      run a three-member cluster on loopback in a temporary directory
  version   print the version

docs/operations.md explains running, adding and removing members, backups
and the metrics to watch.
`

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args, env []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], env, stdout, stderr)
	case "demo":
		err = demo(ctx, args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "ironkv version: %s\n", version)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "ironkv: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "ironkv %s: %v\n", args[0], err)
		return 2
	default:
		fmt.Fprintf(stderr, "ironkv %s: %v\n", args[0], err)
		return 1
	}
}

// usageError is a bad command line or environment: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }
