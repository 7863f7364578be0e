#!/usr/bin/env bash
# compare.sh: audioperf vs AIPerf 0.13.0 vs wrk, side by side, on the issue's workload.
#
# One `audioperf mock-server --workers 1 --output-tokens 50` pinned to the last core;
# every client pinned to the other core(s), so each tool gets the same CPU. Each
# round runs every tool on every workload, rotating the tool order per round;
# the table shows medians over rounds. Runtime about 10 min for ROUNDS=3.
#
# Workloads (100 distinct entries: 5 s 16 kHz mono WAV + 100-token prompt):
#   max rate : mock TTFT 0, ITL 0, closed loop c=64 (wrk: the same body, -c 64)
#   latency  : mock TTFT 50 ms, ITL 10 ms at c = 1, 64, 256 (audioperf and AIPerf)
#
#   scripts/compare.sh                     # ROUNDS=3
#   ROUNDS=1 scripts/compare.sh            # quick look
#   AIPERF_VENV=/path/to/venv TOKENIZER=/abs/tokenizer/dir PORT=18660 OUT=target/compare
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18660}
OUT=${OUT:-target/compare}
AIPERF_VENV=${AIPERF_VENV:-.venv-aiperf}
TOKENIZER=${TOKENIZER:-$ROOT/fixtures/tokenizers/qwen3}
[ -d "$TOKENIZER" ] || TOKENIZER=/work/shared/data/tokenizers/qwen3
BIN=target/release/audioperf
MODEL=Qwen/Qwen2-Audio-7B-Instruct

if [ ! -x "$AIPERF_VENV/bin/aiperf" ]; then
  echo "installing AIPerf 0.13.0 into $AIPERF_VENV..." >&2
  python3 -m venv "$AIPERF_VENV"
  "$AIPERF_VENV/bin/pip" install --quiet aiperf==0.13.0
fi
AIPERF=$AIPERF_VENV/bin/aiperf
if ! command -v wrk >/dev/null; then
  echo "installing wrk..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk; else sudo apt-get install -y wrk; fi
fi
echo "building release..." >&2
cargo build --release --quiet
rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)

# Pinning, start_mock TTFT_MS ITL_MS, stop_mock.
source scripts/lib.sh

COMMON=(--model "$MODEL" --endpoint-type chat --audio-length-mean 5.0 --audio-format wav
  --audio-sample-rates 16 --synthetic-input-tokens-mean 100 --streaming
  --url "127.0.0.1:$PORT" --num-dataset-entries 100 --random-seed 1 --ui-type none)

# tree_rss PID: peak of the summed RSS (kB) of PID and all its descendants,
# sampled every 0.2 s until PID exits (AIPerf is several processes; %M of
# /usr/bin/time only sees the largest one).
tree_rss() {
  local peak=0 kb
  while kill -0 "$1" 2>/dev/null; do
    kb=$(ps -e -o pid=,ppid=,rss= | awk -v root="$1" '
      { par[$1] = $2; rss[$1] = $3 }
      END { for (p in par) { q = p; while (q != "" && q != 0 && q != root) q = par[q];
              if (q == root) s += rss[p] } print s + 0 }')
    [ "$kb" -gt "$peak" ] && peak=$kb
    sleep 0.2
  done
  echo "$peak"
}

# prof TOOL NAME TTFT_MS CONC COUNT: one profile run; wall-clock launch time
# recorded so start-up = first request_start_ns - launch for both tools alike.
prof() {
  local tool=$1 name=$2 ttft=$3 conc=$4 count=$5 dir="$OUT/$2"
  echo "  $name" >&2
  date +%s%N >"$dir.launch"
  local cmd=("$BIN" profile)
  local extra=()
  if [ "$tool" = aiperf ]; then
    cmd=("$AIPERF" profile)
    extra=(--tokenizer "$TOKENIZER" --no-server-metrics --no-gpu-telemetry)
  fi
  /usr/bin/time -f "%e %U %S %M" -o "$dir.time" "${CLIENT_PIN[@]}" "${cmd[@]}" \
    "${COMMON[@]}" --concurrency "$conc" --request-count "$count" "${extra[@]}" \
    --output-artifact-dir "$dir" >"$dir.stdout" 2>&1 &
  local pid=$!
  tree_rss "$pid" >"$dir.rss"
  wait "$pid" || echo "  (exit $?)" >&2
  echo "$tool $name $ttft $conc $dir" >>"$OUT/runs.txt"
}

# wrk body: the first payload audioperf built, extracted from its inputs.json.
start_mock 0 0
prof audioperf body-source 0 1 1
wrk_post_script "$OUT/body-source/inputs.json" "$OUT/body.json" "$OUT/post.lua"
: >"$OUT/runs.txt"

wrk_run() { # NAME
  local dir="$OUT/$1"
  echo "  $1" >&2
  /usr/bin/time -f "%e %U %S %M" -o "$dir.time" "${CLIENT_PIN[@]}" wrk -t 1 -c 64 -d 6s \
    -s "$OUT/post.lua" "http://127.0.0.1:$PORT/v1/chat/completions" >"$dir.stdout" 2>&1
  echo "wrk $1 0 64 $dir" >>"$OUT/runs.txt"
}

TOOLS=(audioperf aiperf wrk)
for round in $(seq "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  # Rotate the order so no tool always runs first (or right after a busy neighbour).
  order=("${TOOLS[@]:$(((round - 1) % 3))}" "${TOOLS[@]:0:$(((round - 1) % 3))}")
  start_mock 0 0
  for t in "${order[@]}"; do
    case $t in
      audioperf) prof audioperf "r$round-audioperf-max" 0 64 10000 ;;
      aiperf) prof aiperf "r$round-aiperf-max" 0 64 2000 ;;
      wrk) wrk_run "r$round-wrk-max" ;;
    esac
  done
  start_mock 50 10
  for t in "${order[@]}"; do
    [ "$t" = wrk ] && continue
    for c in 1 64 256; do
      case $c in 1) n=16 ;; 64) n=320 ;; 256) n=1024 ;; esac
      prof "$t" "r$round-$t-c$c" 50 "$c" "$n"
    done
  done
done
stop_mock

python3 - "$OUT/runs.txt" <<'PY'
import json, os, re, statistics, sys

def rusage(dir_):
    el, u, s, m = open(dir_ + ".time").read().split()[-4:]
    return float(u) + float(s), int(m) / 1024

def profile_run(dir_, ttft_ms):
    r = {}
    r["cpu_s"], r["rss_mb"] = rusage(dir_)
    try:  # summed over the process tree, sampled; falls back to %M
        r["rss_mb"] = max(r["rss_mb"], int(open(dir_ + ".rss").read()) / 1024)
    except (OSError, ValueError):
        pass
    js = json.load(open(os.path.join(dir_, "profile_export_aiperf.json")))
    n = js["request_count"]["avg"]
    r["rps"] = js["request_throughput"]["avg"]
    r["cpu_us_req"] = r["cpu_s"] * 1e6 / n
    t = js["time_to_first_token"]
    r["p50"], r["p99"] = t["p50"], t["p99"]
    lo = hi = None
    busy = 0
    for line in open(os.path.join(dir_, "profile_export.jsonl")):
        md = json.loads(line)["metadata"]
        a, b = md["request_start_ns"], md["request_end_ns"]
        busy += b - a
        lo = a if lo is None else min(lo, a)
        hi = b if hi is None else max(hi, b)
    r["eff_c"] = busy / (hi - lo)
    launch = int(open(dir_ + ".launch").read())
    r["startup_s"] = (lo - launch) / 1e9
    return r

def wrk_run(dir_):
    cpu, rss = rusage(dir_)
    text = open(dir_ + ".stdout").read()
    n = int(re.search(r"(\d+) requests in", text).group(1))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    return {"cpu_us_req": cpu * 1e6 / n, "rps": rps, "rss_mb": rss}

res = {}  # (tool, workload) -> list of dicts
for line in open(sys.argv[1]):
    tool, name, ttft, conc, dir_ = line.split()
    wl = name.split("-", 2)[2]
    try:
        r = wrk_run(dir_) if tool == "wrk" else profile_run(dir_, float(ttft))
    except Exception as e:  # a failed run shows as missing, not as a crash
        print(f"skipping {name}: {e}", file=sys.stderr)
        continue
    res.setdefault((tool, wl), []).append(r)

def med(tool, wl, key):
    v = [r[key] for r in res.get((tool, wl), []) if key in r]
    return statistics.median(v) if v else None

def peak(tool, key):
    v = [r[key] for (t, _), rs in res.items() if t == tool for r in rs if key in r]
    return max(v) if v else None

def all_med(tool, key):
    v = [r[key] for (t, _), rs in res.items() if t == tool for r in rs if key in r]
    return statistics.median(v) if v else None

rows = [
    ("client CPU per request, us (max-rate run)", "cpu_us_req", "max"),
    ("max request rate, req/s (c=64, TTFT 0)", "rps", "max"),
]
for c in (1, 64, 256):
    rows.append((f"TTFT p50, ms (true 50), c={c}", "p50", f"c{c}"))
    rows.append((f"TTFT p99, ms (true 50), c={c}", "p99", f"c{c}"))
    rows.append((f"requests in flight (asked {c})", "eff_c", f"c{c}"))

def fmt(v):
    return "-" if v is None else (f"{v:,.1f}" if abs(v) >= 10 else f"{v:.3f}")

def ratio(a, b):
    return "-" if a is None or b in (None, 0) else f"{a / b:.3f}"

w = "{:<44} {:>10} {:>10} {:>10} {:>10} {:>10}"
print(w.format("metric (median over rounds)", "audioperf", "AIPerf", "wrk", "ap/AIPerf", "ap/wrk"))
for label, key, wl in rows:
    a, b = med("audioperf", wl, key), med("aiperf", wl, key)
    k = med("wrk", wl, key) if wl == "max" else None
    print(w.format(label, fmt(a), fmt(b), fmt(k), ratio(a, b), ratio(a, k)))
a, b, k = peak("audioperf", "rss_mb"), peak("aiperf", "rss_mb"), peak("wrk", "rss_mb")
print(w.format("peak RSS, MB (max over runs)", fmt(a), fmt(b), fmt(k), ratio(a, b), ratio(a, k)))
a, b = all_med("audioperf", "startup_s"), all_med("aiperf", "startup_s")
print(w.format("start-up to first request, s", fmt(a), fmt(b), "-", ratio(a, b), "-"))
# Per-round ratio of request rates, measured back to back in the same round.
per_round = []
for i in range(len(res.get(("audioperf", "max"), []))):
    try:
        per_round.append(res[("audioperf", "max")][i]["rps"] / res[("wrk", "max")][i]["rps"])
    except (KeyError, IndexError):
        pass
if per_round:
    print("audioperf/wrk request rate per round: " + ", ".join(f"{x:.3f}" for x in per_round))
PY

cat <<EOF

Method: mock = audioperf mock-server --workers 1 --output-tokens 50 (${MOCK_PIN[*]:-unpinned});
every client ${CLIENT_PIN[*]:-unpinned}. $ROUNDS rounds, tool order rotated each round, medians shown.
CPU per request: user+sys of the whole client process tree (/usr/bin/time %U+%S, getrusage of
children) / requests, start-up included. wrk: wrk -t1 -c64 -d6s POSTing the first body of
audioperf's inputs.json ($OUT/post.lua); wrk reads whole responses but parses no SSE events.
TTFT and request rate: profile_export_aiperf.json of each tool. Requests in flight: sum of
(request_end_ns - request_start_ns) / run span, from profile_export.jsonl. Start-up:
first request_start_ns - launch wall time. Peak RSS: sum over the client's process tree, sampled every 0.2 s (wrk: %M).
Artifacts: $OUT/
EOF
