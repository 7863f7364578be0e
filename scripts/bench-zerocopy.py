#!/usr/bin/env python3
"""bench-zerocopy.py: what a MSG_ZEROCOPY send costs against a copying one, by size.

A sender pinned to core 0 sends SIZE-byte buffers over loopback TCP to a reader
pinned to the last core, copying or with MSG_ZEROCOPY (draining the error
queue's notifications as it goes); the sender's user+sys CPU per send is
printed for each, alternating, ROUNDS times, with the share of zero-copy sends
the kernel reported as copied. On loopback the kernel copies every zero-copy
send (the deferred copy of local delivery), so this measures the price of
asking, which is what `--zero-copy auto` pays before it falls back; a real NIC
would need a second host, which this project's machines do not have.

    python3 scripts/bench-zerocopy.py            # sizes 4 KiB .. 216 kB, 3 rounds
    ROUNDS=1 python3 scripts/bench-zerocopy.py
"""
import errno
import os
import resource
import socket
import statistics
import struct

MSG_ZEROCOPY = 0x4000000
SO_ZEROCOPY = 60
MSG_ERRQUEUE = 0x2000
SO_EE_ORIGIN_ZEROCOPY = 5
SO_EE_CODE_ZEROCOPY_COPIED = 1
TOTAL = 1_000_000_000  # bytes per measurement
ROUNDS = int(os.environ.get("ROUNDS", "3"))
LAST = os.cpu_count() - 1


def measure(mode, size):
    ls = socket.socket()
    ls.bind(("127.0.0.1", 0))
    ls.listen(1)
    pid = os.fork()
    if pid == 0:
        os.sched_setaffinity(0, {LAST})
        c, _ = ls.accept()
        buf = bytearray(1 << 20)
        while c.recv_into(buf):
            pass
        os._exit(0)
    os.sched_setaffinity(0, {0})
    s = socket.create_connection(ls.getsockname())
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    flags = 0
    if mode == "zerocopy":
        s.setsockopt(socket.SOL_SOCKET, SO_ZEROCOPY, 1)
        flags = MSG_ZEROCOPY
    data = memoryview(os.urandom(size))
    sends = notified = copied = 0
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    sent = 0
    while sent < TOTAL:
        off = 0
        while off < size:
            try:
                off += s.send(data[off:], flags)
                sends += 1
            except OSError as e:
                # ENOBUFS: no option memory for the notification; send again
                # once the queue is drained below.
                if e.errno != errno.ENOBUFS:
                    raise
            if flags:
                while True:
                    try:
                        _, anc, _, _ = s.recvmsg(0, 1024, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
                    except BlockingIOError:
                        break
                    for _lvl, _typ, d in anc:
                        _err, origin, _t, code, _p, lo, hi = struct.unpack("IBBBBII", d[:16])
                        if origin == SO_EE_ORIGIN_ZEROCOPY:
                            n = hi - lo + 1
                            notified += n
                            copied += n if code & SO_EE_CODE_ZEROCOPY_COPIED else 0
        sent += size
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    s.close()
    os.waitpid(pid, 0)
    cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    return cpu * 1e6 / (TOTAL / size), (copied / notified if notified else None)


print("size      copy us/buffer   zero-copy us/buffer   zc/copy   zero-copy sends the kernel copied")
for size in (4096, 16384, 65536, 216000):
    res = {"copy": [], "zerocopy": []}
    share = None
    for _ in range(ROUNDS):
        for mode in ("copy", "zerocopy"):
            us, c = measure(mode, size)
            res[mode].append(us)
            share = c if c is not None else share
    a, b = statistics.median(res["copy"]), statistics.median(res["zerocopy"])
    print(f"{size:<9} {a:>14.2f} {b:>21.2f} {b / a:>9.2f}   {'n/a' if share is None else f'{100 * share:.0f} %'}")
print(f"\nmethod: sender on core 0, reader on core {LAST}, {TOTAL / 1e9:.0f} GB per measurement, "
      f"median of {ROUNDS} alternating rounds; CPU = sender user+sys (getrusage).")
