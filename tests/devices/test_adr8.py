"""The ADR-8 profile (issue 19), scenarios F3 of sdp-acceptance-scenarios.md and what TMC's SDP
leaf nodes rely on: real PyTango, real etcd, the real processing controller, process deployer
and workflows (see adr8_support.Stack)."""

import json
import time

import pytest
import tango

from adr8_support import (ABORTED, ABORTING, CONFIGURE, CONFIGURING, EMPTY, ENGINEERING, FAULT, IDLE, OBS, OFFLINE,
                          ONLINE, READY, RELEASE, RESOURCING, RESTARTING, RESETTING, SCANNING, LeafNode, Stack, assign_arg,
                          new_ids, scan_arg)
from conftest import wait_for


@pytest.fixture(scope="module")
def stack():
    s = Stack(subarrays=2)
    yield s
    s.close()


@pytest.fixture
def sub(stack):
    """Subarray 01, OFF/EMPTY whatever the previous test left."""
    d = stack.proxy(1)
    if d.state() != tango.DevState.OFF:
        d.Off()
    d.adminMode = ONLINE
    return d


def reason(exc):
    return exc.value.args[0].reason


def assign(d, receive=True, **kw):
    """AssignResources to IDLE (waits for the receive addresses); returns (eb_id, pb)."""
    eb_id, pb = new_ids()
    d.AssignResources(assign_arg(eb_id, pb, receive=receive, **kw))
    assert wait_for(lambda: d.obsState == IDLE, timeout=30), OBS[int(d.obsState)]
    return eb_id, pb


def test_start_up_state(stack):
    d = stack.proxy(2)
    assert d.state() == tango.DevState.OFF
    assert (d.obsState, d.adminMode, d.healthState) == (EMPTY, ONLINE, 0)
    assert (d.scanType, d.scanID, d.receiveAddresses) == ("null", 0, "{}")
    labels = d.get_attribute_config("obsState").enum_labels
    assert list(labels) == OBS
    assert list(d.get_attribute_config("adminMode").enum_labels) == ["ONLINE", "OFFLINE", "ENGINEERING", "NOT_FITTED", "RESERVED"]


def test_command_signatures(stack):
    d = stack.proxy(2)
    cmds = {c.cmd_name: (c.in_type, c.out_type) for c in d.command_list_query()}
    void, string = tango.CmdArgType.DevVoid, tango.CmdArgType.DevString
    for name in ["On", "Off", "ReleaseAllResources", "End", "EndScan", "Abort", "ObsReset", "Restart"]:
        assert cmds[name] == (void, void), name
    for name in ["AssignResources", "ReleaseResources", "Configure", "Scan"]:
        assert cmds[name] == (string, void), name


def test_in_state_off_only_on_is_accepted(sub):
    for cmd, arg in [("Off", None), ("AssignResources", "{}"), ("ReleaseResources", "{}"), ("ReleaseAllResources", None),
                     ("Configure", CONFIGURE), ("Scan", scan_arg(1)), ("EndScan", None), ("End", None), ("Abort", None),
                     ("ObsReset", None), ("Restart", None)]:
        with pytest.raises(tango.DevFailed) as e:
            sub.command_inout(cmd, arg) if arg is not None else sub.command_inout(cmd)
        assert reason(e) == "API_CommandNotAllowed", cmd
        assert "not allowed when State is OFF" in e.value.args[0].desc
    assert (sub.state(), sub.obsState) == (tango.DevState.OFF, EMPTY)
    sub.On()
    assert (sub.state(), sub.obsState) == (tango.DevState.ON, EMPTY)


def test_tmc_sequence_with_events_and_execution_block(stack, sub):
    """On -> AssignResources -> Configure -> Scan -> EndScan -> End -> ReleaseAllResources -> Off,
    each completed by its obsState events, and the execution block in etcd at every step."""
    with LeafNode(sub) as tmc:
        sub.On()
        eb_id, pb = new_ids()
        tmc.run("AssignResources", assign_arg(eb_id, pb), [RESOURCING, IDLE])
        eb = json.loads(stack.etcd.raw(f"/eb/{eb_id}"))
        assert eb["resources"]["receptors"] == ["SKA001", "SKA036", "SKA063", "SKA100"]
        assert [t["scan_type_id"] for t in eb["scan_types"]] == ["science", "calibration"]
        pb_rt = json.loads(stack.etcd.raw(f"/pb/{pb}-rt"))
        assert pb_rt == {"pb_id": f"{pb}-rt", "eb_id": eb_id, "script": {"kind": "realtime", "name": "vis_receive", "version": "0.1.0"},
                         "parameters": {}, "dependencies": []}
        addresses = json.loads(sub.receiveAddresses)
        assert addresses["science"]["vis0"]["function"] == "visibilities"
        assert addresses["science"]["vis0"]["host"] == [[0, "127.0.0.1"]]
        assert addresses["calibration"]["vis0"]["port"][0][0] == 0
        tmc.run("Configure", CONFIGURE, [CONFIGURING, READY])
        assert sub.scanType == "science"
        assert stack.eb_state(eb_id)["scan_type"] == "science"
        tmc.run("Scan", scan_arg(12345), [SCANNING])
        assert sub.scanID == 12345
        assert stack.eb_state(eb_id)["scan_id"] == 12345
        tmc.run("EndScan", None, [READY])
        assert sub.scanID == 0
        tmc.run("End", None, [IDLE])
        assert sub.scanType == "null"
        tmc.run("ReleaseAllResources", None, [EMPTY])
        assert sub.receiveAddresses == "{}"
        st = stack.eb_state(eb_id)
        assert (st["status"], st["scan_type"], st["scan_id"]) == ("FINISHED", None, None)
        assert st["scans"] == [{"scan_id": 12345, "scan_type": "science", "status": "FINISHED"}]
        sub.Off()
        assert (sub.state(), sub.obsState) == (tango.DevState.OFF, EMPTY)
        # every transitional state was seen, in order, though each lasted milliseconds
        assert tmc.all == [EMPTY, RESOURCING, IDLE, CONFIGURING, READY, SCANNING, READY, IDLE, EMPTY]
    # the real-time PB finishes with its EB (its workflow sees the EB FINISHED)
    assert wait_for(lambda: json.loads(stack.etcd.raw(f"/pb/{pb}-rt/state") or "{}").get("status") == "FINISHED", timeout=30)


def test_abort_obs_reset_restart_events(stack, sub):
    with LeafNode(sub) as tmc:
        sub.On()
        eb_id, pb = new_ids()
        tmc.run("AssignResources", assign_arg(eb_id, pb), [RESOURCING, IDLE])
        tmc.run("Configure", CONFIGURE, [CONFIGURING, READY])
        tmc.run("Scan", scan_arg(7), [SCANNING])
        tmc.run("Abort", None, [ABORTING, ABORTED])
        assert stack.eb_state(eb_id)["scans"] == [{"scan_id": 7, "scan_type": "science", "status": "ABORTED"}]
        tmc.run("ObsReset", None, [RESETTING, IDLE])
        assert stack.eb_state(eb_id)["status"] == "ACTIVE"
        tmc.run("Abort", None, [ABORTING, ABORTED])
        tmc.run("Restart", None, [RESTARTING, EMPTY])
        assert stack.eb_state(eb_id)["status"] == "CANCELLED"
        assert sub.receiveAddresses == "{}"


def test_release_resources_with_json_and_configure_twice(stack, sub):
    sub.On()
    eb_id, _ = assign(sub)
    sub.Configure(CONFIGURE)
    # READY -> READY with a new scan type added
    sub.Configure(json.dumps({"scan_type": "new", "new_scan_types": [{"scan_type_id": "new", "derive_from": ".default", "beams": {}}]}))
    assert (sub.obsState, sub.scanType) == (READY, "new")
    assert "new" in [t["scan_type_id"] for t in json.loads(stack.etcd.raw(f"/eb/{eb_id}"))["scan_types"]]
    sub.End()
    sub.ReleaseResources(RELEASE)
    assert (sub.obsState, sub.receiveAddresses) == (EMPTY, "{}")
    assert stack.eb_state(eb_id)["status"] == "FINISHED"


# (command, argument or None) for the allowed-table check
COMMANDS = {
    "AssignResources": "assign", "ReleaseResources": RELEASE, "ReleaseAllResources": None, "Configure": CONFIGURE,
    "Scan": scan_arg(99), "EndScan": None, "End": None, "Abort": None, "ObsReset": None, "Restart": None,
}
# What the issue allows, written out independently of the device's table (State ON).
ALLOWED = {
    EMPTY: {"AssignResources"},
    RESOURCING: {"Abort"},
    IDLE: {"AssignResources", "ReleaseResources", "ReleaseAllResources", "Configure", "Abort"},
    READY: {"Configure", "Scan", "End", "Abort"},
    SCANNING: {"EndScan", "Abort"},
    ABORTED: {"ObsReset", "Restart"},
    FAULT: {"ObsReset", "Restart"},
}


def reach(stack, d, state):
    """Bring subarray `d` (ON, EMPTY) to `state` with real commands and components."""
    if state == EMPTY:
        return
    if state == RESOURCING:
        # the processing controller is slow (paused, still alive): the receive PB is not deployed yet
        stack.controller.pause()
        try:
            eb_id, pb = new_ids()
            d.AssignResources(assign_arg(eb_id, pb))
        finally:
            stack.controller.resume()
        return
    if state == FAULT:
        # a receive script version the controller does not know: the PB fails while RESOURCING
        eb_id, pb = new_ids()
        d.AssignResources(assign_arg(eb_id, pb, receive_version="9.9.9"))
        assert wait_for(lambda: d.obsState == FAULT, timeout=30)
        return
    assign(d)
    if state == ABORTED:
        d.Abort()
        return
    if state == IDLE:
        return
    d.Configure(CONFIGURE)
    if state == SCANNING:
        d.Scan(scan_arg(5))


@pytest.mark.parametrize("state", [EMPTY, RESOURCING, IDLE, READY, SCANNING, ABORTED, FAULT], ids=lambda s: OBS[s])
def test_every_command_outside_the_table_is_refused_and_off_empties(stack, sub, state):
    sub.On()
    reach(stack, sub, state)
    assert sub.obsState == state
    for cmd, arg in COMMANDS.items():
        if cmd in ALLOWED[state]:
            continue
        if arg == "assign":
            arg = assign_arg(*new_ids())
        with pytest.raises(tango.DevFailed) as e:
            sub.command_inout(cmd, arg) if arg is not None else sub.command_inout(cmd)
        assert reason(e) == "API_CommandNotAllowed", (OBS[state], cmd)
        assert e.value.args[0].desc.startswith(f"Command {cmd} not allowed when obsState is {OBS[state]}"), e.value.args[0].desc
        assert sub.obsState == state
    with pytest.raises(tango.DevFailed) as e:
        sub.On()
    assert reason(e) == "API_CommandNotAllowed"
    sub.Off()
    assert (sub.state(), sub.obsState) == (tango.DevState.OFF, EMPTY)


def test_fault_when_the_receive_pb_fails_says_why_and_restart_recovers(stack, sub):
    health = []
    hid = sub.subscribe_event("healthState", tango.EventType.CHANGE_EVENT,
                              lambda ev: None if ev.err else health.append(int(ev.attr_value.value)))
    with LeafNode(sub) as tmc:
        sub.On()
        eb_id, pb = new_ids()
        tmc.run("AssignResources", assign_arg(eb_id, pb, receive_version="9.9.9"), [RESOURCING, FAULT])
        assert sub.healthInfo.startswith(f"obsState FAULT: processing block {pb}-rt failed")
        assert "9.9.9" in sub.healthInfo
        assert "obsState FAULT" in sub.status()
        tmc.run("Restart", None, [RESTARTING, EMPTY])
        assert sub.healthState == 0 and sub.healthInfo == "OK"
        assert stack.eb_state(eb_id)["status"] == "CANCELLED"
    # healthState events come from the device: DEGRADED in FAULT, OK again after Restart
    assert wait_for(lambda: health[-2:] == [1, 0]), health
    sub.unsubscribe_event(hid)


def test_abort_while_resourcing(stack, sub):
    with LeafNode(sub) as tmc:
        sub.On()
        reach(stack, sub, RESOURCING)
        assert sub.obsState == RESOURCING
        tmc.run("Abort", None, [ABORTING, ABORTED])
        tmc.run("Restart", None, [RESTARTING, EMPTY])


@pytest.mark.parametrize("bad", [
    ("", "/", "the argument is empty"),
    ("not json", "/", "not valid JSON"),
    ('{"interface": "https://schema.skao.int/ska-sdp-assignres/7.0"}', "/interface", "unsupported interface"),
    ("eb_id_bad", "/execution_block/eb_id", "does not match"),
    ("no_pb_script", "/processing_blocks/0", "'script' is a required property"),
], ids=["empty", "not-json", "interface", "eb-id", "script"])
def test_bad_assign_resources_is_refused_naming_the_path(stack, sub, bad):
    arg, path, text = bad
    eb_id, pb = new_ids()
    if arg == "eb_id_bad":
        arg = assign_arg("eb_bad_id", pb)
    elif arg == "no_pb_script":
        v = json.loads(assign_arg(eb_id, pb))
        del v["processing_blocks"][0]["script"]
        arg = json.dumps(v)
    sub.On()
    before = stack.etcd.etcdctl("get", "", "--prefix", "--keys-only").stdout
    with pytest.raises(tango.DevFailed) as e:
        sub.AssignResources(arg)
    assert reason(e) == "SDP_InvalidArgument"
    desc = e.value.args[0].desc
    assert desc.startswith(f"AssignResources argument rejected at JSON path {path}: "), desc
    assert text in desc and desc.endswith("nothing was changed")
    assert (sub.state(), sub.obsState) == (tango.DevState.ON, EMPTY)
    after = stack.etcd.etcdctl("get", "", "--prefix", "--keys-only").stdout
    assert sorted(k for k in after.split() if "/eb/" in k) == sorted(k for k in before.split() if "/eb/" in k)


def test_bad_configure_and_scan_change_nothing(stack, sub):
    sub.On()
    assign(sub)
    for arg, path in [("{", "/"), ('{"scan_type": 5}', "/scan_type"), ('{"scan_type": "unknown"}', "/scan_type"),
                      ('{"interface": "https://schema.skao.int/ska-sdp-configure/0.2", "scan_type": "science"}', "/interface")]:
        with pytest.raises(tango.DevFailed) as e:
            sub.Configure(arg)
        assert reason(e) == "SDP_InvalidArgument"
        assert f"at JSON path {path}:" in e.value.args[0].desc, e.value.args[0].desc
        assert sub.obsState == IDLE
    sub.Configure(CONFIGURE)
    for arg in ["", '{"scan_id": "1"}', '{"scan_id": 0}', "{}"]:
        with pytest.raises(tango.DevFailed) as e:
            sub.Scan(arg)
        assert reason(e) == "SDP_InvalidArgument"
        assert sub.obsState == READY
    assert sub.scanID == 0


def test_older_and_newer_assign_resources_schemas(stack, sub):
    sub.On()
    # 0.3 (flat), with and without the interface key
    for with_interface in (False, True):
        eb_id, pb = new_ids()
        arg = {"eb_id": eb_id, "max_length": 10.0, "scan_types": [{"scan_type_id": "science"}],
               "processing_blocks": [{"pb_id": f"{pb}-rt", "workflow": {"kind": "realtime", "name": "vis_receive", "version": "0.1.0"}}]}
        if with_interface:
            arg["interface"] = "https://schema.skao.int/ska-sdp-assignres/0.3"
        sub.AssignResources(json.dumps(arg))
        assert wait_for(lambda: sub.obsState == IDLE, timeout=30)
        assert json.loads(sub.receiveAddresses)["science"]["vis0"]["host"] == [[0, "127.0.0.1"]]
        sub.ReleaseAllResources()
    # 1.0
    eb_id, pb = new_ids()
    sub.AssignResources(assign_arg(eb_id, pb, interface="1.0"))
    assert wait_for(lambda: sub.obsState == IDLE, timeout=30)
    assert json.loads(stack.etcd.raw(f"/eb/{eb_id}"))["fields"][0]["phase_dir"]["target_name"] == "a"
    sub.ReleaseAllResources()


def test_assign_without_a_receive_block_is_idle_at_once(stack, sub):
    with LeafNode(sub) as tmc:
        sub.On()
        eb_id, pb = new_ids()
        tmc.run("AssignResources", assign_arg(eb_id, pb, receive=False), [RESOURCING, IDLE])
        assert sub.receiveAddresses == "{}"


def test_duplicate_ids_are_refused_with_nothing_written(stack, sub):
    sub.On()
    eb_id, pb = assign(sub)
    other = stack.proxy(2)
    if other.state() != tango.DevState.OFF:
        other.Off()
    other.On()
    before = stack.etcd.etcdctl("get", "", "--prefix", "--keys-only").stdout.split()
    with pytest.raises(tango.DevFailed) as e:
        other.AssignResources(assign_arg(eb_id, "pb-other-20210630-1"))
    assert reason(e) == "SDP_IdExists"
    assert e.value.args[0].desc.startswith(f"Cannot create /eb/{eb_id}, as it already exists!")
    with pytest.raises(tango.DevFailed) as e:
        other.AssignResources(assign_arg("eb-other-20210630-1", pb))
    assert e.value.args[0].desc.startswith(f"Cannot create /pb/{pb}-rt, as it already exists!")
    assert other.obsState == EMPTY
    after = stack.etcd.etcdctl("get", "", "--prefix", "--keys-only").stdout.split()
    assert [k for k in after if "/eb/" in k or "/pb/" in k and "/state" not in k and "/owner" not in k] == \
        [k for k in before if "/eb/" in k or "/pb/" in k and "/state" not in k and "/owner" not in k]
    other.Off()


def test_admin_mode_guards_assign_resources(stack, sub):
    sub.On()
    for mode in (OFFLINE, ENGINEERING):
        sub.adminMode = mode
        if mode == OFFLINE:
            with pytest.raises(tango.DevFailed) as e:
                sub.AssignResources(assign_arg(*new_ids()))
            assert "not allowed when adminMode is OFFLINE" in e.value.args[0].desc
            assert sub.obsState == EMPTY
        else:
            assign(sub)
            sub.ReleaseAllResources()
    sub.adminMode = ONLINE


def test_transaction_ids_are_logged(stack, sub):
    sub.On()
    eb_id, pb = new_ids()
    arg = assign_arg(eb_id, pb)
    txn = json.loads(arg)["transaction_id"]
    sub.AssignResources(arg)
    assert wait_for(lambda: f"AssignResources transaction_id={txn}" in stack.subarray_server.log_text())
    assert wait_for(lambda: sub.obsState == IDLE, timeout=30)
    sub.ReleaseAllResources()
    assert wait_for(lambda: "ReleaseAllResources transaction_id=txn-local-" in stack.subarray_server.log_text())


def test_batch_script_starts_when_its_real_time_dependency_finished(stack, sub):
    sub.On()
    eb_id, pb = new_ids()
    sub.AssignResources(assign_arg(eb_id, pb, batch=True))
    assert wait_for(lambda: sub.obsState == IDLE, timeout=30)
    time.sleep(1.0)
    assert stack.etcd.raw(f"/deploy/{pb}-b-workflow") is None, "the batch script waits for the receive PB"
    sub.ReleaseAllResources()
    # the receive PB finishes with the EB; then the controller deploys the batch script
    assert wait_for(lambda: stack.etcd.raw(f"/deploy/{pb}-b-workflow") is not None, timeout=30)
    assert wait_for(lambda: json.loads(stack.etcd.raw(f"/pb/{pb}-b/state") or "{}").get("state") == "executing", timeout=30)


def test_controller_device(stack):
    c = stack.control()
    assert c.state() == tango.DevState.STANDBY
    c.On()
    assert c.state() == tango.DevState.ON
    with pytest.raises(tango.DevFailed) as e:
        c.On()
    assert reason(e) == "API_CommandNotAllowed"
    c.Standby()
    c.Off()
    assert c.state() == tango.DevState.OFF
    c.Standby()
    assert c.healthState == 0
    assert c.healthInfo == "OK: processing controller and deployer-process alive"
    components = json.loads(c.components)
    assert components["processing-controller"]["alive"] is True
    assert components["deployer-process"]["kind"] == "deployer"
    assert json.loads(c.sdpVersion)["interface"] == "adr8"
    assert c.adminMode == ONLINE


def test_assign_resources_refused_when_components_are_not_alive():
    s = Stack(subarrays=1, components=False)
    try:
        d = s.proxy(1)
        d.On()
        assert wait_for(lambda: s.control().healthState == 1)  # DEGRADED: nothing announced
        with pytest.raises(tango.DevFailed) as e:
            d.AssignResources(assign_arg(*new_ids()))
        assert reason(e) == "SDP_ComponentsOffline"
        desc = e.value.args[0].desc
        assert "processing controller missing" in desc and "no deployer alive" in desc, desc
        assert desc.endswith("cannot start processing blocks; nothing was changed")
        assert d.obsState == EMPTY
        assert s.etcd.etcdctl("get", "", "--prefix", "--keys-only").stdout.count("/eb/") == 0
    finally:
        s.close()


def test_etcd_lost_mid_command_is_fault_and_restart_recovers():
    s = Stack(subarrays=1)
    try:
        d = s.proxy(1)
        d.On()
        eb_id, _ = assign(d, receive=False)
        health = []
        d.subscribe_event("healthState", tango.EventType.CHANGE_EVENT,
                          lambda ev: None if ev.err else health.append(int(ev.attr_value.value)))
        s.etcd.stop()
        # the device publishes that its configuration DB stopped answering
        assert wait_for(lambda: health[-1:] == [1], timeout=30), health
        with pytest.raises(tango.DevFailed) as e:
            d.Configure(CONFIGURE)
        assert reason(e) == "SDP_CommandFailed"
        assert d.obsState == FAULT
        assert d.healthInfo.startswith(f"obsState FAULT: Configure failed: cannot record it in execution block {eb_id}"), d.healthInfo
        assert f"Configure failed: cannot record it in execution block {eb_id}" in s.subarray_server.log_text()
        s.etcd.start(keep_port=True)
        d.Restart()
        assert d.obsState == EMPTY
        assert s.eb_state(eb_id)["status"] == "CANCELLED"
        # and that it answers again, once the monitor has seen it
        assert wait_for(lambda: health[-1:] == [0], timeout=30), health
        assert d.healthState == 0
    finally:
        s.close()


def test_archive_events_and_the_other_attributes_events(stack, sub):
    """obsState archive events follow the change events; receiveAddresses, scanType and scanID
    push change events when they change."""
    got = {"obsState": [], "scanType": [], "scanID": [], "receiveAddresses": []}

    def cb(name):
        def f(ev):
            if not ev.err:
                got[name].append(ev.attr_value.value)
        return f

    ids = [sub.subscribe_event("obsState", tango.EventType.ARCHIVE_EVENT, cb("obsState"))]
    for name in ("scanType", "scanID", "receiveAddresses"):
        ids.append(sub.subscribe_event(name, tango.EventType.CHANGE_EVENT, cb(name)))
    try:
        sub.On()
        assign(sub)
        sub.Configure(CONFIGURE)
        sub.Scan(scan_arg(3))
        sub.EndScan()
        sub.End()
        sub.ReleaseAllResources()
        assert wait_for(lambda: [int(v) for v in got["obsState"]][-1:] == [EMPTY])
        # each attribute has its own event channel: wait for the last of each too
        assert wait_for(lambda: got["scanType"][-1:] == ["null"] and len(got["scanType"]) >= 3)
        assert wait_for(lambda: len(got["receiveAddresses"]) >= 3 and len(got["scanID"]) >= 3)
        assert [int(v) for v in got["obsState"]] == [EMPTY, RESOURCING, IDLE, CONFIGURING, READY, SCANNING, READY, IDLE, EMPTY]
        assert got["scanType"] == ["null", "science", "null"]
        assert got["scanID"] == [0, 3, 0]
        assert got["receiveAddresses"][0] == "{}" and got["receiveAddresses"][-1] == "{}"
        assert "science" in json.loads(got["receiveAddresses"][1])
    finally:
        for i in ids:
            sub.unsubscribe_event(i)


def test_assign_resources_again_in_idle_replaces_the_execution_block(stack, sub):
    """Current TMC also sends AssignResources in IDLE: the new EB is stored and the old one
    ends FINISHED, in one transaction."""
    sub.On()
    old_eb, _ = assign(sub)
    with LeafNode(sub) as tmc:
        new_eb, pb = new_ids()
        tmc.run("AssignResources", assign_arg(new_eb, pb), [RESOURCING, IDLE])
    assert stack.eb_state(old_eb)["status"] == "FINISHED"
    assert stack.eb_state(new_eb)["status"] == "ACTIVE"
    assert sub.executionBlock == new_eb
    sub.ReleaseAllResources()
    assert stack.eb_state(new_eb)["status"] == "FINISHED"


def test_a_restarted_server_restores_its_subarrays():
    """The subarray server stops mid-observation (READY) and while RESOURCING: started again,
    each subarray comes back where it was; the one waiting for receive addresses gets them."""
    s = Stack(subarrays=2)
    try:
        a, b = s.proxy(1), s.proxy(2)
        a.On()
        eb_a, _ = assign(a)
        a.Configure(CONFIGURE)
        addresses = a.receiveAddresses
        b.On()
        s.controller.pause()
        try:
            eb_b, pb_b = new_ids()
            b.AssignResources(assign_arg(eb_b, pb_b))
            assert b.obsState == RESOURCING
            s.subarray_server.stop()
            s.subarray_server.start()
        finally:
            s.controller.resume()
        a, b = s.proxy(1), s.proxy(2)
        assert (a.state(), a.obsState, a.scanType, a.receiveAddresses) == (tango.DevState.ON, READY, "science", addresses)
        assert a.executionBlock == eb_a
        assert wait_for(lambda: b.obsState == IDLE, timeout=30), OBS[int(b.obsState)]
        assert "science" in json.loads(b.receiveAddresses)
        a.End()
        a.ReleaseAllResources()
        assert s.eb_state(eb_a)["status"] == "FINISHED"
        record = json.loads(s.etcd.raw("/lmc/subarray/01"))
        assert (record["state"], record["obs_state"], record["eb_id"]) == ("ON", "EMPTY", None)
    finally:
        s.close()


def test_a_restarted_controller_restores_its_state_and_admin_mode():
    """The controller device keeps State and adminMode in /lmc/controller: its server stopped
    and started again, it comes back ON in ENGINEERING, not STANDBY/ONLINE."""
    s = Stack(subarrays=1)
    try:
        c = s.control()
        c.On()
        c.adminMode = ENGINEERING
        record = json.loads(s.etcd.raw("/lmc/controller"))
        assert (record["state"], record["admin_mode"], record["device"]) == ("ON", "ENGINEERING", "mid-sdp/control/0")
        s.controller_server.stop()
        s.controller_server.start()
        c = s.control()
        assert (c.state(), c.adminMode) == (tango.DevState.ON, ENGINEERING)
        c.Off()
        assert json.loads(s.etcd.raw("/lmc/controller"))["state"] == "OFF"
    finally:
        s.close()
