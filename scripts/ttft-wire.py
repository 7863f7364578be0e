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
import ctypes
import json
import os
import re
import socket
import struct
import subprocess
import sys
import threading

from ttft_raw import first_token_timings, quantile

SO_TIMESTAMPNS = 35
SO_ATTACH_FILTER = 26
ETH_P_ALL = 0x0003
SNAP = 1024
ARRIVAL = re.compile(rb'"mock_timing":\{"arrival_ns":(\d+)')


def summary(name, errs):
    return json.dumps({
        "truth": name, "count": len(errs),
        "p50_ms": quantile(errs, 0.50), "p90_ms": quantile(errs, 0.90),
        "p99_ms": quantile(errs, 0.99), "max_ms": max(errs) if errs else float("nan"),
    })


def segment_filter():
    """A classic BPF program that keeps only the segments this script reads:
    TCP over IPv4 whose payload starts with "POST" or is a chunk starting a
    `data: {"mo` event (the first token's mock_timing, after a 2-4 digit chunk
    size). The kernel drops the rest (bodies, ACKs, later tokens) before they
    are queued, so the capture costs the shared cores almost nothing."""
    ins = [
        (0x28, 0, 0, 12),          # ldh [12]: ethertype
        (0x15, 0, 18, 0x0800),     # IPv4, else drop
        (0x30, 0, 0, 23),          # ldb [23]: IP protocol
        (0x15, 0, 16, 6),          # TCP, else drop
        (0x28, 0, 0, 20),          # ldh [20]: fragment offset
        (0x45, 14, 0, 0x1FFF),     # a later fragment: drop
        (0xB1, 0, 0, 14),          # x = IP header length
        (0x50, 0, 0, 26),          # ldb [x+26]: TCP data offset
        (0x54, 0, 0, 0xF0),
        (0x74, 0, 0, 2),           # a = TCP header length
        (0x0C, 0, 0, 0),           # a += x
        (0x07, 0, 0, 0),           # x = a: payload at x+14
        (0x40, 0, 0, 14),          # ld [x+14]
        (0x15, 7, 0, 0x504F5354),  # "POST": keep
        (0x40, 0, 0, 24),          # '{"mo' after a 2-digit chunk size
        (0x15, 5, 0, 0x7B226D6F),
        (0x40, 0, 0, 25),          # ... 3-digit
        (0x15, 3, 0, 0x7B226D6F),
        (0x40, 0, 0, 26),          # ... 4-digit
        (0x15, 1, 0, 0x7B226D6F),
        (0x06, 0, 0, 0),           # drop
        (0x06, 0, 0, SNAP),        # keep SNAP bytes
    ]
    prog = b"".join(struct.pack("HBBI", *i) for i in ins)
    buf = ctypes.create_string_buffer(prog)
    return buf, struct.pack("HL", len(ins), ctypes.addressof(buf))


class Capture:
    """Kernel-stamped TCP segments to or from `port` on lo, as they go."""

    def __init__(self, port):
        self.port = port
        self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        self.filter_buf, fprog = segment_filter()
        self.sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, fprog)
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
    return {t["arrival_ns"]: (ttft, t["handed_ns"] - t["arrival_ns"])
            for ttft, t in first_token_timings(path)}


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
