#!/usr/bin/env bash
# Builds audioperf, starts the built-in mock server on 127.0.0.1, runs the
# synthetic-audio profile from AIPerf's audio tutorial against it, prints the
# table and stops the server. Extra arguments are passed to `profile`
# (e.g. scripts/demo.sh --synthetic-input-tokens-mean 100). Token counts use the
# Qwen tokenizer shipped in fixtures/ (offline; AIPerf would fetch the model's).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/audioperf
port=${PORT:-8000}
"$bin" mock-server --host 127.0.0.1 --port "$port" --ttft-ms 50 --itl-ms 10 --output-tokens 20 \
  >/tmp/audioperf-mock.out 2>&1 &
mock=$!
trap 'kill $mock 2>/dev/null; wait $mock 2>/dev/null' EXIT
for _ in $(seq 100); do
  grep -q listening /tmp/audioperf-mock.out 2>/dev/null && break
  sleep 0.05
done
"$bin" profile --model Qwen/Qwen2-Audio-7B-Instruct --endpoint-type chat \
  --audio-length-mean 5.0 --audio-format wav --audio-sample-rates 16 \
  --streaming --url "localhost:$port" --request-count 20 --concurrency 4 \
  --tokenizer fixtures/tokenizers/qwen3 "$@"
