#!/usr/bin/env python3
"""Config-path latencies on a running one-machine system (`sdp up` from target/release,
started here; `SDP_BENCH_BIN=target/debug` to measure another build):

  configure_ms          SDPSubarray.Configure round trip (the PB is committed to etcd before it returns);
                        one Configure/EndSB cycle every 0.2 s (each PB starts a vis_receive workflow:
                        back to back, each sample would compete with the last one's process start)
  pb_to_deployment_ms   PB committed (`sdpcfg process` returned) -> /deploy/<pb>-workflow seen by a
                        `sdpcfg watch ls /deploy/` (includes that watch's own delivery: one event,
                        one ranged read); one PB at a time, 0.2 s apart, so each sample sees a
                        system that finished reacting to the previous one
  tango_read_ms         the Tango floor: reading obsState from the same device (PyTango round trip, no work)
  etcd_*_ms             what etcd itself costs on this machine, with the same client library
                        (src/bin/etcd-baseline.rs against the same etcd): a read, a
                        create-if-absent commit (WAL fsync), and Configure's commit shape;
                        etcd_wal_fsync_mean_ms: etcd's own mean WAL fsync time over that run

Configure's own cost is configure_ms minus tango_read_ms minus etcd_create_2_ms (its one etcd
round trip).
Needs `cargo build --release --workspace --bins`.

    python bench/config_path.py [N] >> bench/results.jsonl
"""
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
BIN = REPO / os.environ.get("SDP_BENCH_BIN", "target/release")
N = int(sys.argv[1]) if len(sys.argv) > 1 else 20


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(v, p):
    v = sorted(v)
    return round(v[min(len(v) - 1, int(round(p / 100 * (len(v) - 1))))], 2)


def wal_fsync(port):
    """(sum of seconds, count) of etcd's WAL fsyncs so far, from its /metrics."""
    import urllib.request
    total = count = 0.0
    for line in urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode().splitlines():
        if line.startswith("etcd_disk_wal_fsync_duration_seconds_sum"):
            total = float(line.split()[-1])
        elif line.startswith("etcd_disk_wal_fsync_duration_seconds_count"):
            count = float(line.split()[-1])
    return total, count


def main():
    tport, eport = free_port(), free_port()
    state = tempfile.mkdtemp(prefix="sdp-bench-")
    up = subprocess.Popen([str(BIN / "sdp"), "up", "--state-dir", state, "--tango-host", f"127.0.0.1:{tport}",
                           "--etcd-port", str(eport)], stdout=subprocess.PIPE, text=True)
    for line in up.stdout:
        if line.startswith("Logs:"):
            break
    env = {**os.environ, "TANGO_HOST": f"127.0.0.1:{tport}", "SDP_CONFIG_HOST": "127.0.0.1", "SDP_CONFIG_PORT": str(eport)}
    os.environ.update(env)
    import tango
    try:
        d = tango.DeviceProxy("mid_sdp/elt/subarray_1")
        d.adminMode = "ONLINE"
        d.AssignResources("")
        # The Tango floor: a PyTango round trip to the same device that does no work.
        floor = []
        for _ in range(5 * N):
            t = time.perf_counter()
            d.read_attribute("obsState")
            floor.append((time.perf_counter() - t) * 1e3)
        conf = []
        for i in range(N):
            time.sleep(0.2)  # let the controller, deployer and workflow finish reacting to the last one
            cfg = {"configure": {"id": f"bench-{i}", "sbiId": "sbi", "workflow": {"type": "realtime", "id": "vis_receive", "version": "0.1.0"},
                                 "parameters": {}, "scanParameters": {"1": {}}}}
            t = time.perf_counter()
            d.Configure(json.dumps(cfg))
            conf.append((time.perf_counter() - t) * 1e3)
            d.EndSB()
        seen = {}
        watch = subprocess.Popen([str(BIN / "sdpcfg"), "watch", "ls", "/deploy/"], env=env, stdout=subprocess.PIPE, text=True)

        def reader():
            for line in watch.stdout:
                now = time.perf_counter()
                for key in line.replace(",", " ").split():
                    if key.endswith("-workflow") and key not in seen:
                        seen[key] = now
        threading.Thread(target=reader, daemon=True).start()
        time.sleep(0.5)
        deploy = []
        for _ in range(N):
            time.sleep(0.2)
            out = subprocess.run([str(BIN / "sdpcfg"), "process", "realtime:testdeploy:0.1.0"], env=env, capture_output=True, text=True).stdout
            committed = time.perf_counter()
            key = f"/deploy/{out.strip().split(' = ')[1]}-workflow"
            deadline = time.time() + 10
            while key not in seen and time.time() < deadline:
                time.sleep(0.001)
            if key in seen:
                deploy.append((seen[key] - committed) * 1e3)
        watch.terminate()
        watch.wait(10)
        fsync_before = wal_fsync(eport)
        baseline = subprocess.run([str(BIN / "etcd-baseline"), f"127.0.0.1:{eport}", "200"], capture_output=True, text=True,
                                  check=True).stdout
        fsync_after = wal_fsync(eport)
        print(json.dumps({"label": "config-path", "scenario": "tango_read_ms", "n": len(floor), "p50": pct(floor, 50), "p90": pct(floor, 90),
                          "max": round(max(floor), 2), "target_p50": None}))
        print(json.dumps({"label": "config-path", "scenario": "configure_ms", "n": len(conf), "p50": pct(conf, 50), "p90": pct(conf, 90),
                          "max": round(max(conf), 2), "target_p50": 5}))
        print(json.dumps({"label": "config-path", "scenario": "pb_to_deployment_ms", "n": len(deploy), "p50": pct(deploy, 50),
                          "p90": pct(deploy, 90), "max": round(max(deploy), 2) if deploy else None, "target_p50": 20}))
        sys.stdout.write(baseline)
        n_fsync = fsync_after[1] - fsync_before[1]
        if n_fsync > 0:
            # etcd's own histogram: only the mean is exact (p50 = mean here; no p90/max)
            mean = round((fsync_after[0] - fsync_before[0]) / n_fsync * 1e3, 3)
            print(json.dumps({"label": "config-path", "scenario": "etcd_wal_fsync_mean_ms", "n": int(n_fsync), "p50": mean, "p90": None,
                              "max": None, "target_p50": None}))
    finally:
        up.send_signal(signal.SIGINT)
        up.wait(60)


if __name__ == "__main__":
    main()
