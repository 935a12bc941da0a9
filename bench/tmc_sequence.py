#!/usr/bin/env python3
"""TMC's observing sequence against the ADR-8 profile (issue #19), on 1 and on 16 subarrays.

`sdp up --interface adr8 --subarrays 16` from target/release (SDP_BENCH_BIN to change), on free
ports; then, for each size, ROUNDS rounds of On -> AssignResources -> Configure -> Scan ->
EndScan -> End -> ReleaseAllResources -> Off, every subarray of the size at once (one thread
and one DeviceProxy each), each command timed as TMC's SDP subarray leaf node sees it: from
sending it to the obsState change event of its final state (AssignResources: IDLE, after the
receive workflow published its addresses). The driver is tests/devices/adr8_support.LeafNode.

One JSON line per (size, command): label `tmc-sequence`, `subarrays`, `command`, `n`,
`p50_ms`, `p99_ms`, `max_ms`; a Markdown table on stderr.

    python3 bench/tmc_sequence.py [--sizes 1,16] [--rounds 10] >> bench/results.jsonl
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / os.environ.get("SDP_BENCH_BIN", "target/release")
sys.path.insert(0, str(REPO / "tests" / "devices"))
os.environ.setdefault("SDP_DEVICES_BIN_DIR", str(BIN))

import tango  # noqa: E402

from adr8_support import (CONFIGURE, CONFIGURING, EMPTY, IDLE, READY, RESOURCING, SCANNING, assign_arg,  # noqa: E402
                          drive_at_once, new_ids, scan_arg, subarray_name)

SEQUENCE = [
    ("On", None, []),
    ("AssignResources", "assign", [RESOURCING, IDLE]),
    ("Configure", CONFIGURE, [CONFIGURING, READY]),
    ("Scan", "scan", [SCANNING]),
    ("EndScan", None, [READY]),
    ("End", None, [IDLE]),
    ("ReleaseAllResources", None, [EMPTY]),
    ("Off", None, []),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(round(q * (len(v) - 1))))]


def start(subarrays, state):
    tango_port, etcd_port = free_port(), free_port()
    log = open(state / "up.log", "w")
    proc = subprocess.Popen([str(BIN / "sdp"), "up", "--state-dir", str(state), "--tango-host", f"127.0.0.1:{tango_port}",
                             "--etcd-port", str(etcd_port), "--subarrays", str(subarrays), "--interface", "adr8"],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while "The SDP is up" not in (state / "up.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError("sdp up did not come up:\n" + (state / "up.log").read_text())
        time.sleep(0.2)
    os.environ["TANGO_HOST"] = f"127.0.0.1:{tango_port}"
    return proc


def one_round(size, rnd, times):
    def drive(n, tmc):
        eb_id, pb = new_ids(f"b{n}r{rnd}")
        for cmd, arg, expect in SEQUENCE:
            arg = assign_arg(eb_id, pb) if arg == "assign" else scan_arg(rnd + 1) if arg == "scan" else arg
            times.setdefault(cmd, []).append(tmc.run(cmd, arg, expect) * 1000)

    errors = drive_at_once([(n, tango.DeviceProxy(subarray_name(n))) for n in range(1, size + 1)], drive)
    if errors:
        raise RuntimeError("; ".join(f"subarray {n}: {e}" for n, e in errors[:3]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="1,16")
    ap.add_argument("--rounds", type=int, default=10)
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",")]
    state = Path(tempfile.mkdtemp(prefix="sdp-bench-tmc-"))
    proc = start(max(sizes), state)
    rows = []
    try:
        for size in sizes:
            times = {}
            for rnd in range(a.rounds):
                one_round(size, rnd, times)
                time.sleep(0.5)  # let the round's workflows finish with their execution blocks
            for cmd, _, _ in SEQUENCE:
                v = times[cmd]
                row = {"label": "tmc-sequence", "subarrays": size, "command": cmd, "n": len(v),
                       "p50_ms": round(percentile(v, 0.5), 2), "p99_ms": round(percentile(v, 0.99), 2), "max_ms": round(max(v), 2)}
                rows.append(row)
                print(json.dumps(row), flush=True)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(60)
        except subprocess.TimeoutExpired:
            proc.kill()
        shutil.rmtree(state, ignore_errors=True)
    print("| subarrays | command | n | p50 ms | p99 ms | max ms |\n|---|---|---|---|---|---|", file=sys.stderr)
    for r in rows:
        print(f"| {r['subarrays']} | {r['command']} | {r['n']} | {r['p50_ms']} | {r['p99_ms']} | {r['max_ms']} |", file=sys.stderr)


if __name__ == "__main__":
    main()
