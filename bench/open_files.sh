#!/usr/bin/env bash
# Recovery time and memory with many OPEN files (issues 6 and 7):
#
#   bench/open_files.sh [FILES]        # default 1,000,000
#
# Starts `dunghan serve` on a scratch folder with examples/catalog.toml, pushes FILES open
# files (each received at the one-stop desk and handed to the appraisal officer, receipts
# spread over the 60 working days before today), reads the server's resident memory, kills
# it with SIGKILL, starts it again and times until `dunghan stats` answers. Prints one line
# per figure. Needs about 3.5 GB of disk per million files (BENCH_WORK_PARENT picks where).
set -euo pipefail

files="${1:-1000000}"
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${CARGO_TARGET_DIR:-$repo/target}/release/dunghan"
cargo build --release --locked --manifest-path "$repo/Cargo.toml" -p dunghan --bin dunghan >&2

work="$(mktemp -d "${BENCH_WORK_PARENT:-${TMPDIR:-/tmp}}/dunghan-open.XXXXXX")"
pid=""
cleanup() {
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
server="http://127.0.0.1:$port"

# The events: two per file, in time order.
python3 - "$files" > "$work/events.jsonl" <<'EOF'
import datetime, json, sys
files = int(sys.argv[1])
vn = datetime.timezone(datetime.timedelta(hours=7))
day = datetime.datetime.now(vn).replace(hour=8, minute=0, second=0, microsecond=0)
days = []
while len(days) < 60:
    day -= datetime.timedelta(days=1)
    if day.weekday() < 5:
        days.append(day)
days.reverse()
per_day = -(-files // len(days))
n = 0
for d in days:
    for i in range(per_day):
        if n == files:
            break
        at = d + datetime.timedelta(seconds=i * (8 * 3600 // per_day))
        fid = f"open-{n:07d}"
        print(json.dumps({"eventId": f"{fid}-1", "fileId": fid, "occurredAt": at.isoformat(),
            "source": "bench", "received": {"procedureCode": "1.009972", "channel": "CHANNEL_IN_PERSON",
            "receivingUnitId": "ttphvhcc", "receivingOfficerId": "cb-mot-cua-1"}}))
        print(json.dumps({"eventId": f"{fid}-2", "fileId": fid,
            "occurredAt": (at + datetime.timedelta(minutes=30)).isoformat(), "source": "bench",
            "handedOver": {"fromOfficerId": "cb-mot-cua-1", "fromUnitId": "ttphvhcc",
            "toOfficerId": "cv-qlxd-1", "toUnitId": "so-xd-qlxd", "stepCode": "tham-dinh"}}))
        n += 1
EOF

serve() {
  "$bin" serve --listen "127.0.0.1:$port" --data-dir "$work/data" \
    --catalog "$repo/examples/catalog.toml" --log warn 2>>"$work/server.log" &
  pid=$!
}
wait_up() {
  until "$bin" stats --server "$server" >/dev/null 2>&1; do
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
    sleep 0.05
  done
}

serve
wait_up
start=$(date +%s.%N)
"$bin" push "$work/events.jsonl" --server "$server" --backfill >/dev/null
end=$(date +%s.%N)
events=$((files * 2))
echo "pushed $files open files ($events events) in $(python3 -c "print(round($end-$start,1))") s"
"$bin" stats --server "$server" | tail -3
# Province-wide stats, 20 times, each a whole `dunghan stats` process (so the figure
# includes starting the client and connecting).
times=()
for _ in $(seq 20); do
  t0=$(date +%s%N)
  "$bin" stats --server "$server" >/dev/null
  times+=($(( ($(date +%s%N) - t0) / 1000000 )))
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)
echo "dunghan stats over $files open files, 20 runs of the CLI: median $(echo "$sorted" | sed -n 10p) ms, slowest $(echo "$sorted" | tail -1) ms"
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "resident memory with $files open files: $((rss_kb / 1024)) MB ($(python3 -c "print(round($rss_kb/1024/($files/1e6)))") MB per million open files)"
echo "data folder: $(du -sm "$work/data" | cut -f1) MB"

kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
start=$(date +%s.%N)
serve
wait_up
end=$(date +%s.%N)
echo "recovery after SIGKILL with $files files stored, to the first answered stats: $(python3 -c "print(round($end-$start,2))") s"
rss_kb=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
echo "resident memory after recovery: $((rss_kb / 1024)) MB"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=""
