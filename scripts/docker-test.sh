#!/usr/bin/env bash
# scripts/docker-test.sh tests deploy/Dockerfile and deploy/compose.yaml on
# a machine with a Docker daemon:
#
#   1. builds a static ironkv (CGO_ENABLED=0, -trimpath) into a temporary
#      build context and the FROM-scratch image from it (ironkv:test-<id>);
#   2. starts the three-member compose cluster under its own project name,
#      with Docker-chosen host ports on 127.0.0.1, and waits until every
#      member is healthy (etcdctl endpoint health, and /readyz if curl is
#      installed) and all agree on one leader;
#   3. writes through one member, reads it back linearizably through another;
#   4. kills the leader (docker kill: SIGKILL, no goodbye), checks that its
#      container stays down, that the survivors elect a new leader, and that
#      writes and linearizable reads (--consistency=l) succeed on each
#      survivor;
#   5. starts the killed member again and waits until its own serializable
#      read returns the value written while it was down;
#   6. stops the leader with SIGTERM (docker compose stop) and checks that it
#      exits with status 0 and that the survivors have a leader at once.
#
# Everything it creates (containers, network, volumes, image, build context)
# is removed on exit, whether the test passed, failed or was interrupted.
# Each failed check exits non-zero with a line starting "FAIL:" (and the
# members' last log lines).
#
# Without a reachable Docker daemon (or docker compose / docker-compose) it
# prints SKIP and exits 0, unless $CI is set: then it fails.
#
# Usage: bash scripts/docker-test.sh
# Environment:
#   ETCDCTL       etcdctl to use (default: $IRONKV_TOOLS/bin/etcdctl-3.7, built
#                 by scripts/etcd-tools.sh when missing)
#   IRONKV_TOOLS  where scripts/etcd-tools.sh keeps its binaries
#   DEADLINE      seconds each wait may take (default 60)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
started=$SECONDS
deadline=${DEADLINE:-60}

step() { printf '\n==> [%3ds] %s\n' $((SECONDS - started)) "$*"; }
info() { printf '    %s\n' "$*"; }
fail() {
	printf 'FAIL: %s\n' "$*" >&2
	exit 1
}
skip() {
	if [[ -n ${CI:-} ]]; then
		fail "$* (CI is set, so this is a failure, not a skip)"
	fi
	printf 'SKIP: %s\n' "$*"
	exit 0
}

# --- prerequisites -----------------------------------------------------------

command -v go >/dev/null 2>&1 || fail "go is not installed (the image is built from this checkout)"
command -v docker >/dev/null 2>&1 || skip "docker is not installed"
docker info >/dev/null 2>&1 || skip "no Docker daemon is reachable (docker info failed)"
if docker compose version >/dev/null 2>&1; then
	compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
	compose=(docker-compose)
else
	skip "neither 'docker compose' nor 'docker-compose' is installed"
fi

id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
tag=ironkv:test-$id
project=ironkvtest$id
work=$(mktemp -d "${TMPDIR:-/tmp}/ironkv-docker-test.XXXXXX")

dc() { "${compose[@]}" -p "$project" -f "$repo/deploy/compose.yaml" "$@"; }

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	set +e
	if [[ $rc -ne 0 ]] && [[ -n $(docker ps -aq --filter "label=com.docker.compose.project=$project") ]]; then
		printf '\n==> last log lines of each member\n' >&2
		dc logs --no-color --tail=25 >&2 2>&1
	fi
	printf '\n==> [%3ds] cleaning up: project %s, image %s\n' $((SECONDS - started)) "$project" "$tag"
	dc down -v --remove-orphans -t 5 >/dev/null 2>&1
	docker image rm -f "$tag" >/dev/null 2>&1
	rm -rf "$work"
	if [[ -n $(docker ps -aq --filter "label=com.docker.compose.project=$project") ]] ||
		[[ -n $(docker volume ls -q --filter "label=com.docker.compose.project=$project") ]]; then
		printf 'WARNING: project %s left containers or volumes behind\n' "$project" >&2
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers -----------------------------------------------------------------

etcdctl() { "$etcdctl_bin" --dial-timeout=2s --command-timeout=5s "$@"; }

# endpoint SERVICE: the host address of the member's client port. Docker
# picks a new host port each time a container starts: forget_endpoint after
# starting one. (Cached because docker-compose v1 takes ~0.3s per call.)
declare -A endpoints=()
lookup_endpoint() {
	local a
	a=$(dc port "$1" 2379 2>/dev/null | tail -n1) || true
	if [[ -z $a || $a == *":0" ]]; then
		printf 'FAIL: no published client port for %s (is it running?)\n' "$1" >&2
		return 1
	fi
	endpoints[$1]=$a
}
endpoint() {
	[[ -n ${endpoints[$1]:-} ]] || lookup_endpoint "$1" || return 1
	printf '%s' "${endpoints[$1]}"
}
forget_endpoint() { unset "endpoints[$1]"; }
metrics_endpoint() { dc port "$1" 2381 2>/dev/null | tail -n1; }

# status_field ENDPOINT FIELD: one field of etcdctl endpoint status -w fields
# ("MemberID", "Leader", "RaftIndex" ...), empty if the member does not answer.
status_field() {
	etcdctl --endpoints="$1" endpoint status -w fields 2>/dev/null |
		awk -v f="\"$2\"" '$1 == f { print $3; exit }'
}

# wait_for DESCRIPTION COMMAND...: runs COMMAND every 200ms until it
# succeeds, for at most $deadline seconds.
wait_for() {
	local what=$1 t0=${EPOCHREALTIME/./} ms
	shift
	until "$@" >/dev/null 2>&1; do
		ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
		((ms < deadline * 1000)) || fail "$what: not done within ${deadline}s"
		sleep 0.2
	done
	ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
	info "$what ($((ms / 1000)).$(printf '%03d' $((ms % 1000)))s)"
}

healthy() { etcdctl --endpoints="$1" endpoint health; }
readyz() {
	local m
	m=$(metrics_endpoint "$1")
	[[ -n $m ]] && curl -fsS --max-time 2 "http://$m/readyz"
}

# agreed_leader SERVICE...: prints the name of the service that leads, once
# every listed member reports the same leader and that leader is one of them.
agreed_leader() {
	local s lead="" l mid who=""
	for s in "$@"; do
		l=$(status_field "${endpoints[$s]:-}" Leader)
		mid=$(status_field "${endpoints[$s]:-}" MemberID)
		[[ -n $l && $l != 0 ]] || return 1
		[[ -z $lead || $l == "$lead" ]] || return 1
		lead=$l
		[[ $mid == "$lead" ]] && who=$s
	done
	[[ -n $who ]] && printf '%s' "$who"
}
leader_of() { LEADER=$(agreed_leader "$@"); }

# value_is ENDPOINT KEY WANT CONSISTENCY: the member reads WANT for KEY.
value_is() {
	local got
	got=$(etcdctl --endpoints="$1" get "$2" --print-value-only --consistency="$4") || return 1
	[[ $got == "$3" ]]
}

expect_value() {
	local got
	got=$(etcdctl --endpoints="$1" get "$2" --print-value-only --consistency="$4") ||
		fail "get $2 --consistency=$4 on $5 ($1) failed"
	[[ $got == "$3" ]] || fail "get $2 --consistency=$4 on $5 ($1) = \"$got\", want \"$3\""
	info "get $2 --consistency=$4 on $5 = $got"
}

put() { etcdctl --endpoints="$1" put "$2" "$3"; }

# container SERVICE: the container's ID, running or not (docker compose v2's
# ps lists only running ones).
container() {
	docker ps -aq --filter "label=com.docker.compose.project=$project" \
		--filter "label=com.docker.compose.service=$1"
}
running() { [[ $(docker inspect -f '{{.State.Running}}' "$(container "$1")") == true ]]; }

members=(ironkv1 ironkv2 ironkv3)

all_status() {
	etcdctl --endpoints="$(endpoint ironkv1),$(endpoint ironkv2),$(endpoint ironkv3)" endpoint status -w table ||
		fail "etcdctl endpoint status -w table failed"
}

# --- 1. tools and image ----------------------------------------------------------

tools=${IRONKV_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/ironkv-tools}
etcdctl_bin=${ETCDCTL:-$tools/bin/etcdctl-3.7}
if [[ ! -x $etcdctl_bin ]]; then
	step "building etcdctl: scripts/etcd-tools.sh $tools"
	bash scripts/etcd-tools.sh "$tools" etcdctl-3.7 >/dev/null 2>"$work/etcd-tools.log" ||
		{ tail -n 20 "$work/etcd-tools.log" >&2; fail "scripts/etcd-tools.sh failed"; }
fi
[[ -x $etcdctl_bin ]] || fail "no etcdctl at $etcdctl_bin"
info "etcdctl: $etcdctl_bin ($("$etcdctl_bin" version | head -n1))"

step "building a static ironkv into $work/ctx"
mkdir -p "$work/ctx/data"
CGO_ENABLED=0 go build -trimpath -o "$work/ctx/ironkv" ./cmd/ironkv || fail "go build ./cmd/ironkv failed"
step "docker build -t $tag (compose: ${compose[*]})"
docker build -q -f deploy/Dockerfile -t "$tag" "$work/ctx" >"$work/build.log" 2>&1 ||
	{ cat "$work/build.log" >&2; fail "docker build failed"; }
info "image size: $(docker image inspect -f '{{.Size}}' "$tag") bytes"

# --- 2. cluster ----------------------------------------------------------------

export IRONKV_IMAGE=$tag IRONKV_CLUSTER_TOKEN=ironkv-test-$id
for i in 1 2 3; do
	# 0: Docker picks a free host port, so parallel runs cannot clash.
	export "IRONKV${i}_CLIENT_PORT=0" "IRONKV${i}_METRICS_PORT=0"
done
step "docker compose up (project $project)"
dc up -d >/dev/null 2>&1 || { dc up -d; fail "docker compose up failed"; }

for m in "${members[@]}"; do
	wait_for "$m publishes its client port" lookup_endpoint "$m"
	wait_for "$m healthy at $(endpoint "$m")" healthy "$(endpoint "$m")"
	if command -v curl >/dev/null 2>&1; then
		wait_for "$m /readyz ok at $(metrics_endpoint "$m")" readyz "$m"
	fi
done
wait_for "all members agree on a leader" leader_of "${members[@]}"
leader_of "${members[@]}"
old_leader=$LEADER
old_leader_id=$(status_field "$(endpoint "$old_leader")" MemberID)
info "leader: $old_leader ($(printf '%x' "$old_leader_id"))"

# --- 3. replicate ----------------------------------------------------------------

step "put and get across members"
put "$(endpoint ironkv1)" greeting hello >/dev/null || fail "put greeting on ironkv1 failed"
expect_value "$(endpoint ironkv2)" greeting hello l ironkv2
wait_for "ironkv3 has applied it" value_is "$(endpoint ironkv3)" greeting hello s
# (After the first put: etcdctl 3.7's table divides by the db size, and an
# empty ironkv store reports 0.)
all_status

# --- 4. kill the leader ------------------------------------------------------------

survivors=()
for m in "${members[@]}"; do
	[[ $m == "$old_leader" ]] || survivors+=("$m")
done
step "docker kill $old_leader (the leader)"
docker kill "$(container "$old_leader")" >/dev/null
sleep 1 # give a restart policy the chance to (wrongly) bring it back
if running "$old_leader"; then
	fail "$old_leader runs again after docker kill: the restart policy must not restart a killed member here"
fi
info "$old_leader is down"
s1=$(endpoint "${survivors[0]}")
s2=$(endpoint "${survivors[1]}")
wait_for "put through ${survivors[0]} succeeds (new election done)" put "$s1" greeting after-kill
wait_for "survivors agree on a new leader" leader_of "${survivors[@]}"
leader_of "${survivors[@]}"
info "new leader: $LEADER"
put "$s2" second written-on-${survivors[1]} >/dev/null || fail "put through ${survivors[1]} failed"
expect_value "$s1" greeting after-kill l "${survivors[0]}"
expect_value "$s2" greeting after-kill l "${survivors[1]}"
expect_value "$s1" second "written-on-${survivors[1]}" l "${survivors[0]}"

# --- 5. bring it back ----------------------------------------------------------

step "docker compose start $old_leader"
dc start "$old_leader" >/dev/null 2>&1 || fail "docker compose start $old_leader failed"
forget_endpoint "$old_leader"
wait_for "$old_leader publishes its client port" lookup_endpoint "$old_leader"
back=$(endpoint "$old_leader")
wait_for "$old_leader caught up: its serializable get returns after-kill" value_is "$back" greeting after-kill s
wait_for "$old_leader healthy" healthy "$back"
expect_value "$back" second "written-on-${survivors[1]}" s "$old_leader"
wait_for "all members agree on a leader" leader_of "${members[@]}"
all_status

# --- 6. graceful stop --------------------------------------------------------------

leader_of "${members[@]}"
graceful=$LEADER
rest=()
for m in "${members[@]}"; do
	[[ $m == "$graceful" ]] || rest+=("$m")
done
step "docker compose stop $graceful (the leader: SIGTERM)"
t0=$SECONDS
dc stop -t 40 "$graceful" >/dev/null 2>&1 || fail "docker compose stop $graceful failed"
code=$(docker inspect -f '{{.State.ExitCode}}' "$(container "$graceful")")
[[ $code == 0 ]] || fail "$graceful exited with status $code after SIGTERM, want 0"
info "$graceful exited with status 0 in $((SECONDS - t0))s"
leader_of "${rest[@]}" || fail "right after $graceful stopped, ${rest[*]} do not agree on a leader (leadership was not handed over)"
info "leadership handed to $LEADER"
put "$(endpoint "${rest[0]}")" greeting after-stop >/dev/null || fail "put after the graceful stop failed"
expect_value "$(endpoint "${rest[1]}")" greeting after-stop l "${rest[1]}"

step "PASS in $((SECONDS - started))s"
