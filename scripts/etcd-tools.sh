#!/usr/bin/env bash
# scripts/etcd-tools.sh builds etcd's own tools, from the Go module proxy, in
# throwaway modules outside the repository, for the compatibility matrix and
# the benchmarks (ironkv's code never imports them):
#
#   etcdctl-3.7   go.etcd.io/etcd/etcdctl/v3 v3.7.3
#   etcd          go.etcd.io/etcd/server/v3  v3.6.8 (the etcd server)
#   benchmark     go.etcd.io/etcd/v3/tools/benchmark v3.6.8 (etcd's load tool;
#                 its module is not published in 3.7)
#
# and, with apt-get, Debian's etcd-client (etcdctl 3.4) as etcdctl-3.4.
#
# Usage: scripts/etcd-tools.sh [DIR [TOOL...]]   (DIR default: $IRONKV_TOOLS or
#        ${XDG_CACHE_HOME:-$HOME/.cache}/ironkv-tools; TOOLs: etcdctl-3.7,
#        etcdctl-3.4, etcd, benchmark; default all)
# Prints DIR; the binaries are in DIR/bin. Builds only what is missing.
set -euo pipefail

dir=${1:-${IRONKV_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ironkv-tools}}
shift || true
want=("$@")
[[ ${#want[@]} -eq 0 ]] && want=(etcdctl-3.7 etcdctl-3.4 etcd benchmark)
wanted() {
	local t
	for t in "${want[@]}"; do [[ $t == "$1" ]] && return 0; done
	return 1
}
mkdir -p "$dir/bin"
log() { printf '%s\n' "$*" >&2; }

# build NAME MODULE@VERSION PACKAGE: a throwaway module that requires
# MODULE@VERSION and builds PACKAGE into DIR/bin/NAME.
build() {
	local name=$1 modver=$2 pkg=$3
	wanted "$name" || return 0
	[[ -x "$dir/bin/$name" ]] && return 0
	local m="$dir/src-$name"
	rm -rf "$m"
	mkdir -p "$m"
	log "==> building $name ($modver)"
	(
		cd "$m"
		printf 'module ironkvtools\n\ngo 1.26\n' >go.mod
		printf '//go:build tools\n\npackage tools\n\nimport _ "%s"\n' "$pkg" >tools.go
		GOFLAGS=-mod=mod go get "$modver" >&2
		CGO_ENABLED=0 go build -o "$dir/bin/$name" "$pkg" >&2
	)
}

build etcdctl-3.7 go.etcd.io/etcd/etcdctl/v3@v3.7.3 go.etcd.io/etcd/etcdctl/v3
build etcd go.etcd.io/etcd/v3@v3.6.8 go.etcd.io/etcd/server/v3
build benchmark go.etcd.io/etcd/v3@v3.6.8 go.etcd.io/etcd/v3/tools/benchmark

if wanted etcdctl-3.4 && [[ ! -x "$dir/bin/etcdctl-3.4" ]]; then
	if ! command -v /usr/bin/etcdctl >/dev/null 2>&1; then
		log "==> installing Debian's etcd-client (etcdctl 3.4)"
		if [[ $(id -u) -eq 0 ]]; then
			DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-client </dev/null >&2 ||
				{ apt-get update </dev/null >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends etcd-client </dev/null >&2; }
		else
			log "etcd-client is not installed and this is not root: run apt-get install etcd-client"
			exit 1
		fi
	fi
	ln -sf /usr/bin/etcdctl "$dir/bin/etcdctl-3.4"
fi
echo "$dir"
