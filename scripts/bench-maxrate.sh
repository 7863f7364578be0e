#!/usr/bin/env bash
# bench-maxrate.sh OLD_BIN NEW_BIN: the max-rate run of bench-overhead.sh, two
# builds side by side, alternating (the order rotates each round) so both see
# the same machine load.
#
# Method: `NEW_BIN mock-server --ttft-ms 0 --itl-ms 0 --output-tokens 50
# --workers 1` pinned to the last core; each client pinned to the other
# core(s), closed loop at c=64, one 5 s 16 kHz WAV + a 100-token prompt per
# request, 100 distinct entries. Per run: whole-process user+sys CPU per
# request (/usr/bin/time), request throughput (the export), peak RSS.
#
#   scripts/bench-maxrate.sh /tmp/audioperf-old target/release/audioperf
#   ROUNDS=3 REQUESTS=10000 PORT=18670
set -euo pipefail
cd "$(dirname "$0")/.."

OLD=${1:?usage: bench-maxrate.sh OLD_BIN NEW_BIN}
NEW=${2:?usage: bench-maxrate.sh OLD_BIN NEW_BIN}
ROUNDS=${ROUNDS:-3}
REQUESTS=${REQUESTS:-10000}
PORT=${PORT:-18670}
OUT=${OUT:-target/bench-maxrate}
rm -rf "$OUT"
mkdir -p "$OUT"

BIN=$NEW
# Pinning, start_mock TTFT_MS ITL_MS, stop_mock.
source scripts/lib.sh
start_mock 0 0

run() { # run NAME BIN
  local dir="$OUT/$1"
  /usr/bin/time -f "%e %U %S %M" -o "$dir.time" "${CLIENT_PIN[@]}" "$2" profile \
    --model Qwen/Qwen2-Audio-7B-Instruct --endpoint-type chat \
    --audio-length-mean 5.0 --audio-format wav --audio-sample-rates 16 \
    --synthetic-input-tokens-mean 100 --streaming --url "127.0.0.1:$PORT" \
    --num-dataset-entries 100 --random-seed 1 --ui-type none \
    --concurrency 64 --request-count "$REQUESTS" \
    --output-artifact-dir "$dir" >"$dir.stdout" 2>&1
  python3 - "$1" "$dir" "$REQUESTS" <<'PY'
import json, sys
name, d, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
el, u, s, m = open(d + ".time").read().split()[-4:]
js = json.load(open(d + "/profile_export_aiperf.json"))
cpu_us = (float(u) + float(s)) / n * 1e6
print(f"{name:10s} cpu_us_per_req={cpu_us:7.1f} req_per_s={js['request_throughput']['avg']:8.1f} rss_mb={int(m)/1024:6.1f}")
PY
}

echo "max rate, c=64, $REQUESTS requests per run, $ROUNDS rounds, mock on core $((NCPU - 1)), client on the rest"
for r in $(seq "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then
    run "old-$r" "$OLD"; run "new-$r" "$NEW"
  else
    run "new-$r" "$NEW"; run "old-$r" "$OLD"
  fi
done
