"""Device servers registering in the database under test: our Rust TestDevice (no -nodb),
Debian's cppTango TangoTest; clients reach them by plain name; itango lists them."""

import os
import subprocess
import sys
import time

import pytest
import tango

from conftest import (REPO_ROOT, SDP, TANGO_TEST, TEST_DEVICE, DeviceServer, TangoDb, free_port, only_embedded,
                      register, stop_process, wait_for)

ENDPOINT = ["-ORBendPoint", "giop:tcp:127.0.0.1:"]


@pytest.fixture(scope="module")
def rust_server(database):
    register(database, "TestDevice/test", "TestDevice", "test/device/1")
    srv = DeviceServer([str(TEST_DEVICE), "test", *ENDPOINT], "TestDevice/test").start(wait_device="test/device/1")
    yield srv
    srv.stop()


def test_rust_server_by_plain_name(rust_server, database):
    dev = tango.DeviceProxy("test/device/1")
    assert dev.ping() >= 0
    assert dev.command_inout("Echo", "through the database") == "through the database"
    assert dev.info().server_id == "TestDevice/test"
    assert dev.adm_name().lower().endswith("dserver/testdevice/test")
    adm = tango.DeviceProxy("dserver/TestDevice/test")
    assert list(adm.command_inout("QueryDevice")) == ["TestDevice::test/device/1"]
    info = database.get_device_info("test/device/1")
    assert info.exported == 1
    assert info.pid == rust_server.proc.pid
    assert info.version == "5"
    ior = database.import_device("test/device/1").ior
    assert ior.startswith("IOR:")
    assert database.get_device_info("dserver/TestDevice/test").exported == 1


def test_rust_server_events_in_database_mode(rust_server):
    """DB-mode event topics (tango://<TANGO_HOST>/...): change events pushed by the device and
    periodic events from polling reach a client that found the device by name."""
    dev = tango.DeviceProxy("test/device/1")
    dev.command_inout("Init")
    changes, periodic = [], []
    e1 = dev.subscribe_event("obsState", tango.EventType.CHANGE_EVENT, changes.append)
    e2 = dev.subscribe_event("counter", tango.EventType.PERIODIC_EVENT, periodic.append)
    try:
        dev.command_inout("AssignResources", "{}")
        wait_for(lambda: [e.attr_value.value for e in changes if not e.err][-1:] == [2], f"no change event: {changes}", timeout=10)
        wait_for(lambda: sum(1 for e in periodic if not e.err) >= 3, f"no periodic events: {periodic}", timeout=10)
        assert changes[-1].attr_name.startswith(f"tango://{os.environ['TANGO_HOST']}/test/device/1/"), changes[-1].attr_name
    finally:
        dev.unsubscribe_event(e1)
        dev.unsubscribe_event(e2)
    dev.command_inout("Init")


def test_itango_lsdev_lists_registered_devices(rust_server):
    # the project's device list, loaded with `sdp database load` (works with any Tango DB)
    out = subprocess.run([str(SDP), "database", "load", str(REPO_ROOT / "devices" / "devices.json")],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert "loaded 2 device(s)" in out.stdout
    ipython = os.path.join(os.path.dirname(sys.executable), "ipython")
    r = subprocess.run([ipython, "--ext=itango", "--no-banner", "--colors=NoColor", "-c", "%lsdev"],
                       capture_output=True, text=True, timeout=120, env=os.environ.copy())
    rows = {}
    for line in r.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].count("/") == 2:
            rows[parts[0]] = (parts[-2], parts[-1])
    assert rows.get("mid_sdp/elt/master") == ("SDPMaster/1", "SDPMaster"), r.stdout + r.stderr
    assert rows.get("mid_sdp/elt/subarray_1") == ("SDPSubarray/1", "SDPSubarray"), r.stdout
    assert rows.get("sys/database/2") == ("DataBaseds/2", "DataBase"), r.stdout
    assert rows.get("test/device/1") == ("TestDevice/test", "TestDevice"), r.stdout
    assert not any(name.startswith("dserver/") for name in rows)


def test_unexport_at_sigterm(database):
    register(database, "TestDevice/term", "TestDevice", "test/device/term")
    srv = DeviceServer([str(TEST_DEVICE), "term", *ENDPOINT], "TestDevice/term").start(wait_device="test/device/term")
    assert database.get_device_info("test/device/term").exported == 1
    assert stop_process(srv.proc) == 0, srv.log_text()
    assert database.get_device_info("test/device/term").exported == 0
    assert database.get_device_info("dserver/TestDevice/term").exported == 0
    with pytest.raises(tango.DevFailed):
        tango.DeviceProxy("test/device/term").ping()


def test_server_without_devices_in_the_database_runs_its_admin_device(database):
    srv = DeviceServer([str(TEST_DEVICE), "empty", *ENDPOINT], "TestDevice/empty")
    # DbAddServer-less start: only the admin device exists; it must still be exported
    register(database, "TestDevice/empty", "OtherClass", "test/other/1")
    srv.start(wait_device="dserver/TestDevice/empty")
    try:
        assert "no device of server TestDevice/empty" in srv.log_text()
        assert list(tango.DeviceProxy("dserver/TestDevice/empty").command_inout("QueryDevice")) == []
    finally:
        srv.stop()


@pytest.mark.skipif(not TANGO_TEST.exists(), reason="Debian tango-test is not installed (make deps)")
def test_cpptango_tangotest_registers_and_is_reached_by_name(database):
    register(database, "TangoTest/dbtest", "TangoTest", "sys/tg_test/dbtest")
    srv = DeviceServer([str(TANGO_TEST), "dbtest", *ENDPOINT], "TangoTest/dbtest").start(wait_device="sys/tg_test/dbtest")
    try:
        dev = tango.DeviceProxy("sys/tg_test/dbtest")
        assert dev.command_inout("DevString", "via our db") == "via our db"
        dev.write_attribute("double_scalar_w", 2.5)
        assert dev.read_attribute("double_scalar_w").w_value == 2.5
        assert dev.info().server_id == "TangoTest/dbtest"
        assert database.get_device_info("sys/tg_test/dbtest").exported == 1
        assert "sys/tg_test/dbtest" in database.get_device_exported("sys/tg_test/*")
    finally:
        assert stop_process(srv.proc) is not None
    wait_for(lambda: database.get_device_info("sys/tg_test/dbtest").exported == 0, "TangoTest did not unexport", timeout=10)


@only_embedded
def test_server_waits_for_a_database_that_starts_later():
    """TANGO_HOST points at a port where nothing listens yet: the server retries with a clear
    log line, then registers once the database is there."""
    late = TangoDb("embedded")
    env = dict(os.environ, TANGO_HOST=late.tango_host)
    srv = DeviceServer([str(TEST_DEVICE), "late", *ENDPOINT], "TestDevice/late", env=env).start()
    try:
        wait_for(lambda: "retrying" in srv.log_text(), "no retry log line", proc=srv.proc, log=srv.log.name)
        assert srv.proc.poll() is None
        late.start()
        db = tango.Database("127.0.0.1", late.port)
        register(db, "TestDevice/late", "TestDevice", "test/device/late")
        wait_for(lambda: db.get_device_info("test/device/late").exported == 1, "server never registered",
                 proc=srv.proc, log=srv.log.name)
        assert tango.DeviceProxy(f"tango://{late.tango_host}/test/device/late").command_inout("Echo", "x") == "x"
        # the database goes away: the device keeps answering clients that already know it
        direct = tango.DeviceProxy(f"tango://{late.tango_host}/test/device/late")
        direct.ping()
        stop_process(late.main)
        assert direct.command_inout("Echo", "still here") == "still here"
    finally:
        assert stop_process(srv.proc) == 0, srv.log_text()
        late.stop()


@only_embedded
def test_restart_keeps_registrations_and_properties():
    db1 = TangoDb("embedded").start()
    try:
        d = tango.Database("127.0.0.1", db1.port)
        register(d, "Keep/k", "KeepClass", "test/keep/1")
        d.put_device_property("test/keep/1", {"P": ["1", "2"]})
        d.put_class_property("KeepClass", {"C": ["x"]})
        stop_process(db1.main)
        db1.procs.remove(db1.main)
        db1.start()  # same port, same state dir
        d = tango.Database("127.0.0.1", db1.port)
        assert list(d.get_device_name("Keep/k", "KeepClass")) == ["test/keep/1"]
        assert list(d.get_device_property("test/keep/1", "P")["P"]) == ["1", "2"]
        assert list(d.get_class_property("KeepClass", "C")["C"]) == ["x"]
    finally:
        db1.stop()


def test_pytango_server_registers_and_its_events_work_through_the_database(database):
    """A cppTango 10 server (PyTango high-level, tests/interop/reference_device.py) goes through
    its whole start-up sequence against the database; a client polls one attribute and
    subscribes to its periodic events (DbImportDevice of the admin device, DbGetCSDbServerList,
    DB-mode event topics)."""
    register(database, "TestDevice/pyref", "TestDevice", "test/pyref/1")
    cmd = [sys.executable, str(REPO_ROOT / "tests" / "interop" / "reference_device.py"), "pyref", *ENDPOINT]
    srv = DeviceServer(cmd, "TestDevice/pyref").start(wait_device="test/pyref/1")
    try:
        dev = tango.DeviceProxy("test/pyref/1")
        assert dev.command_inout("Echo", "py via db") == "py via db"
        dev.poll_attribute("doubleValue", 100)  # stored by the server with DbPutDeviceProperty
        assert "doublevalue" in [v.lower() for v in database.get_device_property("test/pyref/1", "polled_attr")["polled_attr"]]
        events = []
        eid = dev.subscribe_event("doubleValue", tango.EventType.PERIODIC_EVENT, events.append)
        try:
            wait_for(lambda: sum(1 for e in events if not e.err) >= 2, f"no periodic events: {events[:2]}", timeout=10)
        finally:
            dev.unsubscribe_event(eid)
        dev.stop_poll_attribute("doubleValue")
    finally:
        assert stop_process(srv.proc) is not None
    wait_for(lambda: database.get_device_info("test/pyref/1").exported == 0, "PyTango server did not unexport", timeout=10)


def test_polled_attr_property_starts_polling(database):
    """Tango's `polled_attr` device property (attribute, period ms) makes our server poll an
    attribute its class does not poll: periodic events flow; without it they are refused."""
    register(database, "TestDevice/poll", "TestDevice", "test/poll/1")
    tango.Database().put_device_property("test/poll/1", {"polled_attr": ["doubleScalar", "200"]})
    srv = DeviceServer([str(TEST_DEVICE), "poll", *ENDPOINT], "TestDevice/poll").start(wait_device="test/poll/1")
    try:
        dev = tango.DeviceProxy("test/poll/1")
        periodic = []
        eid = dev.subscribe_event("doubleScalar", tango.EventType.PERIODIC_EVENT, periodic.append)
        try:
            wait_for(lambda: sum(1 for e in periodic if not e.err) >= 4, f"no periodic events: {periodic}", timeout=10)
        finally:
            dev.unsubscribe_event(eid)
        with pytest.raises(tango.DevFailed) as ei:
            dev.subscribe_event("longScalar", tango.EventType.PERIODIC_EVENT, lambda e: None)
        assert any(e.reason == "API_AttributePollingNotStarted" for e in ei.value.args)
    finally:
        srv.stop()
