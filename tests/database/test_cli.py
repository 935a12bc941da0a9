"""`sdp database` and `sdp database load`: what users see when something is wrong."""

import json
import os
import socket
import subprocess
import tempfile
from pathlib import Path


from conftest import SDP, free_port, only_embedded


def sdp(*args, env=None, timeout=30):
    return subprocess.run([str(SDP), *args], capture_output=True, text=True, timeout=timeout, env=env or os.environ.copy())


def test_load_registers_servers_classes_and_properties(database, tmp_path):
    doc = {
        "servers": {"LoadServer": {"7": {"LoadClass": {"load/dev/1": {
            "properties": {"Limit": ["5"], "Names": ["a", "b"]},
            "attribute_properties": {"obsState": {"abs_change": ["1"]}}}}}}},
        "classes": {"LoadClass": {"properties": {"TestMode": ["1"]}}},
    }
    f = tmp_path / "devices.json"
    f.write_text(json.dumps(doc))
    r = sdp("database", "load", str(f))
    assert r.returncode == 0, r.stderr
    assert list(database.get_device_name("LoadServer/7", "LoadClass")) == ["load/dev/1"]
    assert list(database.get_device_property("load/dev/1", "Names")["Names"]) == ["a", "b"]
    assert list(database.get_class_property("LoadClass", "TestMode")["TestMode"]) == ["1"]
    got = database.get_device_attribute_property("load/dev/1", ["obsState"])
    assert list(got["obsState"]["abs_change"]) == ["1"]


def test_load_refuses_a_bad_document_and_registers_nothing(database, tmp_path):
    f = tmp_path / "bad.json"
    f.write_text(json.dumps({"servers": {"Bad/1": {"BadClass": {"bad/dev/1": {}, "not-a-name": {}}}}}))
    r = sdp("database", "load", str(f))
    assert r.returncode == 1
    assert "servers.Bad/1.BadClass.not-a-name" in r.stderr and "domain/family/member" in r.stderr
    assert list(database.get_device_name("Bad/1", "*")) == []
    f.write_text("{ not json")
    r = sdp("database", "load", str(f))
    assert r.returncode == 1 and "not valid JSON" in r.stderr


def test_load_says_when_the_database_is_unreachable(tmp_path):
    f = tmp_path / "ok.json"
    f.write_text(json.dumps({"servers": {"S/1": {"C": {"a/b/c": {}}}}}))
    dead = free_port()
    r = sdp("database", "load", str(f), "--tango-host", f"127.0.0.1:{dead}")
    assert r.returncode == 1
    assert f"127.0.0.1:{dead}" in r.stderr and "no Tango database reachable" in r.stderr
    env = {k: v for k, v in os.environ.items() if k != "TANGO_HOST"}
    r = sdp("database", "load", str(f), env=env)
    assert r.returncode == 1 and "TANGO_HOST is not set" in r.stderr


@only_embedded
def test_database_refuses_a_busy_port_and_a_damaged_state_file():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        r = sdp("database", "--port", str(port))
        assert r.returncode == 1 and f"cannot listen on 127.0.0.1:{port}" in r.stderr
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "tango-db.json").write_text("{ damaged")
        r = sdp("database", "--port", str(free_port()), "--state-dir", d)
        assert r.returncode == 1 and "tango-db.json is not valid" in r.stderr
        assert (Path(d) / "tango-db.json").read_text() == "{ damaged", "a damaged state is never overwritten"
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "tango-db.sqlite").write_bytes(b"not a database" * 100)
        r = sdp("database", "--port", str(free_port()), "--state-dir", d)
        assert r.returncode == 1 and "tango-db.sqlite" in r.stderr and "not a database" in r.stderr
        assert (Path(d) / "tango-db.sqlite").read_bytes() == b"not a database" * 100


@only_embedded
def test_server_without_tango_host_says_what_to_do():
    from conftest import TEST_DEVICE
    env = {k: v for k, v in os.environ.items() if k != "TANGO_HOST"}
    r = subprocess.run([str(TEST_DEVICE), "test"], capture_output=True, text=True, timeout=30, env=env)
    assert r.returncode == 1
    assert "TANGO_HOST is not set" in r.stderr and "-nodb" in r.stderr


@only_embedded
def test_a_json_state_dir_of_an_earlier_release_is_migrated(tmp_path):
    """`tango-db.json` (the JSON state of earlier releases) is imported into SQLite on the first
    start and kept as `tango-db.json.migrated`; the second start does not import it again."""
    import tango
    from conftest import port_open, stop_process, wait_for
    state = tmp_path / "state"
    state.mkdir()
    legacy = {"format": 1, "state": {
        "devices": {
            "old/dev/1": {"name": "old/dev/1", "server": "Old/1", "class": "OldClass", "alias": "olddev", "exported": False,
                          "ior": "nada", "version": "0", "host": "nada", "pid": 0},
            "dserver/old/1": {"name": "dserver/Old/1", "server": "Old/1", "class": "DServer", "exported": False,
                              "ior": "nada", "version": "0", "host": "nada", "pid": 0}},
        "device_props": {"old/dev/1": {"limit": {"name": "Limit", "values": ["5", "6"]}}},
        "class_props": {"oldclass": {"mode": {"name": "Mode", "values": ["x"]}}}}}
    (state / "tango-db.json").write_text(json.dumps(legacy))
    for start in range(2):
        port = free_port()
        proc = subprocess.Popen([str(SDP), "database", "--port", str(port), "--state-dir", str(state)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: port_open(port), "sdp database did not start", proc=proc)
            db = tango.Database("127.0.0.1", port)
            assert list(db.get_device_name("Old/1", "OldClass")) == ["old/dev/1"], f"start {start}"
            assert db.get_device_alias("olddev") == "old/dev/1"
            assert list(db.get_device_property("old/dev/1", "Limit")["Limit"]) == ["5", "6"]
            assert list(db.get_class_property("OldClass", "Mode")["Mode"]) == ["x"]
        finally:
            stop_process(proc)
        assert not (state / "tango-db.json").exists()
        assert json.loads((state / "tango-db.json.migrated").read_text()) == legacy
