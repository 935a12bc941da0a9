"""SDPSubarray scenarios A1-A23 (sdp-acceptance-scenarios.md) with the improvements of issue 4
replacing the 2019 quirks: refused commands raise API_CommandNotAllowed and change nothing,
bad input never changes state, Configure never hangs or sticks in CONFIGURING.

Real PyTango client, real SDPSubarray binary (-nodb), real etcd."""

import json
import time

import pytest
import tango

from conftest import (CS_TEST, SUBARRAY, cfg_seed, cfg_test, unique_pb_id, wait_for)

ObsState = ["IDLE", "CONFIGURING", "READY", "SCANNING", "PAUSED", "ABORTED", "FAULT"]
AdminMode = ["OFFLINE", "ONLINE", "MAINTENANCE", "NOT_FITTED", "RESERVED"]
IDLE, CONFIGURING, READY, SCANNING, PAUSED, ABORTED, FAULT = range(7)
OFFLINE, ONLINE, MAINTENANCE, NOT_FITTED, RESERVED = range(5)


def refused(call, reason="API_CommandNotAllowed"):
    with pytest.raises(tango.DevFailed) as info:
        call()
    err = info.value.args[0]
    assert err.reason == reason, f"{err.reason}: {err.desc}"
    return err.desc


def snapshot(d):
    return (d.state(), int(d.obsState), int(d.adminMode), d.receiveAddresses, d.processingBlockState)


def configured(d, pb_id=None):
    """Bring the device to READY through a real Configure; returns the PB id."""
    pb_id = pb_id or unique_pb_id()
    d.Configure(cfg_test(pb_id))
    assert d.obsState == READY
    return pb_id


# --- A1-A5 ---------------------------------------------------------------------------------

def test_a1_startup_state_after_init(sub):
    sub.adminMode = OFFLINE
    assert sub.adminMode == OFFLINE
    sub.Init()
    assert sub.state() == tango.DevState.OFF
    assert sub.obsState == IDLE
    assert sub.adminMode == ONLINE
    # OK because its configuration DB answers (tests/faults/test_health.py breaks it)
    assert sub.healthState == 0
    assert sub.healthInfo == "OK"


def test_a2_assign_resources(sub):
    info = sub.command_query("AssignResources")
    assert info.in_type == tango.CmdArgType.DevString
    assert info.out_type == tango.CmdArgType.DevVoid
    sub.AssignResources("")
    assert sub.state() == tango.DevState.ON
    assert sub.obsState == IDLE
    assert sub.adminMode == ONLINE


@pytest.mark.parametrize("obs", [CONFIGURING, READY, SCANNING, PAUSED, ABORTED, FAULT])
@pytest.mark.parametrize("cmd", ["AssignResources", "ReleaseResources"])
def test_a3_a5_resources_refused_outside_idle_change_nothing(sub, obs, cmd):
    sub.obsState = obs
    before = snapshot(sub)
    desc = refused(lambda: sub.command_inout(cmd, ""))
    assert desc.startswith(f"Command {cmd} not allowed when obsState is {ObsState[obs]}")
    assert "allowed when obsState is IDLE" in desc
    assert snapshot(sub) == before  # the 2019 FAULT trap is gone


def test_a4_release_resources(sub):
    sub.AssignResources("")
    assert sub.state() == tango.DevState.ON
    sub.ReleaseResources("")
    assert sub.state() == tango.DevState.OFF
    assert sub.obsState == IDLE
    assert sub.adminMode in (ONLINE, MAINTENANCE)


# --- A6-A13: the observing cycle -------------------------------------------------------------

def test_a6_configure_creates_pb_and_receive_addresses(sub, etcd):
    pb_id = unique_pb_id()
    sub.AssignResources("")
    sub.Configure(cfg_test(pb_id))
    assert sub.obsState == READY
    listing = etcd.sdpcfg("ls", "/pb/").stdout
    assert pb_id in listing
    assert json.loads(sub.receiveAddresses) == {
        "scanId": 4, "totalChannels": 0, "receiveAddresses": [{"fspId": 1, "hosts": []}]}
    pb = json.loads(etcd.raw(f"/pb/{pb_id}"))
    assert pb["pb_id"] == pb_id
    assert pb["sbi_id"] == "20190627-0001"  # 2019 dropped it
    assert pb["workflow"] == {"id": "vis_ingest", "type": "realtime", "version": "0.1.0"}
    assert pb["parameters"]["numChannels"] == 93
    assert pb["scan_parameters"] == {"4": {}}


def test_a7_configure_invalid_json_changes_nothing(sub, etcd):
    before = snapshot(sub)
    keys_before = etcd.sdpcfg("ls", "-R", "/pb/").stdout
    desc = refused(lambda: sub.Configure("{}"), "SDP_InvalidConfiguration")
    assert desc == "Configure JSON validation error: 'configure' is a required property (at JSON path /)"
    assert snapshot(sub) == before
    assert sub.obsState == IDLE
    assert etcd.sdpcfg("ls", "-R", "/pb/").stdout == keys_before


def test_a8_configure_scan(sub):
    configured(sub)
    sub.ConfigureScan(CS_TEST)
    assert sub.obsState == READY


def test_a9_a10_start_and_end_scan(sub):
    configured(sub)
    sub.StartScan()
    assert sub.obsState == SCANNING
    sub.EndScan()
    assert sub.obsState == READY
    assert sub.receiveAddresses == "null"


def test_a12_scan_is_start_scan_that_forces_on(sub):
    configured(sub)
    sub.Scan()
    assert sub.obsState == SCANNING
    assert sub.state() == tango.DevState.ON
    sub.EndScan()
    assert sub.obsState == READY


def test_a13_end_sb(sub, etcd):
    pb_id = configured(sub)
    stored = etcd.raw(f"/pb/{pb_id}")
    sub.EndSB()
    assert sub.obsState == IDLE
    assert sub.receiveAddresses == "null"
    assert sub.processingBlockState == ""
    assert etcd.raw(f"/pb/{pb_id}") == stored  # the PB stays, unchanged
    desc = refused(sub.EndSB)
    assert desc.startswith("Command EndSB not allowed when obsState is IDLE")
    assert sub.obsState == IDLE  # not FAULT


# --- A14-A16: guards -------------------------------------------------------------------------

@pytest.mark.parametrize("admin,ok", [(OFFLINE, False), (ONLINE, True), (MAINTENANCE, True),
                                      (NOT_FITTED, False), (RESERVED, True)])
def test_a14_admin_mode_gates_assign_resources(sub, admin, ok):
    sub.adminMode = admin
    if ok:
        sub.AssignResources("")
        assert sub.state() == tango.DevState.ON
    else:
        desc = refused(lambda: sub.AssignResources(""))
        assert desc.startswith(f"Command AssignResources not allowed when adminMode is {AdminMode[admin]}")
        assert "ONLINE, MAINTENANCE, RESERVED" in desc
        assert sub.state() == tango.DevState.OFF
    assert sub.obsState == IDLE


@pytest.mark.parametrize("admin,ok", [(OFFLINE, False), (ONLINE, True), (MAINTENANCE, True),
                                      (NOT_FITTED, False), (RESERVED, True)])
def test_a15_admin_mode_gates_release_resources(sub, admin, ok):
    sub.AssignResources("")
    sub.adminMode = admin
    if ok:
        sub.ReleaseResources("")
        assert sub.state() == tango.DevState.OFF
    else:
        desc = refused(lambda: sub.ReleaseResources(""))
        assert desc.startswith(f"Command ReleaseResources not allowed when adminMode is {AdminMode[admin]}")
        assert sub.state() == tango.DevState.ON
    assert sub.obsState == IDLE


def test_admin_mode_writable_by_label_and_number(sub):
    sub.adminMode = "MAINTENANCE"
    assert sub.adminMode == MAINTENANCE
    sub.write_attribute("adminMode", 4)
    assert str(sub.read_attribute("adminMode").value) == "4" or sub.adminMode == RESERVED
    assert sub.adminMode == RESERVED
    sub.adminMode = "ONLINE"
    assert sub.adminMode == ONLINE


@pytest.mark.parametrize("cmd,arg,allowed_in", [("StartScan", None, "READY"), ("EndScan", None, "SCANNING"),
                                                ("ConfigureScan", CS_TEST, "READY"), ("Scan", None, "READY"),
                                                ("EndSB", None, "READY")])
def test_a16_wrong_obs_state_from_idle_changes_nothing(sub, cmd, arg, allowed_in):
    sub.AssignResources("")
    before = snapshot(sub)
    desc = refused(lambda: sub.command_inout(cmd, arg) if arg is not None else sub.command_inout(cmd))
    assert desc == f"Command {cmd} not allowed when obsState is IDLE; it is allowed when obsState is {allowed_in}"
    assert snapshot(sub) == before


def test_a16_release_from_ready_and_everything_from_fault(sub):
    configured(sub)
    before = snapshot(sub)
    refused(lambda: sub.ReleaseResources(""))
    assert snapshot(sub) == before
    sub.obsState = FAULT
    for cmd, arg in [("AssignResources", ""), ("ReleaseResources", ""), ("Configure", cfg_test(unique_pb_id())),
                     ("ConfigureScan", CS_TEST), ("StartScan", None), ("Scan", None), ("EndScan", None), ("EndSB", None)]:
        desc = refused(lambda: sub.command_inout(cmd, arg) if arg is not None else sub.command_inout(cmd))
        assert desc.startswith(f"Command {cmd} not allowed when obsState is FAULT")
        assert sub.obsState == FAULT
    sub.Init()
    assert sub.obsState == IDLE


# --- A17-A20: Configure / ConfigureScan input ------------------------------------------------

@pytest.mark.parametrize("arg,prefix", [
    ("", "Empty JSON configuration!"),
    ("not json", "Unable to load JSON configuration: Expecting value"),
    (cfg_seed().replace('"sbiId"', '"extra": 1, "sbiId"'),
     "Configure JSON validation error: Additional properties are not allowed ('extra' was unexpected) (at JSON path /configure)"),
])
def test_a17_configure_input_errors_change_nothing(sub, etcd, arg, prefix):
    assert sub.state() == tango.DevState.OFF
    before = snapshot(sub)
    desc = refused(lambda: sub.Configure(arg), "SDP_InvalidConfiguration")
    assert desc.startswith(prefix), desc
    assert snapshot(sub) == before  # State stays OFF (2019 switched it ON), receiveAddresses untouched


def test_a18_configure_without_assign_resources(sub):
    sub.adminMode = OFFLINE
    assert sub.state() == tango.DevState.OFF
    sub.Configure(cfg_seed(unique_pb_id("pb-a18"), scan="7"))
    assert sub.state() == tango.DevState.ON
    assert sub.obsState == READY
    assert json.loads(sub.receiveAddresses)["scanId"] == 7


def test_a19_missing_scan_parameters(sub):
    arg = json.loads(cfg_seed(unique_pb_id("pb-a19")))
    del arg["configure"]["scanParameters"]
    before = snapshot(sub)
    desc = refused(lambda: sub.Configure(json.dumps(arg)), "SDP_InvalidConfiguration")
    assert desc.startswith("Configure JSON validation error: 'scanParameters' is a required property")
    assert snapshot(sub) == before


def test_a19_duplicate_pb_id(sub, etcd):
    pb_id = configured(sub)
    stored = etcd.raw(f"/pb/{pb_id}")
    sub.Init()
    before = snapshot(sub)
    desc = refused(lambda: sub.Configure(cfg_test(pb_id)), "SDP_ProcessingBlockExists")
    assert f"Cannot create /pb/{pb_id}, as it already exists!" in desc
    assert snapshot(sub) == before
    assert etcd.raw(f"/pb/{pb_id}") == stored


def test_a19_invalid_pb_id(sub, etcd):
    before = snapshot(sub)
    desc = refused(lambda: sub.Configure(cfg_seed("bad_id")), "SDP_InvalidConfiguration")
    assert "Processing block ID bad_id not permissable!" in desc
    assert "/configure/id" in desc
    assert snapshot(sub) == before
    assert etcd.raw("/pb/bad_id") is None


def test_a19_non_receive_workflow_no_hidden_wait(sub, etcd):
    pb_id = unique_pb_id("pb-dask")
    t = time.monotonic()
    sub.Configure(cfg_seed(pb_id, scan="5", workflow="testdask"))
    assert time.monotonic() - t < 1.0  # 2019 waited 3 s and failed with "Timeout reached!!"
    assert sub.obsState == READY
    assert sub.receiveAddresses == "{}"
    assert json.loads(etcd.raw(f"/pb/{pb_id}"))["workflow"]["id"] == "testdask"


def test_a19_etcd_unreachable(server_factory):
    dead = {"SDP_CONFIG_HOST": "127.0.0.1", "SDP_CONFIG_PORT": "1"}
    srv = server_factory(env=dead, args=["--test-mode"])
    d = srv.proxy()
    before = snapshot(d)
    t = time.monotonic()
    desc = refused(lambda: d.Configure(cfg_seed(unique_pb_id("pb-dead"))), "SDP_ConfigDbUnavailable")
    assert time.monotonic() - t < 3.0
    assert "nothing was changed" in desc
    assert snapshot(d) == before
    assert d.obsState == IDLE
    assert wait_for(lambda: d.healthState == 1)  # DEGRADED
    assert d.healthInfo.startswith("configuration DB unreachable since ")
    assert "Configure is refused until it answers" in d.healthInfo


def test_no_config_db_clear_message_and_configure_error(server_factory):
    srv = server_factory(env={})
    d = srv.proxy()
    assert d.state() == tango.DevState.OFF
    d.AssignResources("")
    assert d.state() == tango.DevState.ON
    desc = refused(lambda: d.Configure(cfg_seed()), "SDP_ConfigDbUnavailable")
    assert "No configuration DB" in desc and "SDP_CONFIG_HOST" in desc
    assert d.obsState == IDLE
    assert "no configuration DB" in srv.log_text()
    # it cannot do its main job: DEGRADED, saying why
    assert d.healthState == 1
    assert d.healthInfo.startswith("no configuration DB (") and "Configure is refused" in d.healthInfo


def test_a20_configure_scan_bad_input_refused(sub, etcd):
    pb_id = configured(sub)
    stored = etcd.raw(f"/pb/{pb_id}")
    before = snapshot(sub)
    desc = refused(lambda: sub.ConfigureScan("not json"), "SDP_InvalidConfiguration")
    assert desc.startswith("Unable to load JSON configuration: Expecting value")
    desc = refused(lambda: sub.ConfigureScan("{}"), "SDP_InvalidConfiguration")
    assert desc.startswith("ConfigureScan JSON validation error: 'configureScan' is a required property")
    assert snapshot(sub) == before
    assert etcd.raw(f"/pb/{pb_id}") == stored


# --- A21-A23: interface, PB state, test mode -------------------------------------------------

def test_a21_defaults_and_metadata(sub):
    assert sub.serverVersion == "0.5.19"
    assert sub.receiveAddresses == "{}"
    assert sub.processingBlockState == ""
    assert sub.status() == "The device is in OFF state."
    cfg = {n: sub.get_attribute_config(n) for n in
           ["obsState", "adminMode", "healthState", "healthInfo", "receiveAddresses", "processingBlockState", "serverVersion"]}
    assert list(cfg["obsState"].enum_labels) == ObsState
    assert list(cfg["adminMode"].enum_labels) == AdminMode
    assert list(cfg["healthState"].enum_labels) == ["OK", "DEGRADED", "FAILED", "UNKNOWN"]
    assert cfg["adminMode"].writable == tango.AttrWriteType.READ_WRITE
    assert cfg["obsState"].writable == tango.AttrWriteType.READ_WRITE  # this server runs in test mode
    for n in ["healthState", "healthInfo", "receiveAddresses", "processingBlockState", "serverVersion"]:
        assert cfg[n].writable == tango.AttrWriteType.READ, n
    cmds = {c.cmd_name: c for c in sub.command_list_query()}
    for name in ["AssignResources", "ReleaseResources", "Configure", "ConfigureScan"]:
        assert cmds[name].in_type == tango.CmdArgType.DevString
        assert cmds[name].out_type == tango.CmdArgType.DevVoid
    for name in ["StartScan", "Scan", "EndScan", "EndSB", "Init"]:
        assert cmds[name].in_type == tango.CmdArgType.DevVoid
        assert cmds[name].out_type == tango.CmdArgType.DevVoid
    assert {"State", "Status"} <= set(cmds)
    refused(lambda: sub.command_inout("AssignResources"), "API_IncompatibleCmdArgumentType")


def test_a22_processing_block_state_follows_the_db(sub, etcd):
    pb_id = configured(sub)
    assert sub.processingBlockState == "null"
    state = {"state": "executing", "subarray": "ON-test", "obsState": "SCANNING-test"}
    etcd.sdpcfg("create", f"/pb/{pb_id}/state", json.dumps(state))
    got = wait_for(lambda: sub.processingBlockState != "null" and json.loads(sub.processingBlockState))
    assert got == state
    etcd.sdpcfg("update", f"/pb/{pb_id}/state", json.dumps({"state": "error"}))
    assert wait_for(lambda: json.loads(sub.processingBlockState) == {"state": "error"})
    etcd.sdpcfg("delete", f"/pb/{pb_id}/state")
    assert wait_for(lambda: sub.processingBlockState == "null")


def test_a22_processing_block_state_change_events(sub, etcd):
    pb_id = configured(sub)
    seen = []
    eid = sub.subscribe_event("processingBlockState", tango.EventType.CHANGE_EVENT,
                              lambda ev: seen.append(None if ev.err else ev.attr_value.value))
    try:
        etcd.sdpcfg("create", f"/pb/{pb_id}/state", '{"state": "executing"}')
        assert wait_for(lambda: any(v and "executing" in v for v in seen), timeout=8)
    finally:
        sub.unsubscribe_event(eid)


def test_a23_obs_state_writable_in_test_mode(sub):
    sub.obsState = "SCANNING"
    assert sub.obsState == SCANNING
    assert sub.state() == tango.DevState.OFF
    sub.obsState = READY
    assert sub.obsState == READY


def test_a23_obs_state_read_only_outside_test_mode(server_factory, etcd):
    srv = server_factory(env=etcd.env, instance="2", devices=("mid_sdp/elt/subarray_2",))
    d = srv.proxy()
    assert d.get_attribute_config("obsState").writable == tango.AttrWriteType.READ
    with pytest.raises(tango.DevFailed):
        d.obsState = READY
    assert d.obsState == IDLE


def test_obs_state_change_events(sub):
    seen = []
    eid = sub.subscribe_event("obsState", tango.EventType.CHANGE_EVENT,
                              lambda ev: seen.append(None if ev.err else int(ev.attr_value.value)))
    try:
        configured(sub)
        sub.StartScan()
        sub.EndScan()
        assert wait_for(lambda: seen[-3:] == [READY, SCANNING, READY], timeout=5), seen
    finally:
        sub.unsubscribe_event(eid)


# --- A6 with the CBF output link read from CSP ------------------------------------------------

A6_LINK_SIMPLE = {"scanId": 4, "totalChannels": 7, "receiveAddresses": [{"phaseBinId": 0, "fspId": 1, "hosts": [
    {"host": "192.168.0.0", "channels": [
        {"portOffset": 9153, "startChannel": 153, "numChannels": 1}, {"portOffset": 9273, "startChannel": 273, "numChannels": 1},
        {"portOffset": 9313, "startChannel": 313, "numChannels": 1}, {"portOffset": 9529, "startChannel": 529, "numChannels": 1},
        {"portOffset": 9665, "startChannel": 665, "numChannels": 1}, {"portOffset": 9681, "startChannel": 681, "numChannels": 2}]}]}]}


@pytest.fixture
def fake_csp():
    import subprocess
    import sys
    from pathlib import Path
    from conftest import free_port
    port = free_port()
    proc = subprocess.Popen([sys.executable, str(Path(__file__).parent / "fake_csp.py"), "1", "-nodb", "-dlist",
                             "mid_csp/elt/subarray01", "-ORBendPoint", f"giop:tcp:127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    url = f"tango://127.0.0.1:{port}/mid_csp/elt/subarray01"
    wait_for(lambda: _pingable(url), timeout=30)
    yield url
    proc.terminate()
    proc.wait(10)


def _pingable(url):
    try:
        tango.DeviceProxy(url + "#dbase=no").ping()
        return True
    except tango.DevFailed:
        return False


def test_a6_receive_addresses_from_the_csp_link_map(fake_csp, etcd, server_factory):
    srv = server_factory(env=dict(etcd.env, TOGGLE_CBF_OUTPUT_LINK="1"), instance="3", devices=("mid_sdp/elt/subarray_3",))
    d = srv.proxy()
    arg = json.loads(cfg_test(unique_pb_id()))
    arg["configure"]["cspCbfOutlinkAddress"] = fake_csp + "/cbfOutLink#dbase=no"
    d.Configure(json.dumps(arg))
    assert d.obsState == READY
    assert json.loads(d.receiveAddresses) == A6_LINK_SIMPLE
    d.Init()

    # a link map for a scan that is not configured: refused, nothing changes
    csp = tango.DeviceProxy(fake_csp + "#dbase=no")
    csp.SetLinkMap(json.dumps({"scanID": 9, "fsp": []}))
    arg["configure"]["id"] = unique_pb_id()
    before = snapshot(d)
    desc = refused(lambda: d.Configure(json.dumps(arg)), "SDP_CbfOutputLinkError")
    assert desc == "Unknown scan ID 9 in channel link map. Allowed values [4]"
    csp.SetLinkMap("{}")
    desc = refused(lambda: d.Configure(json.dumps(arg)), "SDP_CbfOutputLinkError")
    assert desc == "CBF Output Link map is empty!"
    assert snapshot(d) == before
    assert etcd.raw(f"/pb/{arg['configure']['id']}") is None

    # CSP not running: a clear error within the client timeout
    arg["configure"]["cspCbfOutlinkAddress"] = "tango://127.0.0.1:1/mid_csp/elt/subarray01/cbfOutLink#dbase=no"
    t = time.monotonic()
    desc = refused(lambda: d.Configure(json.dumps(arg)), "SDP_CbfOutputLinkError")
    assert time.monotonic() - t < 3
    assert desc.startswith("Cannot read the CBF output link map")
    assert snapshot(d) == before


def test_admin_mode_change_events_carry_admin_mode(sub):
    """2019 pushed the obsState value in adminMode events; ours carry adminMode."""
    seen = []
    eid = sub.subscribe_event("adminMode", tango.EventType.CHANGE_EVENT,
                              lambda ev: seen.append(None if ev.err else int(ev.attr_value.value)))
    try:
        sub.obsState = SCANNING
        sub.adminMode = "MAINTENANCE"
        assert wait_for(lambda: seen and seen[-1] == MAINTENANCE, timeout=5), seen
        assert seen[0] == ONLINE and SCANNING not in seen, seen
    finally:
        sub.unsubscribe_event(eid)


def test_tmc_leaf_node_usage(sub, etcd):
    """How the TMC SDP subarray leaf node (Jan 2020) drove the device (spec 5.7): its
    AssignResources/ReleaseResources arguments are ignored (even the malformed one), then
    Configure, StartScan only in READY, EndScan only in SCANNING, EndSB only in READY."""
    sub.AssignResources('{"processingBlockIdList": ["0001", "0002"]}')
    assert sub.state() == tango.DevState.ON
    pb_id = configured(sub)
    assert json.loads(sub.receiveAddresses)["scanId"] == 4
    sub.StartScan()
    sub.EndScan()
    sub.EndSB()
    assert sub.obsState == IDLE
    sub.ReleaseResources('{"dummy_key": "dummy_value}"')
    assert sub.state() == tango.DevState.OFF
    assert json.loads(etcd.raw(f"/pb/{pb_id}"))["pb_id"] == pb_id
