#!/usr/bin/env bash
# Runs every test: unit and property tests, then the end-to-end tests that run
# the real binary against the real mock server on 127.0.0.1. The end-to-end
# tests check timings, so they run one at a time on this 2-core machine.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo test --locked --lib --bins
cargo test --locked --test '*' -- --test-threads=1
