"""Crash safety of the embedded database: `sdp database` SIGKILLed in the middle of a dsconfig
`json2tango` load of 1 000 devices leaves a database file that opens, passes SQLite's integrity
check, and holds either the whole effect of each command or none of it; the database then
starts again on it and serves.

Each device of the load is one `DbAddDevice` (device + admin device), one `DbPutDeviceProperty`
(two properties, one with three values) and one `DbPutDeviceAttributeProperty2`; a half-applied
command would show as a device without its admin device, a property with fewer values, or a
property without its history rows.
"""

import json
import os
import signal
import sqlite3
import subprocess
import time

import pytest
import tango

from conftest import SDP, free_port, only_embedded, port_open, stop_process, wait_for
from test_dsconfig import JSON2TANGO

pytestmark = [only_embedded, pytest.mark.skipif(not os.path.exists(JSON2TANGO), reason="dsconfig is not installed")]

N_DEVICES = 1000


def load_file(path):
    devices = {f"crash/dev/{i}": {"properties": {"Speed": [str(i)], "Names": ["a", "b", str(i)]},
                                  "attribute_properties": {"temp": {"unit": ["C"], "max_value": [str(i)]}}}
               for i in range(N_DEVICES)}
    path.write_text(json.dumps({"servers": {"Crash": {"1": {"CrashClass": devices}}}}))


def start_db(state, port):
    proc = subprocess.Popen([str(SDP), "database", "--port", str(port), "--state-dir", str(state)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wait_for(lambda: port_open(port), "sdp database did not start", proc=proc)
    return proc


def test_sigkill_during_a_json2tango_load_keeps_each_command_whole(tmp_path):
    state, port = tmp_path / "state", free_port()
    cfg = tmp_path / "load.json"
    load_file(cfg)
    db_proc = start_db(state, port)
    env = dict(os.environ, TANGO_HOST=f"127.0.0.1:{port}")
    loader = subprocess.Popen([JSON2TANGO, "--write", "--quiet", "--no-colors", str(cfg)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        db = tango.Database("127.0.0.1", port)
        deadline = time.monotonic() + 300
        while len(list(db.get_device_name("Crash/1", "CrashClass"))) < 100:
            assert loader.poll() is None, "the load finished before the database could be killed: make it bigger"
            assert time.monotonic() < deadline, "the load did not start"
            time.sleep(0.05)
        os.kill(db_proc.pid, signal.SIGKILL)
        db_proc.wait(10)
    finally:
        stop_process(loader)

    # the file opens (SQLite replays or drops the WAL) and is whole
    conn = sqlite3.connect(state / "tango-db.sqlite")
    assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    devices = [r[0] for r in conn.execute("SELECT name FROM device WHERE class = 'CrashClass'")]
    assert 0 < len(devices) < N_DEVICES, f"the kill was not in the middle of the load ({len(devices)} devices)"
    assert conn.execute("SELECT COUNT(*) FROM device WHERE name = 'dserver/Crash/1'").fetchone() == (1,)
    props = {}
    for dev, name, count, value in conn.execute(
            "SELECT device, name, count, value FROM property_device WHERE device LIKE 'crash/dev/%' ORDER BY device, name, count"):
        props.setdefault(dev, {}).setdefault(name, []).append(value)
    for dev, p in props.items():
        i = dev.rsplit("/", 1)[1]
        assert p == {"Names": ["a", "b", i], "Speed": [i]}, f"{dev}: a DbPutDeviceProperty was applied in part: {p}"
        assert dev in devices
        hist = conn.execute("SELECT COUNT(*) FROM property_device_hist WHERE device = ?", (dev,)).fetchone()[0]
        assert hist == 4, f"{dev}: {hist} history rows for 4 values"
    for dev, n in conn.execute("SELECT device, COUNT(*) FROM property_attribute_device WHERE device LIKE 'crash/dev/%' "
                               "GROUP BY device"):
        assert n == 2, f"{dev}: a DbPutDeviceAttributeProperty2 was applied in part"
    conn.close()

    # and the database starts again on it and serves what it holds
    port2 = free_port()
    db_proc = start_db(state, port2)
    try:
        db = tango.Database("127.0.0.1", port2)
        wait_for(lambda: db.get_server_list("Crash/*") is not None, "the restarted database does not answer")
        assert sorted(list(db.get_device_name("Crash/1", "CrashClass"))) == sorted(devices)
        some = next(iter(props))
        assert list(db.get_device_property(some, "Names")["Names"]) == props[some]["Names"]
    finally:
        stop_process(db_proc)
