"""Database-mode conformance of our server runtime (tests/interop covers the rest without a
database): PyTango's lock()/unlock()/is_locked()/is_locked_by_me()/get_locker(), polling
configuration written to the database and honoured after a real restart, and attribute
configuration kept as attribute properties across a restart (a value set back to its default
removes its property). Runs against the database chosen with TANGO_DB_KIND."""

import json
import os
import subprocess
import sys
import time

import pytest
import tango

from conftest import TEST_DEVICE, DeviceServer, register, wait_for

ENDPOINT = ["-ORBendPoint", "giop:tcp:127.0.0.1:"]


def start(instance, device):
    return DeviceServer([str(TEST_DEVICE), instance, *ENDPOINT], f"TestDevice/{instance}").start(wait_device=device)


@pytest.fixture
def one_server(database, request):
    """A fresh TestDevice server with one device, named after the test."""
    instance = request.node.name.replace("test_", "")[:20]
    device = f"test/conf/{instance}"
    register(database, f"TestDevice/{instance}", "TestDevice", device)
    srv = start(instance, device)
    yield srv, instance, device
    srv.stop()
    database.delete_server(f"TestDevice/{instance}")


def test_pytango_lock_api(one_server):
    """Run in a process of its own: DeviceProxy.lock() starts cppTango's re-locking thread,
    which aborts the interpreter at exit once the servers it talks to are gone."""
    _, _, device = one_server
    script = f"""
import json, os, tango
dev = tango.DeviceProxy({device!r})
out = {{"before": dev.is_locked()}}
dev.lock(5)
info = tango.LockerInfo()
out.update(locked=dev.is_locked(), by_me=dev.is_locked_by_me(), has_locker=dev.get_locker(info),
           lang=str(info.ll), pid=info.li == os.getpid(), status=dev.locking_status())
dev.write_attribute("doubleScalar", 4.5)
dev.unlock()
out.update(after=dev.is_locked(), status_after=dev.locking_status())
print(json.dumps(out))
os._exit(0)
"""
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    got = json.loads(run.stdout.strip().splitlines()[-1])
    assert got["before"] is False
    assert (got["locked"], got["by_me"], got["has_locker"], got["pid"]) == (True, True, True, True)
    assert got["lang"] == "CPP"
    assert "is locked by CPP or Python client with PID" in got["status"]
    assert got["after"] is False
    assert got["status_after"] == f"Device {device} is not locked"


def test_polling_is_written_to_the_database_and_survives_a_restart(one_server, database):
    srv, instance, device = one_server
    dev = tango.DeviceProxy(device)
    dev.poll_attribute("doubleScalar", 250)
    dev.poll_command("GetCount", 400)
    props = database.get_device_property(device, ["polled_attr", "polled_cmd"])
    assert list(props["polled_attr"]) == ["doublescalar", "250"]
    assert list(props["polled_cmd"]) == ["getcount", "400"]
    srv.stop()
    srv2 = start(instance, device)
    try:
        dev = tango.DeviceProxy(device)
        assert dev.get_attribute_poll_period("doubleScalar") == 250
        assert dev.get_command_poll_period("GetCount") == 400
        dev.stop_poll_attribute("doubleScalar")
        dev.stop_poll_command("GetCount")
        props = database.get_device_property(device, ["polled_attr", "polled_cmd"])
        assert len(props["polled_attr"]) == 0 and len(props["polled_cmd"]) == 0
    finally:
        srv2.stop()


def test_attribute_configuration_is_kept_across_a_restart(one_server, database):
    srv, instance, device = one_server
    dev = tango.DeviceProxy(device)
    cfg = dev.get_attribute_config("doubleScalar")
    cfg.unit = "mm"
    cfg.label = "Double value"
    cfg.min_value = "-10"
    cfg.max_value = "10"
    cfg.events.ch_event.abs_change = "0.5"
    dev.set_attribute_config(cfg)
    props = database.get_device_attribute_property(device, "doubleScalar")["doubleScalar"]
    assert list(props["unit"]) == ["mm"] and list(props["max_value"]) == ["10"]
    srv.stop()
    srv2 = start(instance, device)
    try:
        dev = tango.DeviceProxy(device)
        cfg = dev.get_attribute_config("doubleScalar")
        assert (cfg.unit, cfg.label, cfg.min_value, cfg.max_value) == ("mm", "Double value", "-10", "10")
        assert cfg.events.ch_event.abs_change == "0.5"
        with pytest.raises(tango.DevFailed) as ei:
            dev.write_attribute("doubleScalar", 11.0)  # the kept limits apply
        assert ei.value.args[0].reason == "API_WAttrOutsideLimit"
        # back to the default: the property goes
        cfg.unit = ""
        cfg.max_value = "Not specified"
        dev.set_attribute_config(cfg)
        props = database.get_device_attribute_property(device, "doubleScalar")["doubleScalar"]
        assert "unit" not in props and "max_value" not in props
        assert list(props["min_value"]) == ["-10"]
    finally:
        srv2.stop()


def test_class_attribute_properties_apply_at_start_and_init(one_server, database):
    srv, instance, device = one_server
    dev = tango.DeviceProxy(device)
    database.put_class_attribute_property("TestDevice", {"longScalar": {"unit": "counts"}})
    try:
        dev.command_inout("Init")
        assert dev.get_attribute_config("longScalar").unit == "counts"
        # a device attribute property overrides the class one
        database.put_device_attribute_property(device, {"longScalar": {"unit": "ticks"}})
        dev.command_inout("Init")
        assert dev.get_attribute_config("longScalar").unit == "ticks"
    finally:
        database.delete_class_attribute_property("TestDevice", {"longScalar": ["unit"]})


def test_runtime_properties_read_at_start(database):
    """poll_ring_depth (and attr_/cmd_poll_ring_depth for particular objects), polled_cmd,
    polled_attr, logging_level and logging_target (a file and a log consumer device named
    plainly) set in the database before the server starts are what the device runs with."""
    instance, device = "props", "test/conf/props"
    register(database, f"TestDevice/{instance}", "TestDevice", device)
    log = f"/tmp/tango-conformance-{os.getpid()}.log"
    database.put_device_property(device, {"poll_ring_depth": ["3"], "polled_cmd": ["GetCount", "100", "DoNothing", "100"],
                                          "polled_attr": ["doubleScalar", "100"],
                                          "attr_poll_ring_depth": ["DoubleScalar", "5"],
                                          "cmd_poll_ring_depth": ["donothing", "2"],
                                          "logging_level": ["INFO"],
                                          "logging_target": [f"file::{log}", f"device::{device}"]})
    srv = start(instance, device)
    try:
        dev = tango.DeviceProxy(device)
        assert dev.get_command_poll_period("GetCount") == 100
        wait_for(lambda: len(dev.attribute_history("doubleScalar", 20)) == 5, "ring of 5 never filled", timeout=5)
        time.sleep(0.3)
        assert len(dev.command_history("GetCount", 20)) == 3
        assert len(dev.command_history("DoNothing", 20)) == 2
        assert len(dev.attribute_history("doubleScalar", 20)) == 5
        adm = tango.DeviceProxy(f"dserver/TestDevice/{instance}")
        status = {s.split("\n")[0].split(" = ")[1].lower(): s for s in adm.command_inout("DevPollStatus", device)}
        assert "Polling ring buffer depth = 3" in status["getcount"]
        assert "Polling ring buffer depth = 2" in status["donothing"]
        assert "Polling ring buffer depth = 5" in status["doublescalar"]
        assert dev.get_logging_level() == 4
        assert f"file::{log}" in list(dev.get_logging_target())
        dev.command_inout("LogMessage", ["INFO", "from the property target"])
        wait_for(lambda: "from the property target" in open(log).read(), f"no record in {log}", timeout=5)
        # the log consumer is found by its plain name through the database
        wait_for(lambda: f"INFO|{device}|from the property target" in dev.command_inout("LogRecords"),
                 "record never reached the log consumer", timeout=5)
    finally:
        srv.stop()
        database.delete_server(f"TestDevice/{instance}")
        if os.path.exists(log):
            os.remove(log)


def test_a_server_without_devices_answers_the_server_wizard(database):
    """Jive's server wizard starts a server that has no device yet (only its admin device is
    in the database), then asks the admin device for its classes and their properties to
    create the first devices: the classes come from the server's registration."""
    instance = "wizard"
    admin_name = f"dserver/TestDevice/{instance}"
    register(database, f"TestDevice/{instance}", "DServer", admin_name)
    srv = start(instance, admin_name)
    try:
        adm = tango.DeviceProxy(admin_name)
        assert list(adm.command_inout("QueryDevice")) == []
        assert "TestDevice" in list(adm.command_inout("QueryClass"))
        assert list(adm.command_inout("QueryWizardDevProperty", "TestDevice")) == [
            "Greeting", "Text the device greets with", "hello"]
        assert list(adm.command_inout("QueryWizardClassProperty", "TestDevice")) == [
            "Site", "Where the devices of this class run", "lab"]
    finally:
        srv.stop()
        database.delete_server(f"TestDevice/{instance}")
