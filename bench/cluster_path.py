#!/usr/bin/env python3
"""The config path under load, on one etcd and on a three-member cluster (issue #20).

For each size (`--members 1,3`), `sdp up --subarrays 16 --etcd-members N` from target/release,
on free ports, then:

  configure_16_ms   SDPSubarray.Configure round trip while all 16 subarrays are commanded at
                    once: each round, 16 threads (one DeviceProxy each) wait on a barrier and call
                    Configure together, then EndSB; ROUNDS rounds, 0.5 s apart (every PB starts a
                    vis_receive workflow process: let one round's 16 finish starting)
  configure_1_ms    the same Configure, one subarray alone, for comparison
  etcd_*_ms         etcd-baseline against the same etcd with every member's address, as the
                    components are given it: a read, a create-if-absent, and etcd_watch_ms, a put
                    until the client's own watch delivers it

One JSON line per measurement (label `cluster-path`, with `members`).

    python3 bench/cluster_path.py [--members 1,3] [--rounds 20] >> bench/results.jsonl
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from config_path import free_port, pct  # the same helpers as the one-subarray config path

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / os.environ.get("SDP_BENCH_BIN", "target/release")
SUBARRAYS = 16


def row(members, scenario, samples):
    return {"label": "cluster-path", "members": members, "scenario": scenario, "n": len(samples),
            "p50": pct(samples, 50), "p99": pct(samples, 99), "max": round(max(samples), 2)}


def configure_arg(pb_id):
    return json.dumps({"configure": {"id": pb_id, "sbiId": "sbi", "parameters": {}, "scanParameters": {"1": {}},
                                     "workflow": {"type": "realtime", "id": "vis_receive", "version": "0.1.0"}}})


def measure(members, rounds):
    import tango
    tport = free_port()
    state = tempfile.mkdtemp(prefix="sdp-bench-cluster-")
    args = [str(BIN / "sdp"), "up", "--state-dir", state, "--tango-host", f"127.0.0.1:{tport}",
            "--subarrays", str(SUBARRAYS), "--etcd-members", str(members)]
    if members == 1:
        args += ["--etcd-port", str(free_port())]
    up = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
    config_host = None
    for line in up.stdout:
        if "SDP_CONFIG_HOST=" in line:
            config_host = line.split("SDP_CONFIG_HOST=", 1)[1].split()[0]
            if ":" not in config_host:  # one member: the port is SDP_CONFIG_PORT's
                config_host += ":" + line.split("SDP_CONFIG_PORT=", 1)[1].split()[0]
        if line.startswith("Logs:"):
            break
    if up.poll() is not None or config_host is None:
        raise SystemExit(f"sdp up --etcd-members {members} did not come up (see {state}/logs)")
    # keep reading what `sdp up` prints, so it never blocks on a full pipe
    threading.Thread(target=lambda: [None for _ in up.stdout], daemon=True).start()
    out = []
    try:
        urls = [f"tango://127.0.0.1:{tport}/mid_sdp/elt/subarray_{i}" for i in range(1, SUBARRAYS + 1)]
        devices = [tango.DeviceProxy(u) for u in urls]
        for d in devices:
            d.set_timeout_millis(10000)
            d.adminMode = "ONLINE"
            d.AssignResources("")
        together, alone = [], []
        barrier = threading.Barrier(SUBARRAYS)

        def one(n, d, r):
            barrier.wait()
            t = time.perf_counter()
            d.Configure(configure_arg(f"bench-m{members}-r{r}-s{n}"))
            together.append((time.perf_counter() - t) * 1e3)
            d.EndSB()

        for r in range(rounds):
            time.sleep(0.5)
            threads = [threading.Thread(target=one, args=(n, d, r)) for n, d in enumerate(devices)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        for r in range(rounds):
            time.sleep(0.2)
            t = time.perf_counter()
            devices[0].Configure(configure_arg(f"bench-m{members}-alone-{r}"))
            alone.append((time.perf_counter() - t) * 1e3)
            devices[0].EndSB()
        out.append(row(members, "configure_16_ms", together))
        out.append(row(members, "configure_1_ms", alone))
        baseline = subprocess.run([str(BIN / "etcd-baseline"), config_host, "200"], capture_output=True, text=True,
                                  check=True).stdout
        for line in baseline.splitlines():
            b = json.loads(line)
            if b["scenario"] in ("etcd_get_ms", "etcd_create_ms", "etcd_watch_ms"):
                out.append({"label": "cluster-path", "members": members, "scenario": b["scenario"], "n": b["n"],
                            "p50": b["p50"], "p99": b["p99"], "max": b["max"]})
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)
        shutil.rmtree(state, ignore_errors=True)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--members", default="1,3")
    ap.add_argument("--rounds", type=int, default=20)
    a = ap.parse_args()
    for m in [int(x) for x in a.members.split(",")]:
        for r in measure(m, a.rounds):
            print(json.dumps(r), flush=True)


if __name__ == "__main__":
    main()
