#!/usr/bin/env bash
# soak.sh [DURATIONS…]: tiny text requests at full speed (closed loop, c=64,
# a 0 ms mock) for each duration in seconds (default 8 32), sampling the
# client's RSS, its request rate and the mock's RSS once a second, so anyone can see both
# stay flat however long the run.
#
# Method: `audioperf mock-server --ttft-ms 0 --itl-ms 0 --output-tokens 50
# --workers 1` pinned to the last core (scripts/lib.sh); the client pinned to
# the others, `--synthetic-input-tokens-mean 10 --audio-length-mean 0
# --streaming --concurrency 64 --benchmark-duration D` with the Qwen tokenizer
# from fixtures/ counting every output. RSS is read from /proc/PID/status
# (VmRSS) and the rate from the lines added to profile_export.jsonl, which the
# collector writes while the run goes (1 MB write buffer, so a sample can lag
# by a fraction of a second). Peak RSS is VmHWM at exit (/usr/bin/time %M).
#
#   scripts/soak.sh 8 32 | scripts/soak.sh 3600
#   BIN=target/release/audioperf PORT=18680 OUT=target/soak
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${BIN:-target/release/audioperf}
PORT=${PORT:-18680}
OUT=${OUT:-target/soak}
DURATIONS=("$@")
[ ${#DURATIONS[@]} -gt 0 ] || DURATIONS=(8 32)
[ -x "$BIN" ] || cargo build --release --quiet
rm -rf "$OUT"
mkdir -p "$OUT"

# Pinning, start_mock TTFT_MS ITL_MS, stop_mock.
source scripts/lib.sh
start_mock 0 0

for d in "${DURATIONS[@]}"; do
  dir="$OUT/d$d"
  mkdir -p "$dir"
  /usr/bin/time -f "%M" -o "$dir.maxrss" "${CLIENT_PIN[@]}" "$BIN" profile \
    --model Qwen/Qwen2-Audio-7B-Instruct --endpoint-type chat \
    --tokenizer "${TOKENIZER:-fixtures/tokenizers/qwen3}" ${SOAK_FLAGS:-} \
    --synthetic-input-tokens-mean 10 --audio-length-mean 0 --streaming \
    --url "127.0.0.1:$PORT" --concurrency 64 --benchmark-duration "$d" \
    --random-seed 1 --ui-type none --output-artifact-dir "$dir" \
    >"$dir.stdout" 2>&1 &
  pid=$!
  python3 - "$pid" "$dir/profile_export.jsonl" "$d" "$MOCK_PID" <<'PY'
import os, sys, time
pid, path, d, mock = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
def child(p):
    # /usr/bin/time forks the client: follow it to its child.
    try:
        kids = open(f"/proc/{p}/task/{p}/children").read().split()
        return int(kids[0]) if kids else p
    except OSError:
        return p
def rss_mb(p):
    for l in open(f"/proc/{p}/status"):
        if l.startswith("VmRSS"):
            return int(l.split()[1]) / 1024
    raise OSError("no VmRSS")
def mock_rss():
    try:
        return f"{rss_mb(mock):7.1f}"
    except OSError:
        return "      -"
off, t0 = 0, time.time()
print(f"duration {d} s: t_s client_rss_mb req_per_s mock_rss_mb")
while True:
    time.sleep(1)
    c = child(pid)
    try:
        rss = rss_mb(c)
    except OSError:
        break
    try:
        with open(path, "rb") as f:
            f.seek(off)
            data = f.read()
        off += len(data)
        n = data.count(b"\n")
    except OSError:
        n = 0
    print(f"  {time.time()-t0:5.0f} {rss:7.1f} {n:9d} {mock_rss()}")
PY
  wait "$pid" || true
  python3 - "$dir" "$d" <<'PY'
import json, sys
d, secs = sys.argv[1], sys.argv[2]
js = json.load(open(d + "/profile_export_aiperf.json"))
lines = sum(1 for _ in open(d + "/profile_export.jsonl"))
acc = js.get("request_accounting", {})
peak = int(open(d + ".maxrss").read().split()[-1]) / 1024
print(f"duration {secs} s: peak RSS {peak:.1f} MB, {lines} JSONL lines, "
      f"sent {acc.get('sent')}, request_throughput {js['request_throughput']['avg']:.0f}/s")
PY
done
