#!/usr/bin/env bash
# `make bench`: pipy-rs against nginx and HAProxy on this machine.
#
# Installs what is missing (wrk, nginx, haproxy from the distribution; matplotlib for the chart),
# builds pipy and the bench-only latency client in release mode, then runs bench/bench.py, which
# writes bench/RESULTS.md, bench/results.json and bench/results.png. Settings are environment
# variables, described at the top of bench/bench.py; e.g. a quick check:
#   BENCH_DURATION=3 BENCH_ROUNDS=1 BENCH_SCENARIOS=hello,proxy bench/run.sh
# Every server the run starts is stopped when it ends, however it ends.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

log() { printf '[bench] %s\n' "$*"; }

# One run at a time: two runs on the same two CPUs would measure each other, and would write
# the same result files.
lock_file="${TMPDIR:-/tmp}/pipy-bench.lock"
exec 9>"$lock_file"
if ! flock -n 9; then
    log "another benchmark run holds $lock_file: waiting for it to finish"
    flock 9
fi

as_root() {
    if [ "$(id -u)" = 0 ]; then
        "$@"
    elif command -v sudo >/dev/null 2>&1; then
        sudo "$@"
    else
        log "need root (or sudo) to run: $*"
        return 1
    fi
}

apt_updated=no
apt_install() {
    if ! command -v apt-get >/dev/null 2>&1; then
        log "apt-get not found: install $* yourself"
        return 1
    fi
    if [ "$apt_updated" = no ]; then
        as_root apt-get update -qq
        apt_updated=yes
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@"
}

# --- tools -------------------------------------------------------------------------------------
missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v haproxy >/dev/null 2>&1 || missing+=(haproxy)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt_install "${missing[@]}"
fi

# The chart is optional: try pip, then the distribution's package, else go without.
if ! python3 -c 'import matplotlib' >/dev/null 2>&1; then
    log "installing matplotlib for the chart"
    python3 -m pip install --quiet matplotlib >/dev/null 2>&1 ||
        { [ "$(command -v python3)" = /usr/bin/python3 ] && apt_install python3-matplotlib >/dev/null 2>&1; } ||
        log "matplotlib unavailable: results.png will be skipped"
fi

# --- builds ------------------------------------------------------------------------------------
# wrk2 and oha (fixed-rate load) are not in Debian; bench/latency is a small std-only client.
log "building pipy and bench/latency (release)"
cargo build --release
cargo build --release --quiet --manifest-path bench/latency/Cargo.toml \
    --target-dir target/bench-latency

# --- run ---------------------------------------------------------------------------------------
run_dir_file=$(mktemp)
bench_pid=""

# shellcheck disable=SC2317  # reached through the traps below
cleanup() {
    trap - EXIT INT TERM HUP
    if [ -n "$bench_pid" ] && kill -0 "$bench_pid" 2>/dev/null; then
        kill -TERM "$bench_pid" 2>/dev/null || true
        wait "$bench_pid" 2>/dev/null || true
    fi
    # bench.py stops its servers itself; this catches any left if it was killed outright.
    local run_dir
    run_dir=$(cat "$run_dir_file" 2>/dev/null || true)
    if [ -n "$run_dir" ] && [ -f "$run_dir/pgids" ]; then
        while read -r pgid; do
            if [ -n "$pgid" ]; then kill -KILL -- "-$pgid" 2>/dev/null || true; fi
        done <"$run_dir/pgids"
    fi
    case "$run_dir" in
        */pipy-bench.*) rm -rf "$run_dir" ;;
    esac
    rm -f "$run_dir_file"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

settings=$(env | grep -E '^BENCH_(SCENARIOS|DURATION|ROUNDS|CONNECTIONS|IDLE|RATE)=' | sort | tr '\n' ' ' || true)
if [ -n "${MAKELEVEL:-}" ]; then invoked="make bench"; else invoked="bench/run.sh"; fi
export BENCH_COMMAND="${settings}${invoked}"
export BENCH_RUN_DIR_FILE="$run_dir_file"

ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
python3 bench/bench.py &
bench_pid=$!
wait "$bench_pid"
status=$?
bench_pid=""
exit "$status"
