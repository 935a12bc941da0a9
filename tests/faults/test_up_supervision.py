"""`sdp up` when its components die (issue #11): each SIGKILLed component — the embedded Tango
database, a device server, etcd, the controller, the deployer — is started again by `sdp up`
and resumes from the state it keeps, while the others keep running (a device server does not
need its Tango database while it runs; the deployer's processes outlive it and are adopted).
Ctrl-C afterwards still stops everything and leaves no process behind."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import tango

from conftest import e2e, HERE, SUBARRAY, cfg_seed, wait_for


READY, MAINTENANCE = 2, 2


def children(pid):
    """{role: pid} of the direct children of `sdp up`, named by their command lines."""
    out = {}
    for c in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split():
        try:
            argv = Path(f"/proc/{c}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode() for a in argv if a]
        if not args:  # a zombie, not reaped yet
            continue
        name = Path(args[0]).name
        role = {"sdp": args[1] if len(args) > 1 else "sdp", "SDPSubarray": "SDPSubarray", "SDPMaster": "SDPMaster"}.get(name, name)
        out[role] = int(c)
    return out


def kill_child(up, role):
    """SIGKILL one component; wait until `sdp up` has started a new one (another pid)."""
    old = children(up.proc.pid)[role]
    os.kill(old, signal.SIGKILL)
    assert wait_for(lambda: children(up.proc.pid).get(role) not in (None, old), timeout=20), children(up.proc.pid)
    assert up.proc.poll() is None
    return old, children(up.proc.pid)[role]


def answers(make):
    try:
        return make()
    except tango.DevFailed:
        return None


def etcd_answers(up):
    r = subprocess.run([str(e2e.BIN / "sdpcfg"), "ls", "/"], env=up.env(), capture_output=True, timeout=30)
    return r.returncode == 0


@pytest.fixture
def up(sdp_up):
    return sdp_up("up")



def test_sdp_up_restarts_what_dies_and_the_rest_rides_it_out(up):
    host = f"127.0.0.1:{up.tango_port}"
    url = f"tango://{host}/{SUBARRAY}"
    d = tango.DeviceProxy(url)
    d.adminMode = MAINTENANCE
    d.AssignResources("")
    d.Configure(cfg_seed("pb-up"))
    assert int(d.obsState) == READY
    db = tango.Database("127.0.0.1", up.tango_port)
    before = {dev: db.import_device(dev).ior for dev in (SUBARRAY, "mid_sdp/elt/master")}
    devices = {r: p for r, p in children(up.proc.pid).items() if r.startswith("SDP")}

    # The Tango database: restarted with every registration; the device servers never noticed.
    kill_child(up, "database")
    assert wait_for(lambda: answers(lambda: db.import_device(SUBARRAY).exported), timeout=20)
    assert {dev: db.import_device(dev).ior for dev in before} == before
    assert {r: p for r, p in children(up.proc.pid).items() if r.startswith("SDP")} == devices
    assert int(tango.DeviceProxy(url).obsState) == READY

    # A device server: restarted, exported again, its state restored from etcd.
    kill_child(up, "SDPSubarray")
    d = tango.DeviceProxy(url)
    # read_attribute, not `d.obsState`: while the new server is not listening yet, PyTango's
    # attribute sugar on a fresh proxy turns the DevFailed into AttributeError.
    assert wait_for(lambda: answers(lambda: int(d.read_attribute("obsState").value)) == READY, timeout=30)
    assert int(d.adminMode) == MAINTENANCE and d.state() == tango.DevState.ON

    # etcd: restarted on the same port and data; the devices use it again.
    kill_child(up, "etcd")
    # A new pid is not yet a serving etcd; while it is not, commands fail by design (DevFailed).
    assert wait_for(lambda: etcd_answers(up), timeout=20)
    d.EndSB()
    d.Configure(cfg_seed("pb-up-2"))
    listing = up.sdpcfg("ls", "-R", "/pb")
    assert "/pb/pb-up" in listing and "/pb/pb-up-2" in listing, listing

    # The controller and the deployer: the workflow process they run is adopted, not doubled.
    assert wait_for(lambda: "/deploy/pb-up-2-workflow" in up.sdpcfg("ls", "-R", "/deploy"), timeout=30)
    owner = lambda: json.loads(up.sdpcfg("get", "/pb/pb-up-2/owner").split(" = ", 1)[1]) if "/pb/pb-up-2/owner" in up.sdpcfg("ls", "-R", "/pb") else None  # noqa: E731
    assert wait_for(owner, timeout=30)
    workflow_pid = owner()["pid"]
    kill_child(up, "controller")
    kill_child(up, "deployer")
    time.sleep(1.0)  # give a wrongly started second workflow the time to show up
    assert owner()["pid"] == workflow_pid and Path(f"/proc/{workflow_pid}").exists()
    workflows = subprocess.run(["pgrep", "-f", "workflow vis_receive pb-up-2"], capture_output=True, text=True).stdout.split()
    assert workflows == [str(workflow_pid)], workflows

    assert up.stop() == 0
    # what sdp up printed after "Logs:" (read at stop): each restart, with its reason
    text = "".join(up.lines)
    for name in ("tango-database", "SDPSubarray/1", "etcd", "processing-controller", "process-deployer"):
        assert f"{name} exited unexpectedly" in text, text
    time.sleep(0.5)
    assert e2e.child_pids(up.state) == [], "processes left behind"
    assert not e2e.port_open(up.tango_port) and not e2e.port_open(up.etcd_port)
