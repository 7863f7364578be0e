#!/usr/bin/env python3
"""ttft-wire.py PORT RUN_DIR -- COMMAND...: each request's TTFT error against the wire.

Runs COMMAND (an `audioperf profile ... --export-level raw --output-artifact-dir
RUN_DIR` against `audioperf mock-server --port PORT --timing-in-stream`) while a
packet socket on the loopback device records the kernel's stamp of every TCP
segment to or from PORT (needs root or CAP_NET_RAW). Per request:

    wire TTFT = stamp of the segment carrying the first token event
              - stamp of the segment carrying the request's "POST" line
    error     = client TTFT - wire TTFT

The client TTFT is the raw export's first-token perf_ns - start_perf_ns. The
two are matched by the first token event's mock_timing.arrival_ns, which is
in both. Unlike the mock's own receive stamp (`scripts/ttft-truth.py`), the
wire stamp of a request's first segment is taken before the receiving socket
can merge later segments into it, so it stays exact for large bodies. Prints
one JSON line for the wire error and one for the mock-stamp error of the same
requests: count, p50, p90, p99, max in ms.
"""
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading

SO_TIMESTAMPNS = 35
ETH_P_ALL = 0x0003
SNAP = 1024
ARRIVAL = re.compile(rb'"mock_timing":\{"arrival_ns":(\d+)')


def quantile(xs, q):
    xs = sorted(xs)
    if not xs:
        return float("nan")
    return xs[min(len(xs) - 1, max(0, int(round(q * (len(xs) - 1)))))]


def summary(name, errs):
    return json.dumps({
        "truth": name, "count": len(errs),
        "p50_ms": quantile(errs, 0.50), "p90_ms": quantile(errs, 0.90),
        "p99_ms": quantile(errs, 0.99), "max_ms": max(errs) if errs else float("nan"),
    })


class Capture:
    """Kernel-stamped TCP segments to or from `port` on lo, as they go."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.sock.bind(("lo", 0))
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, 33, 256 << 20)  # SO_RCVBUFFORCE
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 256 << 20)
        self.sock.settimeout(0.2)
        self.post = {}  # client port -> stamp of its latest request line
        self.first_token = {}  # arrival_ns -> wire TTFT, ns
        self.stop = False
        self.thread = threading.Thread(target=self.run)

    def run(self):
        while not self.stop:
            try:
                data, anc, _flags, addr = self.sock.recvmsg(SNAP, 64)
            except socket.timeout:
                continue
            if addr[2] == socket.PACKET_OUTGOING:
                continue  # lo shows each segment twice; keep its arrival
            ns = None
            for level, kind, raw in anc:
                if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                    sec, nsec = struct.unpack("qq", raw[:16])
                    ns = sec * 1_000_000_000 + nsec
            if ns is None or len(data) < 14 + 20 or data[14] >> 4 != 4 or data[14 + 9] != 6:
                continue
            ip = data[14:]
            tcp = ip[(ip[0] & 15) * 4:]
            if len(tcp) < 20:
                continue
            sport, dport = struct.unpack("!HH", tcp[:4])
            payload = tcp[(tcp[12] >> 4) * 4:]
            if not payload:
                continue
            if dport == self.port and payload.startswith(b"POST "):
                self.post[sport] = ns
            elif sport == self.port and dport in self.post:
                m = ARRIVAL.search(payload)
                if m:
                    self.first_token[int(m.group(1))] = ns - self.post[dport]


def client_ttfts(path):
    """arrival_ns -> (client TTFT ns, mock's handed - arrival ns)."""
    out = {}
    with open(path) as f:
        for line in f:
            r = json.loads(line)
            start = r.get("start_perf_ns")
            if start is None:
                continue
            for ev in r.get("responses", []):
                value = next((p.get("value", "") for p in ev.get("packets", [])
                              if p.get("name") == "data" and "mock_timing" in p.get("value", "")), None)
                if value is not None:
                    t = json.loads(value)["mock_timing"]
                    out[t["arrival_ns"]] = (ev["perf_ns"] - start, t["handed_ns"] - t["arrival_ns"])
                    break
    return out


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        sys.exit(__doc__)
    port, run_dir, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[4:]
    cap = Capture(port)
    cap.thread.start()
    rc = subprocess.call(cmd, stdout=subprocess.DEVNULL)
    cap.stop = True
    cap.thread.join()
    if rc != 0:
        sys.exit(f"the command failed (exit {rc})")
    client = client_ttfts(os.path.join(run_dir, "profile_export_raw.jsonl"))
    wire, mock = [], []
    for arrival, (ttft, server) in client.items():
        if arrival in cap.first_token:
            wire.append((ttft - cap.first_token[arrival]) / 1e6)
            mock.append((ttft - server) / 1e6)
    print(summary("wire", wire) + f"  # {len(client)} requests, {len(wire)} matched on the wire")
    print(summary("mock", mock))


if __name__ == "__main__":
    main()
