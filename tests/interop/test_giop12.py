"""GIOP 1.2 and fragments.

In nodb mode the client uses corbaloc and GIOP 1.0, which has no fragments. To make the
real client talk GIOP 1.2 to the server under test, we start PyTango's own Tango database
(sqlite, shipped in the pytango wheel) on a free port, register test/device/1 in it and
export it with a hand-made IOR (IIOP 1.2 profile -> our server's port, object key = the
device name, as the server accepts for corbaloc).  A DeviceProxy by name then imports that
IOR and omniORB speaks GIOP 1.2, splitting large messages into Fragments."""

import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import pytest
import tango

from conftest import free_port
from interop_helpers import make_ior, raises_devfailed, same


@pytest.fixture(scope="module")
def tango_db(server):
    port = free_port()
    tmp = tempfile.mkdtemp(prefix="tango-db-")
    log = open(os.path.join(tmp, "databaseds.log"), "w")
    env = dict(os.environ, PYTANGO_DATABASE_NAME=os.path.join(tmp, "tango.db"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "tango.databaseds.database", "--host", "127.0.0.1",
         "--port", str(port), "2"],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, cwd=tmp)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                db = tango.Database("127.0.0.1", port)
                db.get_server_list("*")
                break
            except tango.DevFailed:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("Tango database did not start: "
                                       + open(log.name).read())
                time.sleep(0.2)
        info = tango.DbDevInfo()
        info.name, info._class, info.server = "test/device/1", "TestDevice", "TestDevice/test"
        db.add_device(info)
        for name in ("test/device/1", "dserver/testdevice/test"):
            ior = make_ior("127.0.0.1", server.port, name)
            db.command_inout("DbExportDevice", [name, ior, "127.0.0.1", str(server.proc.pid), "5"])
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def dev12(tango_db):
    return tango.DeviceProxy(f"tango://127.0.0.1:{tango_db}/test/device/1")


def test_basic_calls_over_giop12(dev12):
    assert dev12.ping() >= 0
    assert dev12.state() in (tango.DevState.OFF, tango.DevState.ON)
    assert dev12.command_inout("Echo", "over 1.2") == "over 1.2"
    assert dev12.read_attribute("long64Value").value == 1 << 40
    assert dev12.info().dev_class == "TestDevice"


@pytest.mark.parametrize("n", [5000, 100000])
def test_large_spectrum_fragments(dev12, n):
    data = np.arange(n, dtype=np.float64) / 3.0
    dev12.write_attribute("doubleSpectrum", data)  # request split into Fragments
    da = dev12.read_attribute("doubleSpectrum")    # reply split into Fragments
    assert da.dim_x == n
    assert same(da.value, data)


def test_large_command_fragments(dev12):
    data = np.random.default_rng(7).standard_normal(100000)
    data[::1000] = np.nan
    assert same(dev12.command_inout("EchoDoubleArray", data), data)
    text = "y" * 300_000
    assert dev12.command_inout("Echo", text) == text


def test_errors_over_giop12(dev12):
    raises_devfailed(dev12.command_inout, "Fail", reason="SDP_TestFailure",
                     desc="Fail command always fails", origin="TestDevice.Fail()")
    raises_devfailed(dev12.read_attribute, "noSuchAttr", reason="API_AttrNotFound",
                     desc="noSuchAttr attribute not found")


def test_admin_over_giop12(dev12, tango_db):
    adm = tango.DeviceProxy(f"tango://127.0.0.1:{tango_db}/dserver/TestDevice/test")
    assert list(adm.command_inout("QueryDevice")) == ["TestDevice::test/device/1"]
