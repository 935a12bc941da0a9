"""Liveness in the configuration database (issue #16): under `sdp up` every long-running
component keeps `/component/<name>/alive` on a lease; `sdp status` lists each as alive or
missing with how long ago it was last seen. A frozen process (SIGSTOP: running, not working)
goes missing within its lease TTL and comes back when it runs again; a killed one is
missing until `sdp up` has started it again. Real processes, real etcd."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import e2e, HERE, wait_for



@pytest.fixture
def up(sdp_up):
    return sdp_up("alive")



def status(up):
    """(exit status, {component: (alive, last seen)}) from `sdp status`."""
    r = subprocess.run([str(e2e.BIN / "sdp"), "status"], env=up.env(), capture_output=True, text=True, timeout=30)
    rows, inside = {}, False
    for line in r.stdout.splitlines():
        if line.startswith("COMPONENT"):
            inside = True
            continue
        if inside:
            if not line.strip():
                break
            f = line.split(None, 3)
            rows[f[0]] = (f[2], f[3].strip())
    return r.returncode, rows


def pid_of(up, word):
    for p in subprocess.run(["pgrep", "-P", str(up.proc.pid)], capture_output=True, text=True).stdout.split():
        try:
            if word in Path(f"/proc/{p}/cmdline").read_text(errors="replace").split("\0"):
                return int(p)
        except OSError:
            pass
    return None


def test_status_lists_components_and_sees_a_frozen_and_a_killed_one(up):
    rc, rows = status(up)
    assert rc == 0, rows
    for name in ("processing-controller", "deployer-process"):
        assert rows.get(name) == ("yes", "now"), rows
    record = json.loads(up.sdpcfg("get", "/component/processing-controller").split(" = ", 1)[1])
    assert record["kind"] == "controller" and record["pid"] == pid_of(up, "controller"), record

    # Frozen: the process runs but does no work; its lease runs out (TTL 5 s).
    deployer = pid_of(up, "deployer")
    os.kill(deployer, signal.SIGSTOP)
    try:
        assert wait_for(lambda: status(up)[1].get("deployer-process", ("",))[0] == "missing", timeout=20), status(up)
        rc, rows = status(up)
        assert rc == 1 and rows["deployer-process"][1].endswith("s ago"), rows
        assert rows["processing-controller"][0] == "yes", rows
    finally:
        os.kill(deployer, signal.SIGCONT)
    assert wait_for(lambda: status(up)[1].get("deployer-process") == ("yes", "now"), timeout=20), status(up)
    assert pid_of(up, "deployer") == deployer, "a frozen process is not restarted, it recovers"

    # Killed: missing until sdp up has started a new one, which announces itself.
    controller = pid_of(up, "controller")
    os.kill(controller, signal.SIGKILL)
    assert wait_for(lambda: pid_of(up, "controller") not in (None, controller), timeout=20)
    assert wait_for(lambda: status(up)[1].get("processing-controller") == ("yes", "now"), timeout=20), status(up)
    record = json.loads(up.sdpcfg("get", "/component/processing-controller").split(" = ", 1)[1])
    assert record["pid"] == pid_of(up, "controller")

    assert up.stop() == 0


def test_a_workflow_is_alive_while_it_runs_and_forgotten_with_its_pb(up):
    """The workflow process the deployer starts announces itself as workflow-<pb_id>; when the PB
    is deleted the process stops and its record goes with the PB (records of finished
    workflows must not pile up)."""
    out = up.sdpcfg("process", "realtime:teststate:0.2.7")
    pb = out.strip().split(" = ")[1]
    name = f"workflow-{pb}"
    assert wait_for(lambda: status(up)[1].get(name) == ("yes", "now"), timeout=60), status(up)
    record = json.loads(up.sdpcfg("get", f"/component/{name}").split(" = ", 1)[1])
    assert record["kind"] == "workflow" and Path(f"/proc/{record['pid']}").exists(), record
    up.sdpcfg("delete", "-R", f"/pb/{pb}")
    assert wait_for(lambda: name not in status(up)[1], timeout=30), status(up)
    assert wait_for(lambda: not Path(f"/proc/{record['pid']}").exists(), timeout=30)
    assert f"/component/{name}" not in up.sdpcfg("ls", "-R", "/component")
