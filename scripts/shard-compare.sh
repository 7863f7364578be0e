#!/usr/bin/env bash
# shard-compare.sh: a sharded run (N shard processes at once, started together
# with --start-at, then `audioperf merge`) against one process running the same
# load, on one machine, against one `audioperf mock-server`.
#
# Method: the mock's TTFT and ITL (defaults 40 ms and 5 ms, 20 tokens) dominate
# every latency, so both runs measure the same distribution; the sharded run
# sends exactly the requests of the single one (same ids, same dataset
# entries). ROUNDS rounds (default 3), the sharded run first in odd rounds and
# the single one first in even rounds. Checks: in every round, request counts
# and token totals equal exactly; the median over rounds of TTFT and ITL
# p50/p99 of the merged exports within TOL (default 1%) of the single runs'.
# Prints each figure and exits 1 when a check fails. Tail percentiles need a
# quiet machine: a busy one's scheduling stalls move p99 by more than 1%.
#
#   scripts/shard-compare.sh                 # N=3, 600 requests, concurrency 12
#   N=4 REQUESTS=2000 CONCURRENCY=16 ROUNDS=5 TOL=0.01 PORT=18670 OUT=target/shard-compare
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-3}
REQUESTS=${REQUESTS:-600}
CONCURRENCY=${CONCURRENCY:-12}
TTFT_MS=${TTFT_MS:-40}
ITL_MS=${ITL_MS:-5}
TOL=${TOL:-0.01}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18670}
OUT=${OUT:-target/shard-compare}
BIN=${BIN:-target/debug/audioperf}
[ -x "$BIN" ] || cargo build --quiet
rm -rf "$OUT" && mkdir -p "$OUT"

"$BIN" mock-server --port "$PORT" --ttft-ms "$TTFT_MS" --itl-ms "$ITL_MS" \
  --output-tokens 20 >"$OUT/mock.log" 2>&1 &
MOCK_PID=$!
trap 'kill $MOCK_PID 2>/dev/null || true; wait $MOCK_PID 2>/dev/null || true' EXIT
for _ in $(seq 100); do
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
  sleep 0.05
done

LOAD=(--model m --audio-length-mean 1 --streaming --url "127.0.0.1:$PORT"
  --request-count "$REQUESTS" --concurrency "$CONCURRENCY" --random-seed 5
  --use-server-token-count --ui-type none)

sharded() { # $1: round
  local start=$(($(date +%s) + 3)) pids=() shards=()
  for i in $(seq 0 $((N - 1))); do
    "$BIN" profile "${LOAD[@]}" --shard-index "$i" --shard-count "$N" --start-at "$start" \
      --output-artifact-dir "$OUT/r$1/shard-$i" >"$OUT/r$1-shard-$i.log" 2>&1 &
    pids+=($!)
    shards+=("$OUT/r$1/shard-$i")
  done
  for p in "${pids[@]}"; do wait "$p"; done
  "$BIN" merge "${shards[@]}" --output-artifact-dir "$OUT/r$1/merged" >"$OUT/r$1-merge.log" 2>&1
}
single() {
  "$BIN" profile "${LOAD[@]}" --output-artifact-dir "$OUT/r$1/single" >"$OUT/r$1-single.log" 2>&1
}
echo "N=$N shards vs 1 process; $REQUESTS requests at concurrency $CONCURRENCY; mock TTFT $TTFT_MS ms, ITL $ITL_MS ms; $ROUNDS rounds; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
for r in $(seq 1 "$ROUNDS"); do
  if [ $((r % 2)) = 1 ]; then sharded "$r"; single "$r"; else single "$r"; sharded "$r"; fi
done

python3 - "$OUT" "$TOL" "$ROUNDS" <<'EOF'
import json, statistics, sys
out, tol, rounds = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
load = lambda r, k: json.load(open(f"{out}/r{r}/{k}/profile_export_aiperf.json"))
runs = [(load(r, "merged"), load(r, "single")) for r in range(1, rounds + 1)]
ok = True
print(f"{'figure':<30}{'merged':>13}{'single':>13}{'diff':>9}  check")
for tag in ["request_count", "total_osl", "total_isl", "error_request_count"]:
    pairs = [(m.get(tag, {}).get("avg"), s.get(tag, {}).get("avg")) for m, s in runs]
    if all(g is None and w is None for g, w in pairs):
        continue
    good = all(g == w for g, w in pairs)
    ok &= good
    g, w = pairs[0]
    print(f"{tag:<30}{g:>13.1f}{w:>13.1f}{'':>9}  equal in every round: {'ok' if good else 'FAIL'}")
def med(tag, stat, i):
    return statistics.median(run[i][tag][stat] for run in runs)
for tag, stat, checked in [
    ("time_to_first_token", "p50", True), ("time_to_first_token", "p99", True),
    ("inter_token_latency", "p50", True), ("inter_token_latency", "p99", True),
    ("request_latency", "p50", False), ("request_latency", "p99", False),
    ("request_throughput", "avg", False), ("benchmark_duration", "avg", False)]:
    g, w = med(tag, stat, 0), med(tag, stat, 1)
    d = (g - w) / w
    if checked:
        good = abs(d) <= tol
        ok &= good
        note = f"median within {tol:.0%}: {'ok' if good else 'FAIL'}"
    else:
        note = "(median, not checked)"
    print(f"{tag + ' ' + stat:<30}{g:>13.4f}{w:>13.4f}{d:>+9.3%}  {note}")
print("result:", "PASS" if ok else "FAIL")
sys.exit(0 if ok else 1)
EOF
