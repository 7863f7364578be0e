#!/usr/bin/env bash
# bench-io.sh: the I/O path side by side: audioperf's kernel paths ("new":
# --zero-copy auto --rx-stamps kernel, the defaults), its old paths ("old":
# --zero-copy off --rx-stamps user) and wrk, on one machine, in one run.
#
#   CPU   mock TTFT 0 / ITL 0 (50 tokens), closed loop c=64, client pinned to
#         its own core(s), every tool running for the same 6 s: CPU per
#         request of the whole client process, for 5 s 16 kHz WAV bodies
#         (~216 kB) and for tiny text requests. ROUNDS rounds, the order of
#         the three tools rotating per round.
#   TTFT  mock TTFT 50 ms / ITL 10 ms (80 ms at c=1024) with --timing-in-stream,
#         c=1/64/256/1024, 5 s WAV and tiny text, new and old alternating: each
#         request's TTFT error against the mock's own clock (scripts/ttft-truth.py)
#         and, as root, against the wire (scripts/ttft-wire.py).
#
#   scripts/bench-io.sh                 # ~6 min
#   ROUNDS=1 QUICK=1 scripts/bench-io.sh  # smoke test, ~2 min
#   PORT=18670 OUT=target/bench-io      # defaults
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-18670}
OUT=${OUT:-target/bench-io}
ROUNDS=${ROUNDS:-3}
QUICK=${QUICK:-0}
BIN=target/release/audioperf

command -v wrk >/dev/null || {
  echo "installing wrk..." >&2
  if [ "$(id -u)" = 0 ]; then apt-get install -y wrk >&2; else sudo apt-get install -y wrk >&2; fi
}
echo "building release..." >&2
cargo build --release --quiet
rm -rf "$OUT"
mkdir -p "$OUT"
source scripts/lib.sh

NEW=(--zero-copy auto --rx-stamps kernel)
OLD=(--zero-copy off --rx-stamps user)
WAV=(--audio-length-mean 5.0 --audio-format wav --audio-sample-rates 16 --synthetic-input-tokens-mean 100)
TEXT=(--synthetic-input-tokens-mean 16)
if [ "$QUICK" = 1 ]; then S=1; else S=2; fi

# prof NAME WORKLOAD(wav|text) CONCURRENCY COUNT(0: none) PATH(new|old) [EXTRA...]
prof() {
  local name=$1 wl=$2 conc=$3 count=$4 path=$5
  shift 5
  local dir="$OUT/$name" w=("${WAV[@]}") p=("${NEW[@]}")
  [ "$wl" = text ] && w=("${TEXT[@]}")
  [ "$path" = old ] && p=("${OLD[@]}")
  echo "  $name" >&2
  local n=() wire=()
  [ "$count" -gt 0 ] && n=(--request-count "$count")
  # WIRE=1: the run goes under scripts/ttft-wire.py (on the mock's core), which
  # prints the wire truth into $dir.stdout.
  [ "${WIRE:-0}" = 1 ] && wire=("${MOCK_PIN[@]}" python3 scripts/ttft-wire.py "$PORT" "$dir" --)
  /usr/bin/time -f "%e %U %S %M" -o "$dir.time" "${wire[@]}" "${CLIENT_PIN[@]}" "$BIN" profile \
    --model Qwen/Qwen2-Audio-7B-Instruct --endpoint-type chat --streaming \
    --url "127.0.0.1:$PORT" --num-dataset-entries 100 --random-seed 1 --ui-type none \
    "${w[@]}" "${p[@]}" --concurrency "$conc" "${n[@]}" \
    --output-artifact-dir "$dir" "$@" >"$dir.stdout" 2>&1
}

# wrk bodies: the first payload of each workload, from audioperf's inputs.json.
start_mock 0 0
for wl in wav text; do
  prof "body-$wl" "$wl" 1 1 new
  wrk_post_script "$OUT/body-$wl/inputs.json" "$OUT/body-$wl.json" "$OUT/post-$wl.lua"
done

: >"$OUT/cpu.txt"
for round in $(seq "$ROUNDS"); do
  echo "CPU round $round" >&2
  for wl in wav text; do
    tools=(wrk new old)
    for k in $(seq 0 $((round % 3))); do tools=("${tools[@]:1}" "${tools[0]}"); done
    for t in "${tools[@]}"; do
      name="cpu-$wl-$t-r$round"
      if [ "$t" = wrk ]; then
        echo "  $name" >&2
        /usr/bin/time -f "%e %U %S %M" -o "$OUT/$name.time" "${CLIENT_PIN[@]}" wrk -t 1 -c 64 -d 6s \
          -s "$OUT/post-$wl.lua" "http://127.0.0.1:$PORT/v1/chat/completions" >"$OUT/$name.stdout" 2>&1
      else
        prof "$name" "$wl" 64 0 "$t" --benchmark-duration 6
      fi
      echo "$wl $t $round $OUT/$name" >>"$OUT/cpu.txt"
    done
  done
done

# As root, each TTFT run is also checked against the wire (scripts/ttft-wire.py:
# the kernel's stamps of the segments on lo, which need CAP_NET_RAW).
WIRE=0
[ "$(id -u)" = 0 ] && WIRE=1
: >"$OUT/ttft.txt"
# ttft_runs ITL_MS CONCURRENCY... [-- EXTRA PROFILE FLAGS]
ttft_runs() {
  local itl=$1 cs=() extra=()
  shift
  while [ $# -gt 0 ] && [ "$1" != -- ]; do cs+=("$1"); shift; done
  [ $# -gt 0 ] && { shift; extra=("$@"); }
  start_mock 50 "$itl" --timing-in-stream
  for wl in wav text; do
    for c in "${cs[@]}"; do
      case $c in 1) n=$((15 * S)) ;; 64) n=$((320 * S)) ;; 256) n=$((512 * S)) ;; *) n=$((1024 * S)) ;; esac
      for t in new old; do
        WIRE=$WIRE prof "ttft-$wl-c$c-$t" "$wl" "$c" "$n" "$t" --export-level raw "${extra[@]}"
        echo "$wl $c $t $OUT/ttft-$wl-c$c-$t" >>"$OUT/ttft.txt"
      done
    done
  done
  stop_mock
}
ttft_runs 10 1 64 256
# c=1024: ITL 80 ms, so that one mock core keeps up with 1024 WAV streams
# (at 10 ms it falls behind and sends overdue tokens back to back, which one
# read then takes together), and the first wave, which brings ~220 MB of
# bodies to the mock at once, is warmup.
ttft_runs 80 1024 -- --warmup-request-count 1024

python3 - "$OUT" <<'PY'
import json, os, re, statistics, subprocess, sys
out = sys.argv[1]

def wrk_requests(path):
    text = open(path).read()
    m = re.search(r"(\d+) requests in", text)
    return int(m.group(1)) if m else 0

def cpu_us(dir_, tool):
    el, u, s, m = open(dir_ + ".time").read().split()[-4:]
    cpu = float(u) + float(s)
    if tool == "wrk":
        n = wrk_requests(dir_ + ".stdout")
    else:
        js = json.load(open(os.path.join(dir_, "profile_export_aiperf.json")))
        n = js["request_count"]["avg"]
    return cpu * 1e6 / n if n else float("nan")

cpu = {}
for line in open(os.path.join(out, "cpu.txt")):
    wl, tool, rnd, dir_ = line.split()
    cpu.setdefault((wl, tool), []).append(cpu_us(dir_, tool))
print("CPU per request, us (whole client process, median of rounds; rounds in brackets)")
print(f"{'workload':<10} {'wrk':>22} {'audioperf new':>26} {'audioperf old':>26} {'new/wrk':>8} {'old/wrk':>8} {'new/old':>8}")
for wl in ("wav", "text"):
    med = {t: statistics.median(cpu[(wl, t)]) for t in ("wrk", "new", "old")}
    fmt = lambda t: f"{med[t]:.1f} [" + " ".join(f"{v:.0f}" for v in cpu[(wl, t)]) + "]"
    print(f"{wl:<10} {fmt('wrk'):>22} {fmt('new'):>26} {fmt('old'):>26} "
          f"{med['new']/med['wrk']:>8.2f} {med['old']/med['wrk']:>8.2f} {med['new']/med['old']:>8.2f}")

print()
print("TTFT error per request, ms: client TTFT - (handed - arrival) on the mock's clock;")
print("wire: client TTFT - the kernel's stamps of the first-token and request segments on lo (root only)")
print(f"{'run':<22} {'n':>5} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8} {'wire p50':>9} {'wire p99':>9} {'send lag p50/p99 ms':>20} {'user-kernel p50/p99':>20} {'sends':>40}")
for line in open(os.path.join(out, "ttft.txt")):
    wl, c, tool, dir_ = line.split()
    t = json.loads(subprocess.check_output([sys.executable, "scripts/ttft-truth.py", dir_]))
    a = json.load(open(os.path.join(dir_, "profile_export_aiperf.json"))).get("audioperf", {})
    f = lambda v: "n/a" if v is None else f"{v:.3f}"
    wire = next((json.loads(l.split("  #")[0]) for l in open(dir_ + ".stdout")
                 if l.startswith('{"truth": "wire"')), None)
    wp = lambda k: "n/a" if wire is None else f"{wire[k]:+.3f}"
    print(f"{wl + ' c' + c + ' ' + tool:<22} {t['count']:>5} {t['p50_ms']:>+8.3f} {t['p90_ms']:>+8.3f} {t['p99_ms']:>+8.3f} {t['max_ms']:>+8.3f} "
          f"{wp('p50_ms'):>9} {wp('p99_ms'):>9} "
          f"{f(a.get('send_lag_p50_ms')) + '/' + f(a.get('send_lag_p99_ms')):>20} "
          f"{f(a.get('user_minus_kernel_stamp_p50_ms')) + '/' + f(a.get('user_minus_kernel_stamp_p99_ms')):>20} "
          f"{a.get('send_path', '')[:40]:>40}")
PY

cat <<EOF

Method:
- mock: audioperf mock-server --workers 1 --output-tokens 50 (${MOCK_PIN[*]:-unpinned}); every client: ${CLIENT_PIN[*]:-unpinned}.
- new: --zero-copy auto --rx-stamps kernel (defaults); old: --zero-copy off --rx-stamps user.
- CPU: /usr/bin/time user+sys of the whole client process / requests, every tool running 6 s
  (audioperf --benchmark-duration 6: its request_count; wrk -t1 -c64 -d6s: its request total),
  start-up and reports included. wav: 5 s 16 kHz WAV
  + 100-token prompt (~216 kB body), 100 distinct entries; text: a 16-token prompt. wrk POSTs
  audioperf's first body of the same workload.
- TTFT error: --export-level raw; per request, (first-token perf_ns - start_perf_ns) minus the
  mock's (handed_ns - arrival_ns) from its first token event (--timing-in-stream): arrival is
  the kernel's receive stamp of the request's first bytes, handed the moment before the mock's
  send of that event. Note: when later segments of a request reach the mock's socket before
  the mock reads the first, the kernel merges them and the merged data carries the newest
  stamp, so for large bodies "arrival" can be late by up to the body's transfer time, which
  makes the error read higher, not lower; a tiny text request is one segment. The wire
  columns (as root) take both stamps from a packet socket on lo instead, where no merging
  happens (scripts/ttft-wire.py). c=1024 runs against a mock with ITL 80 ms and the first
  1024 requests as warmup (see the comment above ttft_runs 80).
- Artifacts: $OUT/
EOF
