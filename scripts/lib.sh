# Shared by the benchmark scripts (source it; needs BIN, PORT and OUT set).
#
# Core layout: the mock server on the last core, every client on the others
# (they share the machine when there is only one core), so each tool under
# test gets the same CPU.
NCPU=$(nproc)
if [ "$NCPU" -ge 2 ] && command -v taskset >/dev/null; then
  MOCK_PIN=(taskset -c $((NCPU - 1)))
  CLIENT_PIN=(taskset -c "0-$((NCPU - 2))")
  ALL_PIN=(taskset -c "0-$((NCPU - 1))")
else
  MOCK_PIN=() CLIENT_PIN=() ALL_PIN=()
fi

MOCK_PID=
stop_mock() {
  if [ -n "$MOCK_PID" ]; then
    kill "$MOCK_PID" 2>/dev/null || true
    wait "$MOCK_PID" 2>/dev/null || true
    MOCK_PID=
  fi
}
trap stop_mock EXIT

# start_mock TTFT_MS ITL_MS [MORE MOCK FLAGS…]: a 50-token streaming mock with
# one worker, pinned, logging to $OUT/mock.log; returns once it accepts.
start_mock() {
  stop_mock
  local ttft=$1 itl=$2
  shift 2
  "${MOCK_PIN[@]}" "$BIN" mock-server --port "$PORT" --ttft-ms "$ttft" --itl-ms "$itl" \
    --output-tokens 50 --workers 1 "$@" >>"$OUT/mock.log" 2>&1 &
  MOCK_PID=$!
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then return 0; fi
    sleep 0.05
  done
  echo "mock-server did not start; see $OUT/mock.log" >&2
  exit 1
}

# wrk_post_script INPUTS_JSON BODY_JSON LUA: a wrk script POSTing the first
# payload audioperf built (from its inputs.json, saved to BODY_JSON) to
# /v1/chat/completions.
wrk_post_script() {
  python3 - "$1" "$2" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))["data"][0]["payloads"][0]
open(sys.argv[2], "w").write(json.dumps(body, separators=(",", ":")))
PY
  cat >"$3" <<EOF
wrk.method = "POST"
wrk.path = "/v1/chat/completions"
wrk.headers["Content-Type"] = "application/json"
local f = assert(io.open("$2", "rb"))
wrk.body = f:read("*a")
f:close()
EOF
}
