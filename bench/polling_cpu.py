#!/usr/bin/env python3
"""What polling costs the server: 100 scalar attributes polled every 100 ms (1000 readings
per second into the ring buffers), server CPU measured from /proc over a window, for our
TestDevice server and for cppTango's TangoTest, same client, same pinning, same run.

Each server hosts 6 devices and polls their scalar attributes until 100 are polled (TangoTest
has 19 usable scalar attributes per device, so 100 attributes need several devices on both
sides). Polling
is set up as a user would, with AddObjPolling through the admin device; the window starts
after a warm-up so the rings are full.

    python bench/polling_cpu.py [--seconds 10] [--out bench/polling.md]

Prints one JSON line per server and writes a Markdown table.
"""

import argparse
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import tango

REPO = Path(__file__).resolve().parents[1]
SKIP = {"no_value", "throw_exception", "failingValue", "State", "Status"}
N_DEVICES, TOTAL, PERIOD_MS = 6, 100, 100


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(label, exe, cls_devices, admin, seconds, cpu):
    port = free_port()
    cmd = ["taskset", "-c", str(cpu), *exe, "bench", "-nodb", "-dlist", ",".join(cls_devices),
           "-ORBendPoint", f"giop:tcp:127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    try:
        url = lambda d: f"tango://127.0.0.1:{port}/{d}#dbase=no"  # noqa: E731
        deadline = time.monotonic() + 30
        while True:
            try:
                tango.DeviceProxy(url(cls_devices[0])).ping()
                break
            except tango.DevFailed:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        adm = tango.DeviceProxy(url(admin))
        idle0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds / 2)
        idle = (cpu_seconds(proc.pid) - idle0) / (time.monotonic() - t0)
        polled = 0
        for d in cls_devices:
            attrs = [a.name for a in tango.DeviceProxy(url(d)).attribute_list_query_ex()
                     if a.data_format == tango.AttrDataFormat.SCALAR and a.name not in SKIP][:TOTAL - polled]
            if polled == 0:
                first_attr = attrs[0]
            for a in attrs:
                adm.command_inout("AddObjPolling", [[PERIOD_MS], [d, "attribute", a]])
                polled += 1
        time.sleep(3)  # warm-up: rings fill
        c0, t0 = cpu_seconds(proc.pid), time.monotonic()
        time.sleep(seconds)
        busy = (cpu_seconds(proc.pid) - c0) / (time.monotonic() - t0)
        first = tango.DeviceProxy(url(cls_devices[0]))
        hist = len(first.attribute_history(first_attr, 100))
        return {"bench": "polling_cpu", "server": label, "attributes": polled, "period_ms": PERIOD_MS,
                "seconds": seconds, "cpu_idle_pct": round(100 * idle, 2), "cpu_polling_pct": round(100 * busy, 2),
                "us_per_reading": round(1e6 * (busy - idle) / (polled * 1000 / PERIOD_MS), 2), "ring_records": hist}
    finally:
        proc.terminate()
        proc.wait(10)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--cpu", type=int, default=0, help="CPU the servers are pinned to")
    ap.add_argument("--rust", default=os.environ.get("RUST_TEST_DEVICE", "target/release/TestDevice"))
    ap.add_argument("--tangotest", default="/usr/lib/tango/TangoTest")
    ap.add_argument("--out", default="bench/polling.md")
    a = ap.parse_args()
    rows = [
        measure("rust TestDevice", [a.rust], [f"test/device/{i}" for i in range(1, N_DEVICES + 1)],
                "dserver/TestDevice/bench", a.seconds, a.cpu),
        measure("cppTango TangoTest 9.3", [a.tangotest], [f"sys/tg_test/{i}" for i in range(1, N_DEVICES + 1)],
                "dserver/TangoTest/bench", a.seconds, a.cpu),
    ]
    for r in rows:
        print(json.dumps(r))
    lines = ["# Polling cost: 100 attributes every 100 ms", "",
             f"Server pinned to cpu{a.cpu}; CPU over {a.seconds:g} s after a 3 s warm-up; `python bench/polling_cpu.py`.", "",
             "| server | attributes | CPU idle % | CPU polling % | µs CPU per reading | records in ring |",
             "|---|---|---|---|---|---|"]
    lines += [f"| {r['server']} | {r['attributes']} | {r['cpu_idle_pct']} | {r['cpu_polling_pct']} | "
              f"{r['us_per_reading']} | {r['ring_records']} |" for r in rows]
    Path(a.out).write_text("\n".join(lines) + "\n")
    print(f"wrote {a.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
