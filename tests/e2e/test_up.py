"""`sdp up` end to end: the README's one-machine walkthrough through the real clients
(sdpcfg, PyTango, itango's lsdev), then a clean stop (no process or port left), then a
restart that keeps the registrations and the configuration."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
import tango

REPO = Path(__file__).resolve().parents[2]
BIN = Path(os.environ.get("SDP_BIN_DIR", REPO / "target" / "debug"))
VENV_BIN = Path(sys.executable).parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Up:
    def __init__(self, state_dir, tango_port, etcd_port):
        self.state_dir, self.tango_port, self.etcd_port = state_dir, tango_port, etcd_port
        self.proc = None
        self.lines = []

    def start(self):
        self.proc = subprocess.Popen(
            [str(BIN / "sdp"), "up", "--state-dir", str(self.state_dir), "--tango-host", f"127.0.0.1:{self.tango_port}",
             "--etcd-port", str(self.etcd_port), "--grace", "3"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("sdp up exited:\n" + "".join(self.lines))
            self.lines.append(line)
            if line.startswith("Logs:"):
                return self
        raise AssertionError("sdp up not ready:\n" + "".join(self.lines))

    def env(self):
        return {**os.environ, "TANGO_HOST": f"127.0.0.1:{self.tango_port}", "SDP_CONFIG_HOST": "127.0.0.1",
                "SDP_CONFIG_PORT": str(self.etcd_port)}

    def sdpcfg(self, *args):
        r = subprocess.run([str(BIN / "sdpcfg"), *args], env=self.env(), capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        return r.stdout

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            out, _ = self.proc.communicate(timeout=60)
            self.lines.append(out)
        return self.proc.returncode


def child_pids(state_dir):
    """Processes started for this state dir (their command lines name it, or they run our binaries with it in env)."""
    out = subprocess.run(["pgrep", "-f", str(state_dir)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if int(p) != os.getpid()]


@pytest.fixture
def ports():
    return free_port(), free_port()


def test_walkthrough_stop_and_restart(ports):
    tango_port, etcd_port = ports
    state = Path(tempfile.mkdtemp(prefix="sdp-up-"))
    up = Up(state, tango_port, etcd_port).start()
    try:
        text = "".join(up.lines)
        for component in ["Tango database", "etcd", "SDPMaster/1", "SDPSubarray/1", "processing controller", "process deployer"]:
            assert component in text, text
        assert f"export TANGO_HOST=127.0.0.1:{tango_port}" in text
        assert f"export SDP_CONFIG_HOST=127.0.0.1 SDP_CONFIG_PORT={etcd_port}" in text

        os.environ["TANGO_HOST"] = f"127.0.0.1:{tango_port}"
        # itango's lsdev lists our devices with their servers and classes
        lsdev = subprocess.run([str(VENV_BIN / "ipython"), "--ext=itango", "-c", "%lsdev"], env=up.env(),
                               capture_output=True, text=True, timeout=120).stdout
        for dev, server, cls in [("mid_sdp/elt/master", "SDPMaster/1", "SDPMaster"),
                                 ("mid_sdp/elt/subarray_1", "SDPSubarray/1", "SDPSubarray")]:
            assert any(dev in l and server in l and cls in l for l in lsdev.splitlines()), lsdev

        # the seed's itango session, by plain device name
        d = tango.DeviceProxy("mid_sdp/elt/subarray_1")
        assert d.state() == tango.DevState.OFF
        d.adminMode = "ONLINE"
        d.AssignResources("")
        assert d.state() == tango.DevState.ON and int(d.obsState) == 0
        cfg = {"configure": {"id": "xyz", "sbiId": "sbi-1", "workflow": {"type": "realtime", "id": "vis_receive", "version": "0.1.0"},
                             "parameters": {}, "scanParameters": {"1": {}}}}
        d.Configure(json.dumps(cfg))
        assert int(d.obsState) == 2
        d.StartScan()
        assert int(d.obsState) == 3
        d.EndScan()
        assert int(d.obsState) == 2
        pb = json.loads(up.sdpcfg("get", "/pb/xyz").split("=", 1)[1]) if "=" in up.sdpcfg("get", "/pb/xyz") else None
        listing = up.sdpcfg("ls", "-R", "/")
        assert "/pb/xyz" in listing, listing
    finally:
        rc = up.stop()
    assert rc == 0, "".join(up.lines)
    time.sleep(0.5)
    assert child_pids(state) == [], "processes left behind"
    assert not port_open(tango_port) and not port_open(etcd_port), "ports left open"

    # a second `sdp up` on the same state dir keeps registrations and configuration
    up2 = Up(state, tango_port, etcd_port).start()
    try:
        assert "/pb/xyz" in up2.sdpcfg("ls", "-R", "/")
        db = tango.Database("127.0.0.1", tango_port)
        assert "mid_sdp/elt/subarray_1" in list(db.get_device_exported("mid_sdp/*"))
        d = tango.DeviceProxy("mid_sdp/elt/subarray_1")
        d.ping()
    finally:
        assert up2.stop() == 0
    assert child_pids(state) == []
