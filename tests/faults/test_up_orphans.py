"""`sdp up` never leaves processes behind (issue #16): not when its stdout is a pipe that
closed (the `tee` of `make run | tee up.log`, ended by the same Ctrl-C), and not when `sdp up`
itself is SIGKILLed. Checked by PID (every component, and a workflow process the deployer
started) and by port (every port a component listened on), with real processes."""

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

from conftest import e2e, HERE, SUBARRAY, wait_for



def children(pid):
    """PIDs of the live (not zombie) direct children of `pid`."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(c) for c in out if alive(int(c))]


def alive(pid):
    """Running, and not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def listening_ports(pid):
    """TCP ports `pid` listens on: its socket inodes matched against /proc/net/tcp{,6} (LISTEN)."""
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            if f[3] == "0A" and f[9] in inodes:
                ports.add(int(f[1].rsplit(":", 1)[1], 16))
    return ports


def start_workflow(up):
    """A PB whose workflow the process deployer runs; returns the workflow's pid."""
    out = up.sdpcfg("process", "realtime:teststate:0.2.7")
    pb = out.strip().split(" = ")[1]

    def owner_pid():
        listing = up.sdpcfg("ls", "-R", f"/pb/{pb}")
        if f"/pb/{pb}/owner" not in listing:
            return None
        return json.loads(up.sdpcfg("get", f"/pb/{pb}/owner").split(" = ", 1)[1])["pid"]

    assert wait_for(owner_pid, timeout=60), up.sdpcfg("ls", "values", "-R", "/")
    return owner_pid()


@pytest.fixture
def up(sdp_up):
    return sdp_up("orphans")



def snapshot(up):
    """{pid: ports} of every component, plus the workflow process."""
    pids = children(up.proc.pid)
    assert len(pids) == 6, pids  # database, etcd, master, subarray, controller, deployer
    return {p: listening_ports(p) for p in pids}


def test_a_closed_stdout_does_not_kill_sdp_up_and_ctrl_c_still_stops_everything(up):
    workflow = start_workflow(up)
    procs = snapshot(up)
    ports = set().union(*procs.values())
    assert up.tango_port in ports and up.etcd_port in ports, procs
    # The reader goes away, as `tee` does on Ctrl-C.
    up.proc.stdout.close()
    # Something to say: a component dies and is restarted, with nobody reading stdout.
    controller = next(p for p in procs if "controller" in Path(f"/proc/{p}/cmdline").read_text())
    os.kill(controller, signal.SIGKILL)
    assert wait_for(lambda: any("controller" in Path(f"/proc/{p}/cmdline").read_text(errors="replace")
                                for p in children(up.proc.pid) if p not in procs), timeout=20)
    assert up.proc.poll() is None, "sdp up died of its closed stdout"
    log = (up.state / "logs" / "up.log").read_text()
    assert "processing-controller exited unexpectedly" in log and "The SDP is up" in log, log

    up.proc.send_signal(signal.SIGINT)
    assert up.proc.wait(60) == 0
    gone = list(procs) + [workflow] + children(up.proc.pid)
    assert wait_for(lambda: not any(alive(p) for p in gone), timeout=15), [p for p in gone if alive(p)]
    assert [p for p in ports if e2e.port_open(p)] == [], "ports left open"
    assert "stopped etcd" in (up.state / "logs" / "up.log").read_text()


def test_sdp_up_killed_with_sigkill_takes_every_component_with_it(up):
    workflow = start_workflow(up)
    procs = snapshot(up)
    ports = set().union(*procs.values())
    up.proc.kill()
    up.proc.wait(10)
    # Each component stops as on Ctrl-C (the deployer stops its workflow first): a few seconds.
    gone = list(procs) + [workflow]
    assert wait_for(lambda: not any(alive(p) for p in gone), timeout=15), \
        {p: Path(f"/proc/{p}/cmdline").read_text(errors="replace") for p in gone if alive(p)}
    assert [p for p in ports if e2e.port_open(p)] == [], "ports left open"
    assert e2e.child_pids(up.state) == [], "processes left behind"

    # The next `sdp up` on the same state dir and ports works.
    again = e2e.Up(up.state, up.tango_port, up.etcd_port).start()
    up.proc = again.proc
    d = tango.DeviceProxy(f"tango://127.0.0.1:{up.tango_port}/{SUBARRAY}")
    assert d.state() in (tango.DevState.OFF, tango.DevState.ON)
    assert "/pb/" in again.sdpcfg("ls", "-R", "/pb")
    assert again.stop() == 0
