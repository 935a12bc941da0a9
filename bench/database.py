"""Issue #18's database speed: the embedded database (`sdp database` from target/release) against
Debian's C++ DataBaseds on a throwaway MariaDB and PyTango's sqlite DataBaseds, same client, same
run, each database pinned to cpu0 and the client to cpu1 (as `make bench`'s split placement).

Per database: DbImportDevice, DbGetDeviceProperty, DbPutDeviceProperty and TangoGQL's device query
through DbMySqlSelect (`SELECT name, alias, ... FROM device WHERE name IN (...)`, 10 names; also
timed right after a write, which the embedded database's kept results cannot answer), each
for DURATION seconds from one PyTango client (ops/s, p50 latency, and the database processes'
CPU per operation from /proc: for the C++ one DataBaseds plus mariadbd); then the time to load a
5 000-device dsconfig file with `json2tango --write`. One JSON line per measurement on stdout
(label "database"); bench/report.py tabulates them. Nothing here asserts a time.

    .venv/bin/python bench/database.py [--duration 3] [--devices 5000] [--kinds embedded,mariadb,pytango]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "database"))
os.environ.setdefault("SDP_BINARY", "target/release/sdp")

import conftest  # noqa: E402  (starts each kind of database the way the suite does)
import tango  # noqa: E402

GQL_FIELDS = "name, alias, exported, ior, host, server, pid, class, version, started, stopped"


def pin(pid, cpu):
    """All threads of `pid` on `cpu` (when there is more than one CPU)."""
    if shutil.which("taskset") and (os.cpu_count() or 1) > 1:
        subprocess.run(["taskset", "-a", "-p", "-c", str(cpu), str(pid)], capture_output=True)


TICK_US = 1e6 / os.sysconf("SC_CLK_TCK")


def cpu_us(pids):
    """User + system CPU of the database's processes (for MariaDB: DataBaseds and mariadbd)."""
    total = 0
    for pid in pids:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total * TICK_US


def rate(fn, duration, pids, before=None):
    """`fn` timed call by call; `before`, if given, runs untimed ahead of each call (its CPU
    is then in the server's, so no CPU per operation is reported)."""
    fn()  # warm-up (connection, caches)
    lat = []
    cpu0 = cpu_us(pids)
    end = time.perf_counter() + duration
    while True:
        if before:
            before()
        t0 = time.perf_counter()
        fn()
        t1 = time.perf_counter()
        lat.append(t1 - t0)
        if t1 >= end:
            break
    cpu = cpu_us(pids) - cpu0
    lat.sort()
    return {"ops_per_s": round(len(lat) / sum(lat), 1), "p50_us": round(lat[len(lat) // 2] * 1e6, 1),
            "p99_us": round(lat[len(lat) * 99 // 100] * 1e6, 1), "n": len(lat),
            "server_cpu_us_per_op": None if before else round(cpu / len(lat), 1)}


def dsconfig_file(path, n):
    devices = {f"bench/load/{i}": {"properties": {"Speed": [str(i)], "Names": ["a", "b"]},
                                   "attribute_properties": {"temp": {"unit": ["C"]}}} for i in range(n)}
    path.write_text(json.dumps({"servers": {"BenchLoad": {"1": {"BenchLoadClass": devices}}}}))


def measure(kind, duration, n_load):
    db = conftest.TangoDb(kind).start()
    try:
        for p in db.procs:
            pin(p.pid, 0)
        os.sched_setaffinity(0, {1 % (os.cpu_count() or 1)})
        os.environ["TANGO_HOST"] = db.tango_host
        dev = tango.DeviceProxy(f"tango://{db.tango_host}/sys/database/2")
        dev.set_timeout_millis(60_000)
        names = [f"bench/db/{i}" for i in range(10)]
        dev.command_inout("DbAddServer", ["BenchDb/1"] + [x for n in names for x in (n, "BenchDbClass")])
        for n in names:
            dev.command_inout("DbPutDeviceProperty", [n, "2", "Speed", "1", "3", "Names", "2", "a", "b"])
        dev.command_inout("DbExportDevice", [names[0], "IOR:0000", "localhost", "1", "5"])
        gql = f"SELECT {GQL_FIELDS} FROM device WHERE name IN({','.join(repr(n) for n in names)})"
        i = iter(range(10**9))
        select = lambda: dev.command_inout("DbMySqlSelect", gql)  # noqa: E731
        put = lambda n: lambda: dev.command_inout("DbPutDeviceProperty", [n, "1", "Speed", "1", str(next(i))])  # noqa: E731
        # name: (timed call, untimed call before each). The last is the query right after a
        # write: the embedded database keeps a repeated query's result until anything
        # changes, so there the query runs afresh.
        scenarios = {
            "DbImportDevice": (lambda: dev.command_inout("DbImportDevice", names[0]), None),
            "DbGetDeviceProperty": (lambda: dev.command_inout("DbGetDeviceProperty", [names[1], "Speed", "Names"]), None),
            "DbPutDeviceProperty": (put(names[2]), None),
            "DbMySqlSelect_tangogql_devices": (select, None),
            "DbMySqlSelect_tangogql_devices_after_write": (select, put(names[3])),
        }
        pids = [p.pid for p in db.procs]
        for name, (fn, before) in scenarios.items():
            print(json.dumps({"label": "database", "kind": kind, "scenario": name, **rate(fn, duration, pids, before)}), flush=True)
        with tempfile.TemporaryDirectory() as d:
            cfg = Path(d) / "load.json"
            dsconfig_file(cfg, n_load)
            json2tango = shutil.which("json2tango") or str(ROOT / ".venv" / "bin" / "json2tango")
            t0 = time.perf_counter()
            r = subprocess.run([json2tango, "--write", "--quiet", "--no-colors", str(cfg)], capture_output=True, text=True,
                               env=os.environ.copy())
            took = time.perf_counter() - t0
            ok = len(list(tango.Database().get_device_name("BenchLoad/1", "BenchLoadClass"))) == n_load
            print(json.dumps({"label": "database", "kind": kind, "scenario": f"json2tango_{n_load}_devices",
                              "seconds": round(took, 2), "complete": ok, "rc": r.returncode}), flush=True)
    finally:
        db.stop()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--duration", type=float, default=3)
    ap.add_argument("--devices", type=int, default=5000)
    ap.add_argument("--kinds", default="embedded,mariadb,pytango")
    a = ap.parse_args()
    for kind in a.kinds.split(","):
        print(f"== database bench: {kind}", file=sys.stderr)
        measure(kind, a.duration, a.devices)


if __name__ == "__main__":
    main()
