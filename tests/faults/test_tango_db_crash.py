"""The embedded Tango database (`sdp database`) SIGKILLed while SDPSubarray and SDPMaster are
registered and exported (issue #11): every registration, property, alias and export is there
when it starts again (DbImportDevice answers the same IOR), and the device servers do not need
it meanwhile — they keep serving clients that reach them directly, and by name again once the
database is back. A server that (re)starts while the database is down waits for it and exports
itself when it returns."""

import time

import pytest
import tango

from conftest import MASTER, REPO_ROOT, SUBARRAY, cfg_seed, free_port, kill9, wait_device, wait_for

READY = 2
ADMIN = {"SDPSubarray": "dserver/sdpsubarray/1", "SDPMaster": "dserver/sdpmaster/1"}


def registry(db):
    """Everything a client or a server reads from the database about our devices."""
    out = {}
    for dev in (SUBARRAY, MASTER, ADMIN["SDPSubarray"], ADMIN["SDPMaster"]):
        imp = db.import_device(dev)
        info = db.get_device_info(dev)
        out[dev] = {"ior": imp.ior, "exported": imp.exported, "version": imp.version, "class": info.class_name,
                    "server": info.ds_full_name, "pid": info.pid, "host": info.host, "started": info.started_date}
    out["props"] = dict(db.get_device_property(SUBARRAY, ["SdpMasterAddress", "Note"]))
    out["class_props"] = dict(db.get_class_property("SDPSubarray", ["Site"]))
    out["alias"] = db.get_alias_from_device(SUBARRAY)
    out["servers"] = sorted(db.get_server_list("SDP*").value_string)
    out["exported"] = sorted(db.get_device_exported("mid_sdp/*").value_string)
    return out


@pytest.fixture
def registered(tangodb, etcd_node):
    """The devices of devices/devices.json with some properties and an alias, both servers
    started in DB mode on ports we know, and both exported."""
    tangodb.load(REPO_ROOT / "devices" / "devices.json")
    db = tangodb.database()
    db.put_device_property(SUBARRAY, {"SdpMasterAddress": [MASTER], "Note": ["line one", "line two"]})
    db.put_class_property("SDPSubarray", {"Site": ["SKA-Mid"]})
    db.put_device_alias(SUBARRAY, "sdp-sub1")
    ports = {"SDPSubarray": free_port(), "SDPMaster": free_port()}
    procs = {"SDPSubarray": tangodb.server("SDPSubarray", "1", etcd_node.env, ports["SDPSubarray"]),
             "SDPMaster": tangodb.server("SDPMaster", "1", {}, ports["SDPMaster"])}
    wait_device(f"tango://{tangodb.tango_host}/{SUBARRAY}")
    wait_device(f"tango://{tangodb.tango_host}/{MASTER}")
    assert wait_for(lambda: db.import_device(MASTER).exported and db.import_device(SUBARRAY).exported, timeout=10)
    return db, ports, procs


def test_database_killed_keeps_every_registration_and_servers_keep_serving(tangodb, registered):
    db, ports, procs = registered
    before = registry(db)
    assert before[SUBARRAY]["exported"] and before[MASTER]["exported"]
    by_name = tango.DeviceProxy(f"tango://{tangodb.tango_host}/{SUBARRAY}")
    by_name.AssignResources("")

    kill9(tangodb.proc)

    # The servers keep serving: a proxy made before, and clients that connect directly.
    assert all(p.poll() is None for p in procs.values())
    direct = tango.DeviceProxy(f"tango://127.0.0.1:{ports['SDPSubarray']}/{SUBARRAY}#dbase=no")
    direct.Configure(cfg_seed("pb-no-tango-db"))
    assert int(direct.obsState) == READY
    assert int(by_name.obsState) == READY
    master = tango.DeviceProxy(f"tango://127.0.0.1:{ports['SDPMaster']}/{MASTER}#dbase=no")
    master.On()
    assert master.state() == tango.DevState.ON
    # and a client that needs the database gets a clear error, not a hang
    with pytest.raises(tango.DevFailed):
        tango.DeviceProxy(f"tango://{tangodb.tango_host}/{MASTER}").ping()

    tangodb.start()
    assert registry(db) == before, "the database came back with every registration, property, alias and export"
    # clients find the devices by name again, in the state they were left in
    again = wait_device(f"tango://{tangodb.tango_host}/{SUBARRAY}")
    assert int(again.obsState) == READY
    assert db.get_device_from_alias("sdp-sub1").lower() == SUBARRAY
    assert tango.DeviceProxy(f"tango://{tangodb.tango_host}/{MASTER}").state() == tango.DevState.ON
    assert all(p.poll() is None for p in procs.values())


def test_server_restarted_while_database_is_down_exports_when_it_returns(tangodb, registered):
    db, ports, procs = registered
    old = db.import_device(MASTER)
    kill9(tangodb.proc)
    kill9(procs["SDPMaster"])

    # It cannot learn its devices without the database: it waits (retrying with backoff).
    new_port = free_port()
    seen = len(tangodb.log("SDPMaster-1.log"))
    restarted = tangodb.server("SDPMaster", "1", {}, new_port)
    assert wait_for(lambda: "retrying" in tangodb.log("SDPMaster-1.log")[seen:], timeout=15), tangodb.log("SDPMaster-1.log")
    assert restarted.poll() is None, "a missing database does not end the server"

    tangodb.start()
    master = wait_device(f"tango://{tangodb.tango_host}/{MASTER}", timeout=30)
    assert master.state() == tango.DevState.ON
    now = db.import_device(MASTER)
    assert now.exported and now.ior != old.ior, "exported again with the new server's address"
    assert db.get_device_info(MASTER).pid == restarted.pid
    # the subarray server, untouched, is still exported as it was
    assert db.import_device(SUBARRAY).exported
    assert procs["SDPSubarray"].poll() is None


def test_database_killed_during_writes_keeps_every_acknowledged_write(tangodb):
    """Writes are stored before they are answered: a database SIGKILLed in the middle of a
    stream of property writes restarts from a readable state file holding every write that
    was acknowledged (and at most the one in flight)."""
    import threading

    db = tangodb.database()
    info = tango.DbDevInfo()
    info.name, info._class, info.server = "test/faults/1", "FaultDevice", "FaultDevice/1"
    db.add_device(info)
    acked = []

    def writer():
        i = 0
        while True:
            try:
                db.put_device_property("test/faults/1", {f"p{i}": [f"value {i}"]})
            except tango.DevFailed:
                return
            acked.append(i)
            i += 1

    t = threading.Thread(target=writer)
    t.start()
    assert wait_for(lambda: len(acked) >= 30 or not t.is_alive(), timeout=30, interval=0.01)
    kill9(tangodb.proc)
    t.join(30)
    assert not t.is_alive() and len(acked) >= 30

    tangodb.start()
    names = [f"p{i}" for i in range(len(acked) + 1)]
    props = db.get_device_property("test/faults/1", names)
    for i in acked:
        assert list(props[f"p{i}"]) == [f"value {i}"], f"acknowledged write p{i} lost"
    assert db.get_device_info("test/faults/1").class_name == "FaultDevice"


def test_database_lost_between_learning_the_devices_and_exporting_them(tangodb, etcd_node):
    """The window inside a server's start-up: it has read its devices from the database and
    builds them (SDPSubarray reads its state from etcd — frozen here, so this takes the
    device's 2 s bound) when the database dies. The server must wait for the database and
    export when it returns, as it does when the database is down from the start."""
    tangodb.load(REPO_ROOT / "devices" / "devices.json")
    db = tangodb.database()
    etcd_node.freeze()
    try:
        port = free_port()
        proc = tangodb.server("SDPSubarray", "1", etcd_node.env, port)
        assert wait_for(lambda: "Initialising SDP Subarray" in tangodb.log("SDPSubarray-1.log") or proc.poll() is not None,
                        timeout=20, interval=0.02), tangodb.log("SDPSubarray-1.log")
        kill9(tangodb.proc)
    finally:
        etcd_node.thaw()
    # it tried to export, and is still there, waiting for the database
    assert wait_for(lambda: "retrying" in tangodb.log("SDPSubarray-1.log") or proc.poll() is not None, timeout=20)
    assert proc.poll() is None, tangodb.log("SDPSubarray-1.log")

    tangodb.start()
    sub = wait_device(f"tango://{tangodb.tango_host}/{SUBARRAY}", timeout=30)
    assert db.import_device(SUBARRAY).exported and db.get_device_info(SUBARRAY).pid == proc.pid
    assert int(sub.obsState) == 0
