#!/usr/bin/env bash
# bench-startup.sh: start-up time and peak memory of large runs — the dataset
# pool's bound (docs/PERFORMANCE.md#dataset-pool-start-up-and-memory).
#
# Method: `audioperf mock-server --ttft-ms 0 --itl-ms 0` (one worker, the last
# core, scripts/lib.sh) and the client on every core (the build uses all of
# them; the mock is idle until the first request). For each case the client's
# "first request" is the earliest `request_start_ns` in profile_export.jsonl
# minus the wall-clock time just before the process was started, so it
# includes process start, tokenizer, dataset build and connection set-up.
# Peak RSS is VmHWM from /proc, sampled every 0.1 s until the process exits.
# Runs too long to finish get SIGINT after LIMIT seconds (they exit 130 and
# still write their exports). Last, Ctrl-C mid-build: SIGINT 1 s into a build
# of tens of seconds, and the time until the process has exited.
#
#   scripts/bench-startup.sh            BIN=target/release/audioperf PORT=18690
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/audioperf}
PORT=${PORT:-18690}
OUT=${OUT:-target/bench-startup}
[ -x "$BIN" ] || cargo build --release --quiet
rm -rf "$OUT"
mkdir -p "$OUT"

source scripts/lib.sh
start_mock 0 0

now_ns() { date +%s%N; }

# case NAME LIMIT_S FLAGS…: prints one table row.
case_row() {
  local name=$1 limit=$2
  shift 2
  local dir="$OUT/$name"
  local t0 pid peak=0 hwm rc stopped=0
  t0=$(now_ns)
  "${ALL_PIN[@]}" "$BIN" profile --url "127.0.0.1:$PORT" --model m --ui-type none \
    --output-artifact-dir "$dir" "$@" >"$dir.out" 2>"$dir.err" &
  pid=$!
  local deadline=$((t0 + limit * 1000000000))
  while kill -0 "$pid" 2>/dev/null; do
    hwm=$(awk '/VmHWM/{print $2}' "/proc/$pid/status" 2>/dev/null || true)
    [ -n "$hwm" ] && peak=$hwm
    if [ $stopped = 0 ] && [ "$(now_ns)" -gt "$deadline" ]; then
      kill -INT "$pid" 2>/dev/null || true
      stopped=1
    fi
    sleep 0.1
  done
  rc=0
  wait "$pid" || rc=$?
  local first lines pool
  first=$(grep -o '"request_start_ns":[0-9]*' "$dir/profile_export.jsonl" 2>/dev/null |
    cut -d: -f2 | sort -n | awk 'NR == 1')
  lines=$(wc -l <"$dir/profile_export.jsonl" 2>/dev/null || echo 0)
  pool=$(grep -o 'dataset: [0-9]* unique entries, [0-9.]* MB in memory' "$dir.err" |
    sed 's/dataset: //; s/ unique entries,/ entries,/; s/ in memory//' || true)
  local first_s="-"
  [ -n "$first" ] && first_s=$(awk -v a="$first" -v b="$t0" 'BEGIN{printf "%.2f s", (a-b)/1e9}')
  printf '| %s | %s | %s | %d MB | %s | %s |\n' "$name" "$pool" "$first_s" $((peak / 1024)) \
    "$lines" "$rc"
}

# A 10 s, 16 kHz mono WAV named by 2,000 input-file lines.
python3 - "$OUT/clip10s.wav" <<'PY'
import math, struct, sys, wave
with wave.open(sys.argv[1], "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(16000)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 7.0))) for i in range(160000)))
PY
for _ in $(seq 2000); do
  echo "{\"texts\": [\"What is said?\"], \"audios\": [\"$OUT/clip10s.wav\"]}"
done >"$OUT/same-clip.jsonl"

echo "# bench-startup: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%F)"
echo "| run | pool | first request | peak RSS | JSONL lines | exit |"
echo "|---|---|---:|---:|---:|---:|"
case_row 100k-x-5s 8 --request-count 100000 --audio-length-mean 5 --audio-format wav \
  --audio-sample-rates 16 --concurrency 64 --streaming
case_row 1M-x-1s 8 --request-count 1000000 --audio-length-mean 1 --concurrency 8 --streaming
case_row 5000-x-5s 8 --request-count 5000 --audio-length-mean 5 --streaming
case_row 2000-lines-1-clip 60 --input-file "$OUT/same-clip.jsonl" --custom-dataset-type single_turn \
  --request-count 2000 --concurrency 16 --streaming

# Ctrl-C 1 s into a build that would take tens of seconds.
dir="$OUT/sigint"
"${ALL_PIN[@]}" "$BIN" profile --url "127.0.0.1:$PORT" --model m --ui-type none \
  --output-artifact-dir "$dir" --audio-length-mean 60 --num-dataset-entries 2000 \
  --dataset-memory-mb 100000 --request-count 10 >"$dir.out" 2>"$dir.err" &
pid=$!
sleep 1
sent=$(now_ns)
kill -INT "$pid"
rc=0
wait "$pid" || rc=$?
done_ns=$(now_ns)
printf 'Ctrl-C 1 s into the build: exit %d after %s ms (%s)\n' "$rc" \
  $(((done_ns - sent) / 1000000)) "$(tail -1 "$dir.err")"
