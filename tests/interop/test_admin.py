"""The admin device dserver/TestDevice/test, reached with a DeviceProxy."""

import time

import pytest
import tango

from interop_helpers import raises_devfailed

ADMIN_COMMANDS = {"State", "Status", "Init", "QueryClass", "QueryDevice", "QuerySubDevice",
                  "DevRestart", "RestartServer", "Kill", "PolledDevice", "DevPollStatus"}


def test_admin_proxy(adm):
    # the client lower-cases the name it was given
    assert adm.dev_name() == "dserver/testdevice/test"


def test_admin_state_status(adm):
    assert adm.state() == tango.DevState.ON
    assert adm.command_inout("State") == tango.DevState.ON
    # cppTango's DServer status adds the polling line
    assert adm.status() == "The device is ON\nThe polling is ON"


def test_admin_info(adm):
    info = adm.info()
    assert info.dev_class == "DServer"
    assert info.server_id == "TestDevice/test"


def test_admin_adm_name_is_itself(adm, server):
    assert adm.adm_name() == f"tango://127.0.0.1:{server.port}/dserver/TestDevice/test#dbase=no"


def test_query_class(adm):
    assert list(adm.command_inout("QueryClass")) == ["TestDevice"]


def test_query_device(adm):
    assert list(adm.command_inout("QueryDevice")) == ["TestDevice::test/device/1"]


def test_query_sub_device(adm):
    assert list(adm.command_inout("QuerySubDevice")) == []


def test_polled_device(adm):
    # the class polls `counter` (every 500 ms): the device is polled from the start
    assert list(adm.command_inout("PolledDevice")) == ["test/device/1"]


def test_dev_poll_status(adm):
    status = list(adm.command_inout("DevPollStatus", "test/device/1"))
    assert [s.split("\n")[:3] for s in status] == [
        ["Polled attribute name = counter", "Polling period (mS) = 500", "Polling ring buffer depth = 10"]]


def test_dev_poll_status_unknown_device(adm):
    raises_devfailed(adm.command_inout, "DevPollStatus", "test/device/2",
                     reason="API_DeviceNotFound", desc="Device test/device/2 not found")


def test_admin_attribute_list(adm):
    assert list(adm.get_attribute_list()) == ["State", "Status"]


def test_admin_command_list(adm):
    infos = {c.cmd_name: c for c in adm.command_list_query()}
    missing = ADMIN_COMMANDS - set(infos)
    assert not missing, missing
    T = tango.CmdArgType
    assert (infos["QueryClass"].in_type, infos["QueryClass"].out_type) == (T.DevVoid, T.DevVarStringArray)
    assert (infos["QueryDevice"].in_type, infos["QueryDevice"].out_type) == (T.DevVoid, T.DevVarStringArray)
    assert (infos["DevRestart"].in_type, infos["DevRestart"].out_type) == (T.DevString, T.DevVoid)
    assert (infos["DevPollStatus"].in_type, infos["DevPollStatus"].out_type) == (T.DevString, T.DevVarStringArray)
    assert (infos["Kill"].in_type, infos["Kill"].out_type) == (T.DevVoid, T.DevVoid)


def test_admin_init_reinitialises_devices(adm, dev):
    dev.command_inout("AssignResources", "{}")
    assert dev.read_attribute("obsState").value == 2
    assert adm.command_inout("Init") is None
    assert dev.read_attribute("obsState").value == 0
    assert dev.state() == tango.DevState.OFF
    assert adm.state() == tango.DevState.ON


def test_dev_restart(adm, dev):
    dev.command_inout("AssignResources", "{}")
    assert adm.command_inout("DevRestart", "test/device/1") is None
    # the same proxy reconnects to the re-created device
    assert dev.read_attribute("obsState").value == 0
    assert dev.state() == tango.DevState.OFF


def test_dev_restart_unknown_device(adm):
    raises_devfailed(adm.command_inout, "DevRestart", "test/device/2",
                     reason="API_DeviceNotFound", desc="Device test/device/2 not found")


def test_unknown_admin_command(adm):
    raises_devfailed(adm.command_inout, "NoSuchCommand",
                     reason="API_CommandNotFound", desc="Command NoSuchCommand not found")


def wait_until(predicate, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def test_restart_server(private_server):
    dev = tango.DeviceProxy(private_server.dev_url)
    adm = tango.DeviceProxy(private_server.adm_url)
    dev.command_inout("AssignResources", "{}")
    assert adm.command_inout("RestartServer") is None

    def back_to_initial():
        try:
            return dev.read_attribute("obsState").value == 0
        except tango.DevFailed:
            return False

    assert wait_until(back_to_initial), private_server.log_text()
    assert private_server.proc.poll() is None  # same process, devices re-created
    assert adm.state() == tango.DevState.ON


def test_kill(private_server):
    adm = tango.DeviceProxy(private_server.adm_url)
    try:
        adm.command_inout("Kill")
    except tango.DevFailed:
        pass  # the reply may be lost when the server closes its connections
    assert wait_until(lambda: private_server.proc.poll() is not None), private_server.log_text()
    assert private_server.proc.returncode == 0
