"""Tango DB mode: SDPSubarray and SDPMaster registered in our embedded Tango database
(`sdp database`, devices/devices.json), device properties TestMode / CbfOutputLink read through
the DeviceContext, clients finding the devices by plain name through TANGO_HOST."""

import json
import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import tango

from conftest import REPO_ROOT, SUBARRAY, MASTER, binary, cfg_seed, free_port, wait_device


class EmbeddedDb:
    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="sdp-devices-tangodb-"))
        self.port = free_port()
        self.procs = []

    @property
    def tango_host(self):
        return f"127.0.0.1:{self.port}"

    def spawn(self, cmd, log, env=None):
        p = subprocess.Popen(cmd, stdout=open(self.tmp / log, "w"), stderr=subprocess.STDOUT,
                             stdin=subprocess.DEVNULL, env=env or os.environ.copy(), cwd=REPO_ROOT)
        self.procs.append(p)
        return p

    def start(self, load=True):
        self.spawn([binary("sdp"), "database", "--port", str(self.port), "--state-dir", str(self.tmp / "state")], "db.log")
        deadline = time.monotonic() + 20
        while True:
            try:
                tango.DeviceProxy(f"tango://{self.tango_host}/sys/database/2").ping()
                break
            except tango.DevFailed:
                if time.monotonic() > deadline:
                    raise RuntimeError((self.tmp / "db.log").read_text())
                time.sleep(0.1)
        if not load:
            return self
        subprocess.run([binary("sdp"), "database", "load", str(REPO_ROOT / "devices" / "devices.json"),
                        "--tango-host", self.tango_host], check=True, capture_output=True, timeout=30)
        return self

    def database(self):
        host, port = self.tango_host.split(":")
        return tango.Database(host, int(port))

    def server(self, exe, instance, env):
        e = {k: v for k, v in os.environ.items() if not k.startswith("SDP_CONFIG")}
        e.update(env)
        e["TANGO_HOST"] = self.tango_host
        p = self.spawn([binary(exe), instance, "-v2"], f"{exe}-{instance}.log", e)
        return p

    def log(self, name):
        return (self.tmp / name).read_text(errors="replace")

    def stop(self):
        for p in reversed(self.procs):
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    p.kill()


@pytest.fixture
def tangodb():
    db = EmbeddedDb().start()
    yield db
    db.stop()


def test_subarray_and_master_in_db_mode_with_properties(tangodb, fresh_etcd):
    db = tangodb.database()
    db.put_device_property(SUBARRAY, {"TestMode": ["true"]})
    tangodb.server("SDPSubarray", "1", fresh_etcd.env)
    tangodb.server("SDPMaster", "1", {})
    sub = wait_device(f"tango://{tangodb.tango_host}/{SUBARRAY}")
    master = wait_device(f"tango://{tangodb.tango_host}/{MASTER}")
    assert master.state() == tango.DevState.ON
    master.on()
    assert master.OperatingState == 1
    # TestMode from the device property: obsState writable
    assert sub.get_attribute_config("obsState").writable == tango.AttrWriteType.READ_WRITE
    sub.obsState = 3
    assert sub.obsState == 3
    sub.Init()
    sub.AssignResources("")
    sub.Configure(cfg_seed("pb-dbmode"))
    assert sub.obsState == 2
    assert json.loads(fresh_etcd.raw("/pb/pb-dbmode"))["sbi_id"] == "xyz"
    # the devices are exported: the database knows where they run
    assert db.get_device_info(SUBARRAY).exported
    assert "SDPSubarray/1" in db.get_server_list("SDPSubarray*").value_string


def test_cbf_output_link_property_needs_the_address(tangodb, fresh_etcd):
    db = tangodb.database()
    db.put_device_property(SUBARRAY, {"CbfOutputLink": ["1"], "TestMode": ["false"]})
    tangodb.server("SDPSubarray", "1", fresh_etcd.env)
    sub = wait_device(f"tango://{tangodb.tango_host}/{SUBARRAY}")
    # TestMode false: obsState is read-only
    assert sub.get_attribute_config("obsState").writable == tango.AttrWriteType.READ
    before = (sub.state(), int(sub.obsState), sub.receiveAddresses)
    with pytest.raises(tango.DevFailed) as info:
        sub.Configure(cfg_seed("pb-nolink"))
    assert info.value.args[0].reason == "SDP_CbfOutputLinkError"
    assert "'cspCbfOutlinkAddress' not found in PB configuration" in info.value.args[0].desc
    assert (sub.state(), int(sub.obsState), sub.receiveAddresses) == before
    assert fresh_etcd.raw("/pb/pb-nolink") is None


def test_auto_registration_in_an_empty_database(fresh_etcd):
    db = EmbeddedDb().start(load=False)
    try:
        db.server("SDPSubarray", "2", fresh_etcd.env)
        db.server("SDPMaster", "1", {})
        sub = wait_device(f"tango://{db.tango_host}/mid_sdp/elt/subarray_2")
        master = wait_device(f"tango://{db.tango_host}/{MASTER}")
        assert sub.obsState == 0 and master.state() == tango.DevState.ON
        assert db.database().get_device_info("mid_sdp/elt/subarray_2").class_name == "SDPSubarray"
        # its state lives under its own number
        sub.AssignResources("")
        assert json.loads(fresh_etcd.raw("/subarray/02"))["state"] == "ON"
    finally:
        db.stop()
