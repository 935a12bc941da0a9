"""`sdp up` end to end: the README's one-machine walkthrough through the real clients
(sdpcfg, PyTango, itango's lsdev), then a clean stop (no process or port left), then a
restart that keeps the registrations and the configuration."""

import json
import os
import shutil
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
    def __init__(self, state_dir, tango_port, etcd_port, extra=()):
        self.state_dir, self.tango_port, self.etcd_port = state_dir, tango_port, etcd_port
        self.extra = list(extra)  # more `sdp up` options
        self.config_host = "127.0.0.1"  # what `sdp up` says to export (a list for a cluster)
        self.proc = None
        self.lines = []

    def start(self):
        self.proc = subprocess.Popen(
            [str(BIN / "sdp"), "up", "--state-dir", str(self.state_dir), "--tango-host", f"127.0.0.1:{self.tango_port}",
             "--etcd-port", str(self.etcd_port), "--grace", "3", *self.extra],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = self.proc.stdout.readline()
            if not line:
                raise AssertionError("sdp up exited:\n" + "".join(self.lines))
            self.lines.append(line)
            if "export SDP_CONFIG_HOST=" in line:
                self.config_host = line.split("SDP_CONFIG_HOST=", 1)[1].split()[0]
            if line.startswith("Logs:"):
                return self
        raise AssertionError("sdp up not ready:\n" + "".join(self.lines))

    def env(self):
        return {**os.environ, "TANGO_HOST": f"127.0.0.1:{self.tango_port}", "SDP_CONFIG_HOST": self.config_host,
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
        listing = up.sdpcfg("ls", "-R", "/")
        assert "/pb/xyz" in listing and "/subarray/01" in listing, listing

        # the seed's "Start a workflow": a real Dask cluster on this machine
        out = up.sdpcfg("process", "realtime:testdask:0.1.0")
        assert out.startswith("OK, pb_id = realtime-"), out
        pb = out.strip().split(" = ")[1]
        deadline = time.monotonic() + 90
        pb_values = ""
        while time.monotonic() < deadline:
            pb_values = up.sdpcfg("ls", "values", "-R", f"/pb/{pb}")
            if '"sum": 500500' in pb_values:
                break
            time.sleep(1)
        assert '"sum": 500500' in pb_values and '"status": "RUNNING"' in pb_values, pb_values
        deploys = up.sdpcfg("ls", "-R", "/deploy")
        for d in (f"{pb}-workflow", f"{pb}-dask-scheduler", f"{pb}-dask-worker"):
            assert f"/deploy/{d}" in deploys, deploys
        assert subprocess.run(["pgrep", "-f", "dask scheduler"], capture_output=True).returncode == 0
        status = subprocess.run([str(BIN / "sdp"), "status"], env=up.env(), capture_output=True, text=True, timeout=30).stdout
        assert any(l.startswith("mid_sdp/elt/subarray_1") and "SDPSubarray/1" in l and "READY" in l for l in status.splitlines()), status
        assert any(l.startswith(pb) and "RUNNING" in l for l in status.splitlines()), status
        assert f"{pb}-dask-worker" in status, status

        # "Cleaning up": deleting the PB removes its deployments and processes
        up.sdpcfg("delete", f"/pb/{pb}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and (f"/deploy/{pb}" in up.sdpcfg("ls", "-R", "/deploy")
                                              or subprocess.run(["pgrep", "-f", f"dask.*{pb}|{pb}"], capture_output=True).returncode == 0):
            time.sleep(0.5)
        assert f"/deploy/{pb}" not in up.sdpcfg("ls", "-R", "/deploy")
        old_owner = json.loads(up.sdpcfg("get", "/pb/xyz/owner").split(" = ", 1)[1]) if "/pb/xyz/owner" in up.sdpcfg("ls", "-R", "/pb") else None
    finally:
        rc = up.stop()
    assert rc == 0, "".join(up.lines)
    time.sleep(0.5)
    assert child_pids(state) == [], "processes left behind"
    assert not port_open(tango_port) and not port_open(etcd_port), "ports left open"

    # a second `sdp up` on the same state dir keeps registrations and configuration
    up2 = Up(state, tango_port, etcd_port).start()
    try:
        listing = up2.sdpcfg("ls", "-R", "/")
        assert "/pb/xyz" in listing, listing
        # the old workflow's lease died with it: an owner now is a live, new process
        if "/pb/xyz/owner" in listing:
            owner = json.loads(up2.sdpcfg("get", "/pb/xyz/owner").split(" = ", 1)[1])
            assert old_owner is None or owner["pid"] != old_owner["pid"]
            assert Path(f"/proc/{owner['pid']}").exists()
        db = tango.Database("127.0.0.1", tango_port)
        assert "mid_sdp/elt/subarray_1" in list(db.get_device_exported("mid_sdp/*"))
        d = tango.DeviceProxy("mid_sdp/elt/subarray_1")
        # the subarray's state was persisted in the config DB
        assert int(d.obsState) == 2
    finally:
        assert up2.stop() == 0
    time.sleep(0.5)
    assert child_pids(state) == []


def test_up_with_the_adr8_interface(ports):
    """`sdp up --interface adr8 --subarrays 2`: the devices a current TMC drives, registered in
    the Tango database with the property InterfaceProfile, reached by name, and one observation
    from AssignResources to ReleaseAllResources through the real controller, deployer and
    receive workflow; a clean stop."""
    tango_port, etcd_port = ports
    state = Path(tempfile.mkdtemp(prefix="sdp-up-adr8-"))
    up = Up(state, tango_port, etcd_port, extra=["--interface", "adr8", "--subarrays", "2"]).start()
    try:
        text = "".join(up.lines)
        for line in ["mid-sdp/control/0", "mid-sdp/subarray/01", "mid-sdp/subarray/02", "(interface adr8)"]:
            assert line in text, text
        # full names: PyTango keeps the first TANGO_HOST it saw for plain names (an earlier test's)
        db = tango.Database("127.0.0.1", tango_port)
        assert db.get_device_property("mid-sdp/subarray/02", "InterfaceProfile")["InterfaceProfile"][0] == "adr8"
        assert db.get_class_for_device("mid-sdp/control/0") == "SDPController"
        c = tango.DeviceProxy(f"tango://127.0.0.1:{tango_port}/mid-sdp/control/0")
        assert c.healthState == 0 and json.loads(c.components)["processing-controller"]["alive"]
        d = tango.DeviceProxy(f"tango://127.0.0.1:{tango_port}/mid-sdp/subarray/02")
        assert (d.state(), int(d.obsState)) == (tango.DevState.OFF, 0)
        d.On()
        eb = {"interface": "https://schema.skao.int/ska-sdp-assignres/0.4", "resources": {"receptors": ["SKA001"]},
              "execution_block": {"eb_id": "eb-up-20210630-00001", "max_length": 10.0, "context": {},
                                  "beams": [{"beam_id": "vis0", "function": "visibilities"}],
                                  "scan_types": [{"scan_type_id": "science", "beams": {"vis0": {}}}],
                                  "channels": [], "polarisations": [], "fields": []},
              "processing_blocks": [{"pb_id": "pb-up-20210630-00001", "script": {"kind": "realtime", "name": "vis_receive", "version": "0.1.0"},
                                     "parameters": {}}]}
        d.AssignResources(json.dumps(eb))
        deadline = time.monotonic() + 60
        while int(d.obsState) != 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert int(d.obsState) == 2, int(d.obsState)
        assert "science" in json.loads(d.receiveAddresses)
        assert "/eb/eb-up-20210630-00001/state" in up.sdpcfg("ls", "-R", "/eb")
        # sdp status names the ADR-8 obsState and the script of the EB's processing block
        status = subprocess.run([str(BIN / "sdp"), "status"], env=up.env(), capture_output=True, text=True, timeout=30).stdout
        assert any(l.startswith("mid-sdp/subarray/02") and "IDLE" in l for l in status.splitlines()), status
        assert any(l.startswith("pb-up-20210630-00001") and "realtime:vis_receive:0.1.0" in l for l in status.splitlines()), status
        d.ReleaseAllResources()
        assert '"status": "FINISHED"' in up.sdpcfg("get", "/eb/eb-up-20210630-00001/state")
        d.Off()
    finally:
        assert up.stop() == 0
    assert not child_pids(state)
    shutil.rmtree(state, ignore_errors=True)
