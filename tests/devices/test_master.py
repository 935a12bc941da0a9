"""SDPMaster scenarios B1-B7 against the real SDPMaster binary (-nodb) and PyTango."""

import json

import pytest
import tango

LABELS = ["INIT", "ON", "DISABLE", "STANDBY", "ALARM", "FAULT", "OFF", "UNKNOWN"]


def test_b1_initial_operating_state(master):
    assert master.OperatingState == 0


@pytest.mark.parametrize("cmd,value", [("on", 1), ("standby", 3), ("disable", 2), ("off", 6)])
def test_b2_b5_commands(master, cmd, value):
    master.command_inout(cmd)
    assert master.OperatingState == value
    assert LABELS[value] in repr(master.OperatingState)
    assert master.state() == tango.DevState.ON


def test_b6_health_after_init(master):
    """This server has no configuration DB: it cannot see the processing controller or the
    deployers, so its health is UNKNOWN (not a constant OK), and healthInfo says why; Init
    does not change that. tests/faults/test_health.py has the master with a DB."""
    master.on()
    master.Init()
    assert master.healthState == 3
    assert "UNKNOWN" in repr(master.healthState)
    assert master.healthInfo.startswith("no configuration DB (")
    assert master.healthInfo.endswith("): the processing controller and deployers cannot be seen")
    assert master.OperatingState == 0


def test_b7_static_interface(master):
    assert master.state() == tango.DevState.ON
    assert master.status() == "The device is in ON state."
    assert master.serverVersion == "0.2.6"
    assert list(master.get_attribute_config("OperatingState").enum_labels) == LABELS
    assert list(master.get_attribute_config("healthState").enum_labels) == ["OK", "DEGRADED", "FAILED", "UNKNOWN"]
    for name in ["healthState", "healthInfo"]:
        assert master.get_attribute_config(name).writable == tango.AttrWriteType.READ
    assert master.get_attribute_config("OperatingState").writable == tango.AttrWriteType.READ
    cmds = {c.cmd_name.lower(): c for c in master.command_list_query()}
    for name in ["on", "off", "standby", "disable"]:
        assert cmds[name].in_type == tango.CmdArgType.DevVoid
        assert cmds[name].out_type == tango.CmdArgType.DevVoid
    # any order, any letter case
    for name, value in [("On", 1), ("STANDBY", 3), ("Off", 6), ("DISABLE", 2), ("standby", 3), ("ON", 1)]:
        master.command_inout(name)
        assert master.OperatingState == value
        assert master.state() == tango.DevState.ON


def test_operating_state_persisted_in_master_key(fresh_etcd, server_factory):
    from conftest import MASTER
    srv = server_factory(exe="SDPMaster", devices=(MASTER,), env=fresh_etcd.env)
    m = srv.proxy()
    assert m.OperatingState == 0
    m.standby()
    assert json.loads(fresh_etcd.raw("/master"))["operating_state"] == "STANDBY"
    srv.stop()
    srv2 = server_factory(exe="SDPMaster", devices=(MASTER,), env=fresh_etcd.env)
    m2 = srv2.proxy()
    assert m2.OperatingState == 3
    assert m2.state() == tango.DevState.ON
    m2.Init()
    assert m2.OperatingState == 0
    assert json.loads(fresh_etcd.raw("/master"))["operating_state"] == "INIT"
