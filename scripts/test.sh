#!/usr/bin/env bash
# scripts/test.sh runs every check that CI runs, in order, stopping at the
# first failure:
#
#   1. gofmt        no file needs formatting
#   2. go vet       on every package
#   3. protobuf     regenerating raftpb's and grpctransport's code changes
#                   nothing
#   4. etcd tools   etcdctl 3.7 (module proxy) and 3.4 (Debian) for the e2e
#                   etcdctl matrix, built by scripts/etcd-tools.sh
#   5. go test      every package, with the race detector (e2e runs real
#                   ironkv processes against stock etcd clients)
#   6. docker       scripts/docker-test.sh: the FROM-scratch image and the
#                   compose cluster surviving a killed member (needs a Docker
#                   daemon; fails without one when CI is set)
#   7. simulator    TestSim and the churn profiles over many seeds, without
#                   the race detector
#
# Usage: bash scripts/test.sh
# Environment:
#   SIM_SEEDS    number of simulator seeds (default 2000)
#   SIM_TIMEOUT  go test timeout for the simulator step (default 30m)
#   IRONKV_TOOLS where the etcd tools are built (default ~/.cache/ironkv-tools)
#
# Needs Go 1.26 and protoc (Debian: apt-get install -y protobuf-compiler).
# .ci/run installs what is missing on a fresh machine and then runs this.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
	printf '\n==> %s\n' "$*"
}

fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}

step "gofmt -l"
unformatted=$(find . -name '*.go' \
	-not -path './.git/*' -not -path '*/vendor/*' -not -path '*/testdata/*' \
	-print0 | xargs -0 -r gofmt -l)
if [[ -n "$unformatted" ]]; then
	printf '%s\n' "$unformatted" >&2
	fail "the files above are not gofmt-formatted; run: gofmt -w <file>"
fi
echo "ok"

step "go vet ./..."
go vet ./...
echo "ok"

if ! command -v protoc >/dev/null 2>&1; then
	fail "protoc not found; install it with: apt-get install -y protobuf-compiler"
fi

# gen_check DIR regenerates DIR's protobuf code and fails if it changed.
# With a clean DIR (always the case in CI) the check is "git diff shows
# nothing after regenerating". A developer with uncommitted changes in DIR
# gets the same check against the working tree instead, so that an edited
# and freshly regenerated .proto is not reported as stale.
gen_check() {
	local dir=$1
	step "go generate ./${dir} (generated code must be committed and current)"
	if [[ -z "$(git status --porcelain -- "$dir/" 2>/dev/null)" ]] && git rev-parse --git-dir >/dev/null 2>&1; then
		go generate "./${dir}"
		if ! git diff --exit-code -- "$dir/"; then
			fail "${dir}: the generated code is out of date with its .proto (diff above); run 'go generate ./${dir}' and commit the result"
		fi
	else
		local before
		before=$(mktemp -d)
		cp "$dir"/*.pb.go "$before"/
		go generate "./${dir}"
		for f in "$dir"/*.pb.go; do
			if ! diff -u "$before/$(basename "$f")" "$f"; then
				rm -rf "$before"
				fail "${dir}: $f was out of date with its .proto (diff above); it has now been regenerated, commit it"
			fi
		done
		rm -rf "$before"
	fi
	echo "ok"
}

gen_check raftpb
gen_check transport/grpctransport

step "etcd tools for the e2e etcdctl matrix (scripts/etcd-tools.sh)"
IRONKV_TOOLS=$(bash scripts/etcd-tools.sh "${IRONKV_TOOLS:-}" etcdctl-3.7 etcdctl-3.4)
export IRONKV_TOOLS
echo "ok: ${IRONKV_TOOLS}/bin"

step "go test -race -count=1 ./..."
go test -race -count=1 ./...

step "docker: image, compose cluster, a killed member (scripts/docker-test.sh)"
bash scripts/docker-test.sh

# run_sim TITLE PATTERN SEEDS runs simulator tests matching PATTERN with
# -seeds=SEEDS, without the race detector. Only the summary is shown ("sim:"
# lines and the test verdicts); the full output is kept and its tail printed
# if the run fails, so a failing seed is never hidden.
run_sim() {
	local title=$1 pattern=$2 n=$3
	step "simulator: ${title} (-seeds=${n}, no race detector)"
	local simlog
	simlog=$(mktemp)
	set +e
	go test -count=1 -timeout "${SIM_TIMEOUT:-30m}" -run "$pattern" ./sim -seeds="$n" -v 2>&1 |
		tee "$simlog" |
		grep -E '^(\s*([A-Za-z0-9_]+\.go:[0-9]+: )?sim:|PASS|FAIL|ok |--- (PASS|FAIL))'
	local status=("${PIPESTATUS[@]}")
	set -e
	if [[ ${status[0]} -ne 0 ]]; then
		printf '\n--- last 100 lines of the simulator output ---\n' >&2
		tail -n 100 "$simlog" >&2
		rm -f "$simlog"
		fail "simulator ${title} (go test exit status ${status[0]})"
	fi
	rm -f "$simlog"
	if [[ ${status[2]} -ne 0 ]]; then
		fail "simulator ${title}: go test passed but printed no summary line"
	fi
}

seeds=${SIM_SEEDS:-2000}
run_sim "TestSim over ${seeds} seeds" 'TestSim$' "$seeds"
# The churn profiles: membership changes, transfers and snapshots in every
# seed (-seeds=N runs N/3 churn seeds and N/6 churnhunt seeds).
run_sim "membership churn profiles" 'TestChurnProfile' "$((seeds * 3))"
