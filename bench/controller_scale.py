#!/usr/bin/env python3
"""What the processing controller costs per processing block as the database grows (issue #20).

A real etcd (Debian's, throwaway, on 127.0.0.1) and `sdp controller --mode process` (no deployer:
the controller's own work is measured, PB -> workflow deployment). The database is filled with
valid PBs in bulk (etcdctl transactions of 100 puts) up to each level, the controller is let
settle, then PBs are created one at a time and for each one:
  * the controller's CPU (utime + stime from /proc, summed over the measured PBs, per PB), and
  * PB -> deployment latency: between the PB and its deployment arriving on one `etcdctl watch`
    of both (the same path for both events, so etcdctl's own start-up does not count).
One JSON line per level on stdout. Then the cascade: every PB deleted with one
`sdpcfg delete -R /pb` (its time), and the time until the controller has deleted every
deployment and ownership record the PBs owned (one more JSON line). `--markdown` prints tables too.

    python3 bench/controller_scale.py [--levels 100,1000,10000] [--per-level 200] [--sdp target/release/sdp]
"""

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pb_json(pb_id):
    return json.dumps({"parameters": {}, "pb_id": pb_id, "sbi_id": None, "scan_parameters": {},
                       "workflow": {"id": "testdask", "type": "realtime", "version": "0.1.0"}},
                      indent=2, sort_keys=True)


class Etcd:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sdp-bench-etcd-"))
        self.port, peer = free_port(), free_port()
        url, purl = f"http://127.0.0.1:{self.port}", f"http://127.0.0.1:{peer}"
        self.proc = subprocess.Popen(
            ["etcd", "--name", "b", "--data-dir", str(self.dir / "d"), "--listen-client-urls", url,
             "--advertise-client-urls", url, "--listen-peer-urls", purl, "--initial-advertise-peer-urls", purl,
             "--initial-cluster", f"b={purl}", "--log-level", "error", "--logger", "zap",
             "--quota-backend-bytes", str(8 << 30)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
        self.env["ETCDCTL_API"] = "3"
        deadline = time.monotonic() + 20
        while self.ctl("endpoint", "health").returncode != 0:
            if time.monotonic() > deadline:
                raise SystemExit("etcd did not start")
            time.sleep(0.1)

    def ctl(self, *args, stdin=None):
        return subprocess.run(["etcdctl", "--endpoints", f"127.0.0.1:{self.port}", *args], input=stdin,
                              env=self.env, capture_output=True, text=True)

    def bulk(self, ids):
        """Put these PBs, 100 per transaction."""
        for i in range(0, len(ids), 100):
            ops = "\n".join(f"put 2/pb/{pb} {json.dumps(pb_json(pb))}" for pb in ids[i:i + 100])
            r = self.ctl("txn", "--interactive=false", stdin=f"\n{ops}\n\n\n")
            assert r.returncode == 0, r.stderr

    def count(self, prefix):
        # etcdctl 3.4 has no --count-only; a keys-only read of one key still reports the count
        r = self.ctl("get", prefix, "--prefix", "--keys-only", "--limit", "1", "-w", "json")
        return json.loads(r.stdout).get("count", 0)

    def close(self):
        self.proc.kill()
        self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)


def cpu(pid):
    f = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, round(p / 100 * (len(v) - 1)))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--levels", default="100,1000,10000")
    ap.add_argument("--per-level", type=int, default=200)
    ap.add_argument("--sdp", default=str(REPO / "target" / "release" / "sdp"))
    ap.add_argument("--markdown", action="store_true")
    a = ap.parse_args()
    etcd = Etcd()
    env = {**os.environ, "SDP_CONFIG_HOST": "127.0.0.1", "SDP_CONFIG_PORT": str(etcd.port), "SDP_LOG_LEVEL": "warn",
           "SDP_CONTROLLER_RESYNC": "3600"}
    ctl = subprocess.Popen([a.sdp, "controller", "--mode", "process"], env=env, stdout=subprocess.DEVNULL,
                           stderr=open(etcd.dir / "controller.log", "w"))
    created, arrived = {}, {}
    watcher = subprocess.Popen(["etcdctl", "--endpoints", f"127.0.0.1:{etcd.port}", "watch", "2/", "--prefix"],
                               env=etcd.env, stdout=subprocess.PIPE, text=True)

    def read():
        for line in watcher.stdout:
            line = line.strip()
            if line.startswith("2/pb/m"):
                created.setdefault(line[len("2/pb/"):], time.monotonic())
            elif line.startswith("2/deploy/m") and line.endswith("-workflow"):
                arrived.setdefault(line[len("2/deploy/"):-len("-workflow")], time.monotonic())
    threading.Thread(target=read, daemon=True).start()
    rows, have = [], 0
    try:
        for level in [int(x) for x in a.levels.split(",")]:
            fill = [f"fill-{i:06d}" for i in range(have, level)]
            etcd.bulk(fill)
            have = level
            deadline = time.monotonic() + 600
            while etcd.count("2/deploy/") < have:
                if time.monotonic() > deadline or ctl.poll() is not None:
                    raise SystemExit("the controller did not deploy the fill")
                time.sleep(0.5)
            time.sleep(1)
            c0, lat = cpu(ctl.pid), []
            for i in range(a.per_level):
                pb = f"m{level}-{i:05d}"
                r = etcd.ctl("put", f"2/pb/{pb}", pb_json(pb))
                t0 = time.monotonic()
                assert r.returncode == 0, r.stderr
                while pb not in arrived and time.monotonic() - t0 < 30:
                    time.sleep(0.0005)
                lat.append((arrived.get(pb, t0 + 30) - created.get(pb, t0)) * 1000)
            have += a.per_level
            used = cpu(ctl.pid) - c0
            row = {"label": "controller-scale", "pbs": level, "measured": a.per_level,
                   "cpu_ms_per_pb": round(used * 1000 / a.per_level, 3),
                   "latency_p50_ms": round(pct(lat, 50), 2), "latency_p99_ms": round(pct(lat, 99), 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        # The cascade: all PBs at once, then their deployments and ownership records.
        t0 = time.monotonic()
        r = subprocess.run([str(Path(a.sdp).with_name("sdpcfg")), "delete", "-R", "/pb"], env=env,
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        deleted = time.monotonic() - t0
        deadline = time.monotonic() + 1200
        while etcd.count("2/deploy/") or etcd.count("2/ownership/"):
            if time.monotonic() > deadline or ctl.poll() is not None:
                raise SystemExit("the controller did not finish the cascade")
            time.sleep(0.2)
        cascade = {"label": "controller-cascade", "pbs": have, "sdpcfg_delete_s": round(deleted, 2),
                   "cascade_s": round(time.monotonic() - t0, 2)}
        print(json.dumps(cascade), flush=True)
    finally:
        ctl.terminate()
        watcher.terminate()
        etcd.close()
    if a.markdown:
        print("\n| PBs in the database | controller CPU per PB | PB → deployment p50 | p99 |\n|---|---|---|---|")
        for r in rows:
            print(f"| {r['pbs']} | {r['cpu_ms_per_pb']} ms | {r['latency_p50_ms']} ms | {r['latency_p99_ms']} ms |")
        print(f"\nCascade: {cascade['pbs']} PBs deleted by `sdpcfg delete -R /pb` in {cascade['sdpcfg_delete_s']} s; "
              f"every deployment and ownership record gone {cascade['cascade_s']} s after the delete started")


if __name__ == "__main__":
    sys.exit(main())
