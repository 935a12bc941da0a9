"""The SDPSubarray server SIGKILLed and started again (issue #11): no shutdown handler runs, so
only what was stored in etcd when each command returned survives — and that must be all of it:
State, obsState, adminMode, receiveAddresses, the processing block (untouched) and the
PB-state watch. (healthState is not stored: it says whether the configuration DB answers.)

What a crash in SCANNING restores to: SCANNING. The scan is not the device's to end — the
receive workflow keeps taking data while the device process is gone, and the telescope
(TMC) ends it with EndScan, which the restarted device accepts. Restoring READY instead would
leave the data path scanning with a device that claims it is not. (The 2019 prototype kept
its state in memory only; it has no answer to copy. Only CONFIGURING, which no command leaves
behind, is restored as IDLE.)"""

import pytest
import tango

from conftest import MASTER, cfg_seed, kill9, restart_server, snapshot, wait_for

IDLE, READY, SCANNING = 0, 2, 3
HEALTH_OK, DEGRADED = 0, 1
OFFLINE, ONLINE, MAINTENANCE = 0, 1, 2


def crash_and_restart(srv, etcd, pb_id=None):
    """SIGKILL the server and start it again; the PB record must not change across the crash."""
    pb_before = etcd.raw(f"/pb/{pb_id}") if pb_id else None
    restart_server(srv)
    if pb_id:
        assert etcd.raw(f"/pb/{pb_id}") == pb_before
    return srv.proxy()


def test_crash_after_assign_with_admin_mode_changed(etcd_node, server_factory):
    srv = server_factory(env=etcd_node.env)
    d = srv.proxy()
    d.AssignResources("")
    d.adminMode = MAINTENANCE
    before = snapshot(d)
    assert (before["state"], before["obsState"], before["adminMode"]) == (tango.DevState.ON, IDLE, MAINTENANCE)

    d = crash_and_restart(srv, etcd_node)
    assert snapshot(d) == before
    assert "restored from /subarray/01" in srv.log_text()
    # and it carries on from there: MAINTENANCE allows Configure
    d.Configure(cfg_seed("pb-after-crash"))
    assert int(d.obsState) == READY


def test_crash_in_ready_keeps_the_pb_and_its_watch(etcd_node, server_factory):
    srv = server_factory(env=etcd_node.env)
    d = srv.proxy()
    d.AssignResources("")
    d.Configure(cfg_seed("pb-ready", workflow="vis_receive"))
    etcd_node.sdpcfg("create", "/pb/pb-ready/state", '{"state": "executing"}')
    assert wait_for(lambda: "executing" in d.processingBlockState)
    before = snapshot(d)
    assert before["obsState"] == READY and before["receiveAddresses"] not in ("{}", "null"), before

    d = crash_and_restart(srv, etcd_node, "pb-ready")
    assert snapshot(d) == before
    # the PB-state watch was restored with the PB id, not only the last value
    etcd_node.sdpcfg("update", "/pb/pb-ready/state", '{"state": "finished"}')
    assert wait_for(lambda: "finished" in d.processingBlockState, timeout=10), d.processingBlockState
    d.StartScan()
    assert int(d.obsState) == SCANNING


def test_crash_in_scanning_restores_scanning(etcd_node, server_factory):
    srv = server_factory(env=etcd_node.env)
    d = srv.proxy()
    d.AssignResources("")
    d.adminMode = ONLINE
    d.Configure(cfg_seed("pb-scan", workflow="vis_receive"))
    d.StartScan()
    before = snapshot(d)
    assert before["obsState"] == SCANNING

    d = crash_and_restart(srv, etcd_node, "pb-scan")
    assert snapshot(d) == before
    # the restarted device finishes the scan it was in
    d.EndScan()
    assert int(d.obsState) == READY
    assert etcd_node.json("/subarray/01")["obs_state"] == "READY"


def test_two_crashes_in_a_row_and_init_after(etcd_node, server_factory):
    """A restored state is stored again as it was (not reset to defaults by the restart), so a
    second crash restores it once more; Init then deliberately returns to the defaults."""
    srv = server_factory(env=etcd_node.env)
    d = srv.proxy()
    d.AssignResources("")
    d.adminMode = OFFLINE
    before = snapshot(d)
    d = crash_and_restart(srv, etcd_node)
    d = crash_and_restart(srv, etcd_node)
    assert snapshot(d) == before
    d.Init()
    assert (d.state(), int(d.obsState), int(d.adminMode)) == (tango.DevState.OFF, IDLE, ONLINE)
    d = crash_and_restart(srv, etcd_node)
    assert (d.state(), int(d.obsState), int(d.adminMode)) == (tango.DevState.OFF, IDLE, ONLINE)


def test_restart_while_etcd_is_down_restores_once_etcd_is_back(etcd_node, server_factory):
    """A server restarted while etcd is unreachable cannot read its state yet. It must not
    act on its defaults and store them over the real state: it says State UNKNOWN, refuses
    what would change its state with a reason that says why, and shows the stored state —
    PB watch included — as soon as etcd answers, without a restart."""
    srv = server_factory(env=etcd_node.env)
    d = srv.proxy()
    d.AssignResources("")
    d.adminMode = MAINTENANCE
    d.Configure(cfg_seed("pb-late", workflow="vis_receive"))
    etcd_node.sdpcfg("create", "/pb/pb-late/state", '{"state": "executing"}')
    assert wait_for(lambda: "executing" in d.processingBlockState)
    before = snapshot(d)
    stored = etcd_node.raw("/subarray/01")

    kill9(srv.proc)
    etcd_node.stop()
    srv.start()
    d = srv.proxy()
    assert d.state() == tango.DevState.UNKNOWN
    assert "/subarray/01" in d.status() and "not been read" in d.status()
    assert wait_for(lambda: int(d.healthState) == DEGRADED), d.healthInfo
    for change in (lambda: setattr(d, "adminMode", ONLINE), lambda: d.AssignResources(""), lambda: d.EndSB()):
        with pytest.raises(tango.DevFailed) as info:
            change()
        err = info.value.args[0]
        assert err.reason == "SDP_ConfigDbUnavailable", err
        assert "/subarray/01" in err.desc and "has not been read" in err.desc, err.desc

    etcd_node.start(keep_port=True)
    # reads show the stored state once it is read (no command needed), the watch included
    assert wait_for(lambda: d.state() == tango.DevState.ON, timeout=15), d.status()
    assert snapshot(d) == before
    assert wait_for(lambda: int(d.healthState) == HEALTH_OK), d.healthInfo
    assert etcd_node.raw("/subarray/01") == stored, "nothing overwrote the stored state"
    etcd_node.sdpcfg("update", "/pb/pb-late/state", '{"state": "finished"}')
    assert wait_for(lambda: "finished" in d.processingBlockState, timeout=10), d.processingBlockState
    # and commands carry on from it
    d.StartScan()
    assert int(d.obsState) == SCANNING
    rec = etcd_node.json("/subarray/01")
    assert (rec["obs_state"], rec["admin_mode"], rec["pb_id"]) == ("SCANNING", "MAINTENANCE", "pb-late"), rec


def test_restart_while_etcd_is_down_then_a_command_reads_the_state_first(etcd_node, server_factory):
    """The first command after etcd is back reads the stored state itself if the background
    read has not yet (it retries with backoff), and acts on it."""
    srv = server_factory(env=etcd_node.env)
    d = srv.proxy()
    d.AssignResources("")
    d.Configure(cfg_seed("pb-first", workflow="vis_receive"))
    kill9(srv.proc)
    etcd_node.stop()
    srv.start()
    d = srv.proxy()
    assert d.state() == tango.DevState.UNKNOWN
    etcd_node.start(keep_port=True)
    d.StartScan()  # whether or not the background read got there first
    assert (d.state(), int(d.obsState)) == (tango.DevState.ON, SCANNING)
    assert etcd_node.json("/subarray/01")["pb_id"] == "pb-first"


def test_master_restored_after_crash_even_while_etcd_is_down(etcd_node, server_factory):
    """SDPMaster keeps OperatingState in /master: restored after a SIGKILL; started while
    etcd is down it shows INIT, then the stored state once etcd answers; a command given
    meanwhile wins (the newest order) and is stored."""
    INIT, ON, STANDBY = 0, 1, 3
    srv = server_factory(exe="SDPMaster", devices=(MASTER,), env=etcd_node.env)
    m = srv.proxy()
    m.standby()
    restart_server(srv)
    m = srv.proxy()
    assert int(m.OperatingState) == STANDBY

    kill9(srv.proc)
    etcd_node.stop()
    srv.start()
    m = srv.proxy()
    assert int(m.OperatingState) == INIT
    etcd_node.start(keep_port=True)
    assert wait_for(lambda: int(m.OperatingState) == STANDBY, timeout=15)
    assert etcd_node.json("/master")["operating_state"] == "STANDBY"
    m.on()
    assert int(m.OperatingState) == ON and etcd_node.json("/master")["operating_state"] == "ON"
