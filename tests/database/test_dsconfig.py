"""dsconfig (`json2tango`, `tango2json`: how SKA's Helm charts load device configuration) against
the database under test: write, update-only, removal, the printed DB calls, and the round trip
back to JSON (servers, classes, devices, device/class/attribute properties, aliases).

dsconfig reads the database with `DbMySqlSelect` queries written for MySQL, so this is also the
test that those queries work on the embedded database's SQLite tables.
"""

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

VENV_BIN = Path(os.environ.get("VIRTUAL_ENV", Path(__file__).resolve().parents[2] / ".venv")) / "bin"
JSON2TANGO = shutil.which("json2tango") or str(VENV_BIN / "json2tango")
TANGO2JSON = shutil.which("tango2json") or str(VENV_BIN / "tango2json")

pytestmark = pytest.mark.skipif(not Path(JSON2TANGO).exists(), reason="dsconfig is not installed (make deps)")


def config(speed="3", with_second=True, names=("a", "b")):
    devices = {
        "dscfg/test/1": {
            "properties": {"Speed": [speed], "Names": list(names)},
            "attribute_properties": {"temp": {"unit": ["C"], "max_value": ["100"]}},
            "alias": "dscfg_one",
        },
    }
    if with_second:
        devices["dscfg/test/2"] = {"properties": {"Speed": ["4"]}}
    return {
        "servers": {"DsCfg": {"1": {"DsCfgClass": devices}}},
        "classes": {"DsCfgClass": {"properties": {"Mode": ["fast"]}, "attribute_properties": {"temp": {"label": ["T"]}}}},
    }


def json2tango(tmp_path, cfg, *flags):
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    r = subprocess.run([JSON2TANGO, "--no-colors", *flags, str(path)], capture_output=True, text=True, timeout=120,
                       env=os.environ.copy())
    assert "Traceback" not in r.stderr, r.stderr
    return r


def tango2json(*args):
    r = subprocess.run([TANGO2JSON, "--class-properties", *args], capture_output=True, text=True, timeout=120,
                       env=os.environ.copy())
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def ours(dump):
    """What of a tango2json dump this test wrote."""
    return {"servers": {k: v for k, v in dump["servers"].items() if k == "DsCfg"},
            "classes": {k: v for k, v in dump.get("classes", {}).items() if k == "DsCfgClass"}}


def test_write_then_dump_round_trip(database, tmp_path):
    r = json2tango(tmp_path, config(), "--write")
    assert "Data was written to the Tango DB" in r.stderr + r.stdout, r.stderr
    assert ours(tango2json()) == config()
    assert database.get_device_alias("dscfg_one") == "dscfg/test/1"
    assert list(database.get_device_attribute_property("dscfg/test/1", "temp")["temp"]["max_value"]) == ["100"]
    # the same file again: nothing changes that the file describes
    r = json2tango(tmp_path, config(), "--write")
    assert "Add" not in r.stderr + r.stdout, r.stderr
    print(r.stderr)
    assert ours(tango2json()) == config()


def test_update_only_adds_and_changes(database, tmp_path):
    json2tango(tmp_path, config(), "--write")
    r = json2tango(tmp_path, config(speed="5", with_second=False, names=("a", "b", "c")), "--write", "--update")
    assert "Delete 1 devices" not in r.stderr + r.stdout, r.stderr
    dump = ours(tango2json())
    devs = dump["servers"]["DsCfg"]["1"]["DsCfgClass"]
    assert devs["dscfg/test/1"]["properties"] == {"Speed": ["5"], "Names": ["a", "b", "c"]}
    assert "dscfg/test/2" in devs, "--update never removes a device"


def test_write_removes_what_the_file_no_longer_has(database, tmp_path):
    json2tango(tmp_path, config(), "--write")
    json2tango(tmp_path, config(with_second=False), "--write")
    devs = ours(tango2json())["servers"]["DsCfg"]["1"]["DsCfgClass"]
    assert list(devs) == ["dscfg/test/1"]
    assert "dscfg/test/2" not in [d.lower() for d in database.get_device_name("DsCfg/1", "DsCfgClass")]


def test_dbcalls_are_printed_and_a_dry_run_writes_nothing(database, tmp_path):
    json2tango(tmp_path, config(), "--write")
    before = ours(tango2json())
    r = json2tango(tmp_path, config(speed="9"), "--dbcalls")
    assert "put_device_property" in r.stdout + r.stderr and "'9'" in r.stdout + r.stderr
    assert ours(tango2json()) == before, "without --write nothing is written"


def test_a_device_filter_dumps_one_device(database, tmp_path):
    json2tango(tmp_path, config(), "--write")
    dump = tango2json("device:dscfg/test/2")
    assert dump["servers"] == {"DsCfg": {"1": {"DsCfgClass": {"dscfg/test/2": {"properties": {"Speed": ["4"]}}}}}}
