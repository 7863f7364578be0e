#!/usr/bin/env bash
# bench-overhead.sh: what audioperf itself costs, measured against its own mock server.
#
# Builds release, starts `audioperf mock-server --workers 1` pinned to the last core,
# runs `audioperf profile` pinned to the other core(s) at fixed workloads (issue #1:
# 50 tokens per request, one 5 s 16 kHz WAV per request, 100 distinct clips) and
# prints one row per run. Runtime about 2 minutes (bounded < 5 min).
#
#   scripts/bench-overhead.sh            # full table
#   QUICK=1 scripts/bench-overhead.sh    # fewer requests (smoke test, ~40 s)
#   PORT=18650 OUT=target/bench-overhead # defaults
#   IO_FLAGS="--zero-copy off --rx-stamps user" scripts/bench-overhead.sh   # the old I/O paths
# scripts/bench-io.sh runs the default and the old I/O paths side by side (with wrk).
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18650}
OUT=${OUT:-target/bench-overhead}
QUICK=${QUICK:-0}
# Extra profile flags for every run (e.g. the old I/O paths, see above).
read -r -a IO_FLAGS <<<"${IO_FLAGS:-}"
BIN=target/release/audioperf
TTFT_MS=50

echo "building release..." >&2
cargo build --release --quiet
rm -rf "$OUT"
mkdir -p "$OUT"

# Pinning, start_mock TTFT_MS ITL_MS, stop_mock.
source scripts/lib.sh

# run NAME CONFIGURED_TTFT_MS PIN... -- PROFILE_ARGS...: one profile run under
# /usr/bin/time (whole-process user+sys CPU and peak RSS).
run() {
  local name=$1 ttft=$2
  shift 2
  local pin=()
  while [ "$1" != "--" ]; do pin+=("$1"); shift; done
  shift
  local dir="$OUT/$name"
  echo "run $name: $*" >&2
  mock_stats DELETE >/dev/null
  /usr/bin/time -f "%e %U %S %M" -o "$dir.time" "${pin[@]}" "$BIN" profile \
    --model Qwen/Qwen2-Audio-7B-Instruct --endpoint-type chat \
    --audio-length-mean 5.0 --audio-format wav --audio-sample-rates 16 \
    --synthetic-input-tokens-mean 100 --streaming --url "127.0.0.1:$PORT" \
    --num-dataset-entries 100 --random-seed 1 --ui-type none \
    --output-artifact-dir "$dir" ${IO_FLAGS[@]+"${IO_FLAGS[@]}"} "$@" >"$dir.stdout" 2>&1
  # The mock's own lateness on first tokens during this run.
  mock_stats GET >"$dir.mock-stats.json"
  echo "$name $ttft $dir" >>"$OUT/runs.txt"
}

# mock_stats METHOD: /v1/mock/stats (GET reads, DELETE resets), body on stdout.
mock_stats() {
  python3 - "$1" "$PORT" <<'PY' || echo '{}'
import sys, urllib.request
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[2]}/v1/mock/stats", method=sys.argv[1])
print(urllib.request.urlopen(req, timeout=10).read().decode())
PY
}

if [ "$QUICK" = 1 ]; then S=1; else S=2; fi

# TTFT accuracy and effective concurrency: TTFT 50 ms, ITL 10 ms (0.54 s per request).
start_mock "$TTFT_MS" 10
run itl10-c1 "$TTFT_MS" "${CLIENT_PIN[@]}" -- --concurrency 1 --request-count $((10 * S))
run itl10-c64 "$TTFT_MS" "${CLIENT_PIN[@]}" -- --concurrency 64 --request-count $((320 * S))
run itl10-c256 "$TTFT_MS" "${CLIENT_PIN[@]}" -- --concurrency 256 --request-count $((1024 * S))
run itl10-c1024 "$TTFT_MS" "${CLIENT_PIN[@]}" -- --concurrency 1024 --request-count $((2048 * S))
# ITL 0: all 50 tokens right after TTFT (more events per read, more requests/s).
start_mock "$TTFT_MS" 0
run itl0-c64 "$TTFT_MS" "${CLIENT_PIN[@]}" -- --concurrency 64 --request-count $((2000 * S))
run itl0-c1024 "$TTFT_MS" "${CLIENT_PIN[@]}" -- --concurrency 1024 --request-count $((4096 * S))
# Max request rate: no server delay at all, closed loop, so the pair (mock on one
# core, client on the other) runs flat out. Then per-core scaling: the client
# may use every core, with one worker thread vs two.
start_mock 0 0
run max-c64 0 "${CLIENT_PIN[@]}" -- --concurrency 64 --request-count $((5000 * S))
run max-c64-w1 0 "${ALL_PIN[@]}" -- --concurrency 64 --request-count $((5000 * S)) --workers-max 1
run max-c64-w2 0 "${ALL_PIN[@]}" -- --concurrency 64 --request-count $((5000 * S)) --workers-max 2
stop_mock

python3 - "$OUT/runs.txt" <<'PY'
import json, re, sys, glob, os

def analyse(dir_, ttft_ms):
    r = {}
    el, u, s, m = open(dir_ + ".time").read().split()[-4:]
    r["cpu_s"] = float(u) + float(s)
    r["rss_mb"] = int(m) / 1024
    js = json.load(open(os.path.join(dir_, "profile_export_aiperf.json")))
    n = js["request_count"]["avg"]
    r["n"] = n
    r["rps"] = js["request_throughput"]["avg"]
    dur = js["benchmark_duration"]["avg"]
    t = js["time_to_first_token"]
    r["ttft_p50"], r["ttft_p99"] = t["p50"] - ttft_ms, t["p99"] - ttft_ms
    r["errors"] = sum(e.get("count", 0) for e in js.get("error_summary", []))
    # Effective concurrency: total time requests were in flight / span of the run.
    lo, hi, busy = None, None, 0
    for line in open(os.path.join(dir_, "profile_export.jsonl")):
        md = json.loads(line)["metadata"]
        a, b = md["request_start_ns"], md["request_end_ns"]
        busy += b - a
        lo = a if lo is None else min(lo, a)
        hi = b if hi is None else max(hi, b)
    r["eff_c"] = busy / (hi - lo) if hi and hi > lo else 0
    log = open(glob.glob(os.path.join(dir_, "logs", "*.log"))[0]).read()
    w_cpu = sum(float(x) for x in re.findall(r"worker \d+: .*? CPU ([\d.]+) s", log))
    events = sum(int(x) for x in re.findall(r"worker \d+: \d+ requests, (\d+) events", log))
    r["w_cpu_us_req"] = w_cpu * 1e6 / n
    r["w_cpu_ns_ev"] = w_cpu * 1e9 / max(events, 1)
    r["cpu_us_req"] = r["cpu_s"] * 1e6 / n
    r["eps"] = events / dur if dur else 0
    m = re.search(r"start-up before the first request: ([\d.]+) s", log)
    r["startup_s"] = float(m.group(1)) if m else float("nan")
    m = re.search(r"dataset: .*?\(([\d.]+) MB/s\)", log)
    r["ds_mbps"] = float(m.group(1)) if m else float("nan")
    try:
        late = json.load(open(dir_ + ".mock-stats.json"))["first_token_late_us"]
        r["mock_late_p99"] = late["p99"] / 1e3 if late.get("count") else float("nan")
    except (OSError, ValueError, KeyError):
        r["mock_late_p99"] = float("nan")
    return r

rows = []
for line in open(sys.argv[1]):
    name, ttft, dir_ = line.split()
    rows.append((name, analyse(dir_, float(ttft))))

hdr = ("run", "reqs", "req/s", "events/s", "CPU us/req", "wkr us/req", "wkr ns/ev",
       "TTFT err p50", "p99 ms", "mock late p99", "eff. conc", "RSS MB", "start-up s", "dataset MB/s", "errors")
fmt = "{:<12} {:>6} {:>8} {:>9} {:>10} {:>10} {:>9} {:>12} {:>7} {:>13} {:>9} {:>7} {:>10} {:>12} {:>6}"
print(fmt.format(*hdr))
for name, r in rows:
    print(fmt.format(name, int(r["n"]), f'{r["rps"]:.0f}', f'{r["eps"]:.0f}',
                     f'{r["cpu_us_req"]:.1f}', f'{r["w_cpu_us_req"]:.1f}', f'{r["w_cpu_ns_ev"]:.0f}',
                     f'{r["ttft_p50"]:+.3f}', f'{r["ttft_p99"]:+.3f}', f'{r["mock_late_p99"]:.3f}', f'{r["eff_c"]:.2f}',
                     f'{r["rss_mb"]:.1f}', f'{r["startup_s"]:.3f}', f'{r["ds_mbps"]:.0f}', r["errors"]))
w1 = dict(rows).get("max-c64-w1"); w2 = dict(rows).get("max-c64-w2")
if w1 and w2:
    print(f"\nper-core scaling (client on all cores, mock on one): workers-max 1: {w1['rps']:.0f} req/s, "
          f"workers-max 2: {w2['rps']:.0f} req/s ({w2['rps'] / w1['rps']:.2f}x)")
PY

cat <<EOF

Method:
- mock: audioperf mock-server --workers 1 --output-tokens 50 (${MOCK_PIN[*]:-unpinned}); client: ${CLIENT_PIN[*]:-unpinned}
  (max-c64-w1/w2: client on ${ALL_PIN[*]:-all cores}). Workload: one 5 s 16 kHz mono WAV + 100-token prompt per request, 100 distinct entries.
- CPU us/req: whole client process user+sys (/usr/bin/time %U+%S, includes start-up, dataset build and reports) / requests.
- wkr us/req, wkr ns/ev: worker threads only (getrusage RUSAGE_THREAD, log lines "worker N: ... CPU ...") / requests or SSE events.
- req/s: request_throughput from profile_export_aiperf.json; events/s: SSE events (log) / benchmark duration.
- TTFT err: reported TTFT p50/p99 minus the mock's configured TTFT. The mock counts its TTFT from the kernel's
  receive stamp of each request's first bytes, so the error is the client's plus the mock's own lateness in
  sending first tokens, shown as "mock late p99" (ms, from /v1/mock/stats, reset before each run): where the
  one-core mock saturates, that lateness is the TTFT error's tail, not the client.
- eff. conc: sum(request_end_ns - request_start_ns) / (last end - first start) over profile_export.jsonl.
- RSS: peak resident set (/usr/bin/time %M). start-up and dataset MB/s: from logs/aiperf.log.
- Artifacts: $OUT/<run>/
EOF
