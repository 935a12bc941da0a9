"""`sdp up --etcd-members 3` (issue #20): the components are given every member of a three-member
etcd on loopback. Subarrays cycle AssignResources / Configure / StartScan / EndScan / EndSB /
ReleaseResources while the leader is SIGKILLed, then another member, then two at once (quorum
lost until `sdp up` has started them again). Every command either succeeds or fails with
SDP_ConfigDbUnavailable and changes nothing; afterwards etcd (read with etcdctl) holds exactly
the processing blocks whose Configure succeeded, each whole, and the subarrays work normally."""

import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import tango

from conftest import e2e, HERE, cfg_seed, wait_for


SUBARRAYS = 16
IDLE, READY, SCANNING = 0, 2, 3
UNAVAILABLE = "SDP_ConfigDbUnavailable"


def etcdctl(up, *args):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
    return subprocess.run(["etcdctl", "--endpoints", up.config_host, "--command-timeout=3s", *args],
                          env={**env, "ETCDCTL_API": "3"}, capture_output=True, text=True, timeout=30)


def members(up):
    """{client port: pid} of the etcd members `sdp up` runs."""
    out = {}
    for p in subprocess.run(["pgrep", "-P", str(up.proc.pid), "-x", "etcd"], capture_output=True, text=True).stdout.split():
        try:
            argv = Path(f"/proc/{p}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        args = [a.decode() for a in argv]
        if "--listen-client-urls" in args:
            out[int(args[args.index("--listen-client-urls") + 1].rsplit(":", 1)[1])] = int(p)
    return out


def leader_port(up):
    r = etcdctl(up, "endpoint", "status", "-w", "json")
    for s in json.loads(r.stdout or "[]"):
        if s["Status"]["header"]["member_id"] == s["Status"]["leader"]:
            return int(s["Endpoint"].rsplit(":", 1)[1])
    return None


def healthy(up):
    r = etcdctl(up, "endpoint", "health")
    return r.returncode == 0 and r.stdout.count("is healthy") + r.stderr.count("is healthy") == 3


def kill_members(up, ports):
    """SIGKILL these members together; wait until `sdp up` has started each again and all serve."""
    before = members(up)
    for port in ports:
        os.kill(before[port], signal.SIGKILL)
    assert wait_for(lambda: all(members(up).get(p) not in (None, before[p]) for p in ports), timeout=30), members(up)
    assert wait_for(lambda: healthy(up), timeout=30), etcdctl(up, "endpoint", "health")


@pytest.fixture
def up(sdp_up):
    return sdp_up("cluster", "--etcd-members", "3", "--subarrays", str(SUBARRAYS), etcd_port=0)



class Cycler(threading.Thread):
    """Drives one subarray round the 2019 cycle until told to stop. A command refused with
    SDP_ConfigDbUnavailable must leave obsState as it was; it is tried again."""

    def __init__(self, url, n):
        super().__init__(daemon=True)
        self.url, self.n = url, n
        self.stop = threading.Event()
        self.configured = []   # PB ids whose Configure succeeded
        self.refused = 0       # commands refused with SDP_ConfigDbUnavailable
        self.errors = []       # anything else

    def command(self, d, name, arg=None):
        while not self.stop.is_set():
            before = int(d.read_attribute("obsState").value)
            try:
                d.command_inout(name, arg) if arg is not None else d.command_inout(name)
                return True
            except tango.DevFailed as e:
                if e.args[0].reason != UNAVAILABLE:
                    self.errors.append(f"{name}: {e.args[0].reason}: {e.args[0].desc}")
                    return False
                self.refused += 1
                after = int(d.read_attribute("obsState").value)
                if after != before:
                    self.errors.append(f"{name} refused but obsState {before} -> {after}")
                    return False
                time.sleep(0.2)
        return False

    def run(self):
        d = tango.DeviceProxy(self.url)
        d.set_timeout_millis(10000)
        i = 0
        while not self.stop.is_set() and not self.errors:
            pb = f"pb-cluster-{self.n}-{i}"
            i += 1
            if not self.command(d, "AssignResources", ""):
                return
            if not self.command(d, "Configure", cfg_seed(pb, workflow="cluster_test")):
                return
            self.configured.append(pb)
            for name, arg in (("StartScan", None), ("EndScan", None), ("EndSB", None), ("ReleaseResources", "")):
                if not self.command(d, name, arg):
                    return


def test_subarrays_ride_out_members_killed_and_quorum_lost(up):
    host = f"127.0.0.1:{up.tango_port}"
    assert len(members(up)) == 3 and healthy(up)
    devices = []
    for n in range(1, SUBARRAYS + 1):
        d = tango.DeviceProxy(f"tango://{host}/mid_sdp/elt/subarray_{n}")
        d.adminMode = 2  # MAINTENANCE
        devices.append(d)
    cyclers = [Cycler(f"tango://{host}/mid_sdp/elt/subarray_{n}", n) for n in range(1, SUBARRAYS + 1)]
    for c in cyclers:
        c.start()
    try:
        time.sleep(3)
        leader = leader_port(up)
        assert leader in members(up)
        kill_members(up, [leader])                    # the leader
        time.sleep(3)
        other = next(p for p in members(up) if p != leader_port(up))
        kill_members(up, [other])                     # a follower
        time.sleep(3)
        kill_members(up, list(members(up))[:2])       # two at once: no quorum until restarted
        time.sleep(3)
    finally:
        for c in cyclers:
            c.stop.set()
        for c in cyclers:
            c.join(60)
    errors = [e for c in cyclers for e in c.errors]
    assert errors == [], errors
    configured = sorted(pb for c in cyclers for pb in c.configured)
    assert len(configured) > SUBARRAYS, "the subarrays made progress"

    # etcd holds exactly the PBs whose Configure succeeded, each whole.
    keys = etcdctl(up, "get", "2/pb/", "--prefix", "--keys-only").stdout.split()
    assert sorted(k.removeprefix("2/pb/") for k in keys) == configured
    for pb in configured[:: max(1, len(configured) // 10)]:
        v = json.loads(etcdctl(up, "get", f"2/pb/{pb}", "--print-value-only").stdout)
        assert v["pb_id"] == pb and v["workflow"]["id"] == "cluster_test", v

    # Normal service: a full cycle on every subarray.
    for n, d in enumerate(devices, 1):
        state = int(d.obsState)
        if state == SCANNING:
            d.EndScan()
        if int(d.obsState) == READY:
            d.EndSB()
        if d.state() == tango.DevState.ON and int(d.obsState) == IDLE:
            d.ReleaseResources("")
        d.AssignResources("")
        d.Configure(cfg_seed(f"pb-after-{n}", workflow="cluster_test"))
        d.StartScan()
        d.EndScan()
        assert int(d.obsState) == READY
    assert up.proc.poll() is None
