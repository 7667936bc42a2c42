#!/usr/bin/env bash
# The benchmark of issue 7: dunghan against PostgreSQL 15 on the same workload, in one run.
#
#   bench/run.sh --quick                      # a few minutes: 10,000 and 50,000 files
#   bench/run.sh --files 100000,1000000       # the store grows to each count in turn
#   bench/run.sh --help                       # every flag of dunghan-bench
#
# It builds dunghan and dunghan-bench in release mode, installs PostgreSQL 15 from Debian's
# packages if it is missing, makes a scratch folder, and runs dunghan-bench, which starts a
# real `dunghan serve` and a private PostgreSQL cluster (initdb in the scratch folder,
# 127.0.0.1, an unused port, as the `postgres` user when run as root) one after the other.
# The side-by-side table goes to stdout and to bench/results-<date>[-quick].md.
# Both servers and the scratch folder are removed at the end, also on failure or Ctrl-C.
# Set BENCH_WORK_PARENT to put the scratch folder elsewhere than $TMPDIR (it needs about
# 25 GB per million files for dunghan, then about 5 GB per million for PostgreSQL).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
pg_bin=/usr/lib/postgresql/15/bin

for arg in "$@"; do
  if [ "$arg" = "--help" ] || [ "$arg" = "-h" ]; then
    cargo run --quiet --release --locked --manifest-path "$repo/Cargo.toml" -p dunghan-bench -- --help
    exit 0
  fi
done

if [ ! -x "$pg_bin/postgres" ]; then
  echo "run.sh: installing PostgreSQL 15 from Debian packages" >&2
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then as_root=(sudo); fi
  "${as_root[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq postgresql-15
fi

echo "run.sh: building dunghan and dunghan-bench (release)" >&2
cargo build --release --locked --manifest-path "$repo/Cargo.toml" \
  -p dunghan --bin dunghan -p dunghan-bench --bin dunghan-bench

work="$(mktemp -d "${BENCH_WORK_PARENT:-${TMPDIR:-/tmp}}/dunghan-bench.XXXXXX")"
# Kills only what this run started, by the pids dunghan-bench wrote (it also stops both
# servers itself; this covers a crash or an interrupt of the harness).
cleanup() {
  local pid
  if [ -s "$work/dunghan.pid" ]; then
    pid="$(cat "$work/dunghan.pid")"
    if grep -q dunghan "/proc/$pid/cmdline" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  fi
  if [ -s "$work/postgres.pgid" ]; then
    pid="$(cat "$work/postgres.pgid")"
    if [ -e "/proc/$pid" ] || pgrep -g "$pid" >/dev/null 2>&1; then kill -KILL -- "-$pid" 2>/dev/null || true; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export DUNGHAN_BENCH_PID_FILE="$work/dunghan.pid"
export DUNGHAN_BENCH_PG_PID_FILE="$work/postgres.pgid"

suffix=""
for arg in "$@"; do
  if [ "$arg" = "--quick" ]; then suffix="-quick"; fi
done
out="$repo/bench/results-$(date -u +%Y-%m-%d)$suffix.md"

echo "run.sh: scratch folder $work ($(df -h --output=avail "$work" | tail -1 | tr -d ' ') free)" >&2
"$target/release/dunghan-bench" \
  --work-dir "$work" \
  --dunghan-bin "$target/release/dunghan" \
  --pg-bin "$pg_bin" \
  --out "$out" \
  "$@"
