"""What scripts/ttft-truth.py and scripts/ttft-wire.py both read from a raw export."""
import json


def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


def first_token_timings(path):
    """Yields (client TTFT ns, mock_timing dict) for each profiling request of
    the raw export at `path` whose first token event carries mock_timing."""
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            start = r.get("start_perf_ns")
            if start is None or r.get("metadata", {}).get("benchmark_phase") == "warmup":
                continue
            for ev in r.get("responses", []):
                value = next((p.get("value", "") for p in ev.get("packets", [])
                              if p.get("name") == "data" and "mock_timing" in p.get("value", "")), None)
                if value is not None:
                    yield ev["perf_ns"] - start, json.loads(value)["mock_timing"]
                    break
