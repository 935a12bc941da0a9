"""Conformance of the server runtime with cppTango's services, as a PyTango 10.3 client sees
them: the admin device's 32 commands, polling (buffers, histories, CACHE reads, DevPollStatus),
locking, the logging service and the property wizards.

Every case runs against our TestDevice and against the PyTango reference server (cppTango 10
underneath); where they differ the case says why. Both classes poll `counter` every 500 ms
themselves, so the device is always polled. Each case gets its own server
(`private_server`), so polling, locks and logging levels never leak between cases.

Locks are taken through the admin device's commands: PyTango's DeviceProxy.lock() refuses
`#dbase=no` devices on the client side (tests/database covers lock() with a database). A
second client is a second process (`other_client`): locks belong to client processes.
"""

import json
import subprocess
import sys
import time

import pytest
import tango

from conftest import DEVICE, ServerProcess
from interop_helpers import raises_devfailed

T = tango.CmdArgType
LS, SA, S, V = T.DevVarLongStringArray, T.DevVarStringArray, T.DevString, T.DevVoid

# cppTango 9.3's DServer: command → (in, out)
DSERVER_9_3 = {
    "AddLoggingTarget": (SA, V),
    "AddObjPolling": (LS, V),
    "DevLockStatus": (S, LS),
    "DevPollStatus": (S, SA),
    "DevRestart": (S, V),
    "EventConfirmSubscription": (SA, V),
    "EventSubscriptionChange": (SA, T.DevLong),
    "GetLoggingLevel": (SA, LS),
    "GetLoggingTarget": (S, SA),
    "Init": (V, V),
    "Kill": (V, V),
    "LockDevice": (LS, V),
    "PolledDevice": (V, SA),
    "QueryClass": (V, SA),
    "QueryDevice": (V, SA),
    "QuerySubDevice": (V, SA),
    "QueryWizardClassProperty": (S, SA),
    "QueryWizardDevProperty": (S, SA),
    "ReLockDevices": (SA, V),
    "RemObjPolling": (SA, V),
    "RemoveLoggingTarget": (SA, V),
    "RestartServer": (V, V),
    "SetLoggingLevel": (LS, V),
    "StartLogging": (V, V),
    "StartPolling": (V, V),
    "State": (V, T.DevState),
    "Status": (V, S),
    "StopLogging": (V, V),
    "StopPolling": (V, V),
    "UnLockDevice": (LS, T.DevLong),
    "UpdObjPollingPeriod": (LS, V),
    "ZmqEventSubscriptionChange": (SA, LS),
}


@pytest.fixture
def srv():
    s = ServerProcess(instance="conf").start()
    yield s
    s.stop()


@pytest.fixture
def dev(srv):
    d = tango.DeviceProxy(srv.dev_url)
    d.set_timeout_millis(5000)
    return d


@pytest.fixture
def adm(srv):
    return tango.DeviceProxy(srv.adm_url)


def other_client(srv, script):
    """Run `script` in another client process with `dev` and `adm` proxies; it prints one
    JSON value, which is returned. DevFailed becomes {"reason": ...}."""
    prog = f"""
import json, tango
dev = tango.DeviceProxy({srv.dev_url!r})
adm = tango.DeviceProxy({srv.adm_url!r})
def attempt(fn, *a):
    try:
        r = fn(*a)
        return "ok" if r is None else r
    except tango.DevFailed as e:
        return {{"reason": e.args[0].reason, "desc": e.args[0].desc}}
{script}
"""
    out = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def polled_names(adm):
    return [s.split("\n")[0] for s in adm.command_inout("DevPollStatus", DEVICE)]


def wait_until(pred, what, timeout=5.0):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            if pred():
                return
        except tango.DevFailed as e:  # e.g. API_NoDataYet before the first reading
            last = e.args[0].reason
        time.sleep(0.05)
    raise AssertionError(f"{what} (last error: {last})" if last else what)


# ---------------------------------------------------------------- admin device

def test_admin_has_the_32_commands_of_cpptango_9_3(adm):
    got = {c.cmd_name: (c.in_type, c.out_type) for c in adm.command_list_query()}
    for name, types in DSERVER_9_3.items():
        assert got.get(name) == types, name


# ---------------------------------------------------------------- polling

def test_poll_attribute_then_stop(dev, adm):
    assert not dev.is_attribute_polled("doubleScalar")
    dev.poll_attribute("doubleScalar", 200)
    assert dev.is_attribute_polled("doubleScalar")
    assert dev.get_attribute_poll_period("doubleScalar") == 200
    assert "Polled attribute name = doubleScalar" in polled_names(adm)
    dev.stop_poll_attribute("doubleScalar")
    assert not dev.is_attribute_polled("doubleScalar")
    assert polled_names(adm) == ["Polled attribute name = counter"]


def test_dev_poll_status_reports_period_depth_and_timing(dev, adm):
    dev.poll_attribute("doubleScalar", 100)

    def status():
        return [s for s in adm.command_inout("DevPollStatus", DEVICE) if "name = doubleScalar" in s][0]
    wait_until(lambda: "Delta between last records" in status(), "no records")
    lines = status().split("\n")
    assert lines[:3] == ["Polled attribute name = doubleScalar", "Polling period (mS) = 100",
                         "Polling ring buffer depth = 10"]
    assert lines[3].startswith("Time needed for the last attribute reading (mS) = ")
    assert lines[4].startswith("Data not updated since ")
    assert lines[5].startswith("Delta between last records (in mS) = ")


def test_polled_command_and_attribute_are_listed_commands_first(dev, adm):
    dev.poll_attribute("doubleScalar", 300)
    dev.poll_command("GetCount", 300)
    status = list(adm.command_inout("DevPollStatus", DEVICE))
    assert [s.split("\n")[0] for s in status] == ["Polled command name = GetCount",
                                                  "Polled attribute name = counter",
                                                  "Polled attribute name = doubleScalar"]


def test_update_polling_period(dev):
    dev.poll_attribute("doubleScalar", 300)
    dev.poll_attribute("doubleScalar", 150)  # PyTango updates the period of a polled attribute
    assert dev.get_attribute_poll_period("doubleScalar") == 150


def test_attribute_polled_by_a_client_sends_periodic_events(dev):
    with pytest.raises(tango.DevFailed):
        dev.subscribe_event("doubleScalar", tango.EventType.PERIODIC_EVENT, lambda e: None)
    dev.poll_attribute("doubleScalar", 100)
    dev.write_attribute("doubleScalar", 7.5)
    events = []
    eid = dev.subscribe_event("doubleScalar", tango.EventType.PERIODIC_EVENT, events.append)
    try:
        wait_until(lambda: sum(1 for e in events if not e.err) >= 2, f"no periodic events: {events[:2]}", timeout=10)
        assert [e.attr_value.value for e in events if not e.err][-1] == 7.5
    finally:
        dev.unsubscribe_event(eid)


def test_attribute_history_from_the_ring(dev):
    dev.write_attribute("doubleScalar", 2.5)
    dev.poll_attribute("doubleScalar", 100)
    wait_until(lambda: len(dev.attribute_history("doubleScalar", 10)) >= 3, "history never filled")
    hist = dev.attribute_history("doubleScalar", 3)
    assert len(hist) == 3
    assert [h.value for h in hist] == [2.5, 2.5, 2.5]
    assert [h.w_value for h in hist] == [2.5, 2.5, 2.5]
    assert all(h.quality == tango.AttrQuality.ATTR_VALID and not h.has_failed for h in hist)
    times = [h.time.totime() for h in hist]
    assert times == sorted(times) and times[0] < times[-1], "oldest record first"


def test_ring_keeps_poll_ring_depth_records(dev):
    dev.poll_attribute("doubleScalar", 50)
    wait_until(lambda: len(dev.attribute_history("doubleScalar", 100)) == 10, "ring never reached 10 records")
    time.sleep(0.3)
    assert len(dev.attribute_history("doubleScalar", 100)) == 10


def test_command_history_counts_up(dev):
    dev.poll_command("GetCount", 100)
    wait_until(lambda: len(dev.command_history("GetCount", 10)) >= 3, "history never filled")
    values = [h.extract() for h in dev.command_history("GetCount", 3)]
    assert values == list(range(values[0], values[0] + 3)), values


def test_command_history_of_a_long_string_array_splits_each_record(dev):
    # records of different lengths: a reply that concatenates them wrongly cannot split back
    dev.poll_command("CountAsLongString", 100)
    wait_until(lambda: len(dev.command_history("CountAsLongString", 10)) >= 4, "history never filled")
    hist = dev.command_history("CountAsLongString", 4)
    counts = []
    for h in hist:
        lvalue, svalue = h.extract()
        n = int(lvalue[0])
        assert list(lvalue) == list(range(n, n + n % 3 + 1)), (n, lvalue)
        assert list(svalue) == [str(n)] * (n % 2 + 1), (n, svalue)
        counts.append(n)
    assert counts == sorted(counts) and len(set(counts)) == 4, counts


def test_history_of_a_failing_command_keeps_its_errors(dev):
    dev.poll_command("Fail", 100)
    # (the reference server's first failed records take a few seconds now and then)
    wait_until(lambda: len(dev.command_history("Fail", 10)) >= 2, "history never filled", timeout=15)
    for h in dev.command_history("Fail", 2):
        assert h.has_failed
        assert h.get_err_stack()[0].reason == "SDP_TestFailure"


def test_history_of_an_attribute_not_polled(dev):
    raises_devfailed(dev.attribute_history, "doubleScalar", 3, reason="API_AttrNotPolled")


def test_cache_read_of_an_attribute_not_polled(dev):
    dev.set_source(tango.DevSource.CACHE)
    raises_devfailed(dev.read_attribute, "doubleScalar", reason="API_AttrNotPolled")


def test_add_obj_polling_refuses_bad_requests(dev, adm):
    def add(period, *sv):
        adm.command_inout("AddObjPolling", [[period], list(sv)])
    raises_devfailed(add, 1, DEVICE, "attribute", "doubleScalar", reason="API_NotSupported")
    raises_devfailed(add, 100, DEVICE, "pipe", "doubleScalar", reason="API_NotSupported")
    raises_devfailed(add, 100, DEVICE, "command", "Init", reason="API_NotSupported")
    raises_devfailed(add, 100, DEVICE, "attribute", "noSuchAttribute", reason="API_AttrNotFound")
    raises_devfailed(add, 100, DEVICE, "attribute", reason="API_WrongNumberOfArgs")
    raises_devfailed(add, 100, "no/such/device", "attribute", "doubleScalar", reason="API_DeviceNotFound")
    assert polled_names(adm) == ["Polled attribute name = counter"]  # nothing changed
    add(100, DEVICE, "attribute", "doubleScalar")
    raises_devfailed(add, 100, DEVICE, "attribute", "doublescalar", reason="API_AlreadyPolled")


def test_rem_obj_polling_of_an_object_not_polled(adm):
    raises_devfailed(adm.command_inout, "RemObjPolling", [DEVICE, "attribute", "doubleScalar"],
                     reason="API_PollObjNotFound")


def test_stop_and_start_polling(dev, adm):
    dev.poll_command("GetCount", 100)
    wait_until(lambda: len(dev.command_history("GetCount", 10)) >= 2, "history never filled")
    adm.command_inout("StopPolling")
    assert adm.status() == "The device is ON\nThe polling is OFF"
    last = dev.command_history("GetCount", 10)[-1].extract()
    time.sleep(0.5)
    assert dev.command_history("GetCount", 10)[-1].extract() == last, "polled while stopped"
    assert dev.get_command_poll_period("GetCount") == 100  # stopping keeps the configuration
    adm.command_inout("StartPolling")
    assert adm.status() == "The device is ON\nThe polling is ON"
    wait_until(lambda: dev.command_history("GetCount", 10)[-1].extract() > last, "polling never restarted")


def test_upd_obj_polling_period(dev, adm):
    dev.poll_command("GetCount", 100)
    adm.command_inout("UpdObjPollingPeriod", [[200], [DEVICE, "command", "GetCount"]])
    assert dev.get_command_poll_period("GetCount") == 200
    raises_devfailed(adm.command_inout, "UpdObjPollingPeriod", [[200], [DEVICE, "attribute", "doubleScalar"]],
                     reason="API_PollObjNotFound")
    raises_devfailed(adm.command_inout, "UpdObjPollingPeriod", [[2], [DEVICE, "command", "GetCount"]],
                     reason="API_NotSupported")
    assert dev.get_command_poll_period("GetCount") == 200


def test_class_polling_can_be_stopped_and_restarted(dev, adm):
    assert dev.get_attribute_poll_period("counter") == 500
    dev.stop_poll_attribute("counter")
    assert not dev.is_attribute_polled("counter")
    assert list(adm.command_inout("PolledDevice")) == []
    dev.poll_attribute("counter", 200)
    assert dev.get_attribute_poll_period("counter") == 200


# ---------------------------------------------------------------- locking

def lock(adm, validity=10):
    adm.command_inout("LockDevice", [[validity], [DEVICE]])


def test_lock_status_names_the_locker(srv, adm):
    lv, sv = adm.command_inout("DevLockStatus", DEVICE)
    assert (list(lv), sv[0]) == ([0] * 6, f"Device {DEVICE} is not locked")
    lock(adm)
    lv, sv = adm.command_inout("DevLockStatus", DEVICE)
    import os
    assert list(lv) == [1, os.getpid(), 0, 0, 0, 0]
    assert sv[0] == f"Device {DEVICE} is locked by CPP or Python client with PID {os.getpid()} from host localhost"
    assert sv[1].startswith("giop:tcp:127.0.0.1:")
    assert adm.command_inout("UnLockDevice", [[0], [DEVICE]]) == 0
    assert list(adm.command_inout("DevLockStatus", DEVICE)[0]) == [0] * 6


def test_locked_device_refuses_other_clients_writes_and_commands(srv, dev, adm):
    lock(adm)
    dev.write_attribute("doubleScalar", 1.25)  # the locker may
    got = other_client(srv, """
print(json.dumps({
    "read": float(dev.read_attribute("doubleScalar").value),
    "write": attempt(dev.write_attribute, "doubleScalar", 9.0),
    "command": attempt(dev.command_inout, "Echo", "x"),
    "state": str(attempt(dev.command_inout, "State")),
    "status": attempt(dev.command_inout, "Status"),
    "config": attempt(dev.set_attribute_config, dev.get_attribute_config("doubleScalar")),
    "lock": attempt(adm.command_inout, "LockDevice", [[10], [dev.dev_name()]]),
}))
""")
    assert got["read"] == 1.25
    for op in ("write", "command", "config", "lock"):
        assert got[op]["reason"] == "API_DeviceLocked", (op, got[op])
    assert got["write"]["desc"] == f"Device {DEVICE} is locked by another client"
    assert got["state"] == "OFF"
    assert isinstance(got["status"], str)
    assert dev.read_attribute("doubleScalar").value == 1.25
    adm.command_inout("UnLockDevice", [[0], [DEVICE]])
    got = other_client(srv, 'print(json.dumps(attempt(dev.write_attribute, "doubleScalar", 9.0)))')
    assert got == "ok"


def test_lock_expires_without_relock(srv, adm):
    lock(adm, validity=2)
    adm.command_inout("ReLockDevices", [DEVICE])
    time.sleep(3.2)
    got = other_client(srv, 'print(json.dumps(attempt(dev.write_attribute, "doubleScalar", 9.0)))')
    assert got == "ok"
    raises_devfailed(adm.command_inout, "ReLockDevices", [DEVICE], reason="API_DeviceNotLocked")


def test_only_the_locker_unlocks_unless_forced(srv, dev, adm):
    lock(adm)
    got = other_client(srv, f"""
print(json.dumps([attempt(adm.command_inout, "UnLockDevice", [[0], [{DEVICE!r}]]),
                  attempt(adm.command_inout, "UnLockDevice", [[1], [{DEVICE!r}]])]))
""")
    assert got[0]["reason"] == "API_DeviceLocked"
    assert got[1] == 0
    # the old locker is told that an administrator took its lock away, until another client
    # gets through
    raises_devfailed(dev.write_attribute, "doubleScalar", 3.0, reason="API_DeviceUnlocked")
    raises_devfailed(dev.write_attribute, "doubleScalar", 3.0, reason="API_DeviceUnlocked")
    assert other_client(srv, 'print(json.dumps(attempt(dev.write_attribute, "doubleScalar", 9.0)))') == "ok"
    dev.write_attribute("doubleScalar", 3.0)


def test_admin_device_cannot_be_locked(srv, adm):
    raises_devfailed(adm.command_inout, "LockDevice", [[10], [f"dserver/TestDevice/{srv.instance}"]],
                     reason="API_DeviceUnlockable")


# ---------------------------------------------------------------- logging

def test_logging_level_round_trip(dev, adm):
    assert dev.get_logging_level() == 3  # WARN
    dev.set_logging_level(5)
    assert dev.get_logging_level() == 5
    lv, sv = adm.command_inout("GetLoggingLevel", ["test/*"])
    assert (list(lv), list(sv)) == ([5], [DEVICE])
    raises_devfailed(adm.command_inout, "SetLoggingLevel", [[7], [DEVICE]], reason="API_MethodArgument")
    assert dev.get_logging_level() == 5


def test_logging_covers_the_admin_device(srv, adm):
    admin = f"dserver/TestDevice/{srv.instance}"
    assert adm.get_logging_level() == 0  # OFF until asked
    adm.set_logging_level(5)
    assert adm.get_logging_level() == 5
    lv, sv = adm.command_inout("GetLoggingLevel", ["*"])
    assert [n.lower() for n in sv] == [DEVICE, admin.lower()]
    assert list(lv) == [3, 5]


def test_file_target_receives_records_at_or_above_the_level(dev, tmp_path):
    log = tmp_path / "device.log"
    dev.add_logging_target(f"file::{log}")
    assert f"file::{log}" in list(dev.get_logging_target())
    dev.set_logging_level(4)  # INFO
    dev.command_inout("LogMessage", ["INFO", "shown at INFO"])
    dev.command_inout("LogMessage", ["DEBUG", "hidden at INFO"])
    wait_until(lambda: log.exists() and "shown at INFO" in log.read_text(), f"record not in {log}")
    assert "hidden at INFO" not in log.read_text()
    dev.remove_logging_target(f"file::{log}")
    assert f"file::{log}" not in list(dev.get_logging_target())


def test_device_target_sends_records_to_the_consumers_log_command(srv, dev):
    dev.set_logging_level(4)
    dev.add_logging_target(f"device::{srv.dev_url}")
    dev.command_inout("LogMessage", ["ERROR", "to the consumer"])
    wait_until(lambda: f"ERROR|{DEVICE}|to the consumer" in dev.command_inout("LogRecords"),
               "record never reached the log consumer")


def test_stop_logging_silences_every_device(dev, adm, tmp_path):
    log = tmp_path / "d.log"
    dev.add_logging_target(f"file::{log}")
    adm.command_inout("StopLogging")
    dev.command_inout("LogMessage", ["FATAL", "while stopped"])
    adm.command_inout("StartLogging")
    dev.command_inout("LogMessage", ["FATAL", "after start"])
    wait_until(lambda: log.exists() and "after start" in log.read_text(), "no record after StartLogging")
    assert "while stopped" not in log.read_text()


def test_bad_logging_targets(dev, adm):
    raises_devfailed(dev.add_logging_target, "syslog::x", reason="API_MethodArgument")
    raises_devfailed(adm.command_inout, "AddLoggingTarget", [DEVICE], reason="API_MethodArgument")
    raises_devfailed(adm.command_inout, "AddLoggingTarget", ["no/such/*", "console::cout"],
                     reason="API_DeviceNotFound")


# ---------------------------------------------------------------- wizards

def test_property_wizards(adm):
    assert list(adm.command_inout("QueryWizardDevProperty", "TestDevice")) == [
        "Greeting", "Text the device greets with", "hello"]
    assert list(adm.command_inout("QueryWizardClassProperty", "TestDevice")) == [
        "Site", "Where the devices of this class run", "lab"]
    raises_devfailed(adm.command_inout, "QueryWizardDevProperty", "NoSuchClass", reason="API_ClassNotFound")
