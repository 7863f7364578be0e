#!/usr/bin/env python3
"""ttft-truth.py RUN_DIR...: each request's TTFT error against the mock's own clock.

Needs a run made with `--export-level raw` against `audioperf mock-server
--timing-in-stream`: the mock puts into each stream's first token event the
kernel's receive stamp of the request's first bytes (arrival_ns) and the moment
it handed that event to its socket (handed_ns). Per request:

    error = client TTFT - (handed_ns - arrival_ns)

where the client TTFT is the raw export's first-token perf_ns - start_perf_ns
(what TTFT is computed from). Each difference is taken on one host's one clock,
so no clock is compared with another. The error is what the client adds: its
start stamp to the request's first bytes reaching the server's kernel, plus the
token's way back to the client and the client's stamp of it. Prints one JSON
line per run directory: count, p50, p90, p99, max in ms.
"""
import json
import os
import sys

from ttft_raw import first_token_timings, quantile


def errors(path):
    return [(ttft - (t["handed_ns"] - t["arrival_ns"])) / 1e6
            for ttft, t in first_token_timings(path)]


for d in sys.argv[1:]:
    path = os.path.join(d, "profile_export_raw.jsonl")
    e = errors(path) if os.path.exists(path) else []
    print(json.dumps({
        "run": d, "count": len(e),
        "p50_ms": quantile(e, 0.50), "p90_ms": quantile(e, 0.90),
        "p99_ms": quantile(e, 0.99), "max_ms": max(e) if e else float("nan"),
    }))
