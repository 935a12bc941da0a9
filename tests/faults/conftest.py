"""Fixtures of the fault-injection suite (issue #11): the real parts of tests/devices (etcd,
the SDPSubarray / SDPMaster binaries, the PyTango client) plus the ways to break them —
SIGKILL, SIGSTOP (a frozen peer: connected, never answering) — and the embedded Tango
database (`sdp database`) and the processing controller / process deployer (`sdp controller`,
`sdp deployer`) as processes that can be killed and started again on the same state.

Nothing here is mocked: every fault is a signal sent to a real process, and every check
reads the real store (etcd keys through etcdctl, the Tango database through PyTango,
processes through /proc).
"""

import importlib.util
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

HERE = Path(__file__).resolve().parent

# The device suite's helpers (etcd, device servers, Configure strings), loaded under a name
# of their own: both folders have a `conftest` module and pytest imports each as `conftest`.
_spec = importlib.util.spec_from_file_location("devices_conftest", HERE.parent / "devices" / "conftest.py")
devices = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(devices)

# `sdp up` as the end-to-end suite drives it (tests/e2e/test_up.py's Up), for the faults of
# the one-machine launcher.
_spec = importlib.util.spec_from_file_location("e2e_test_up", HERE.parent / "e2e" / "test_up.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

REPO_ROOT = devices.REPO_ROOT
SUBARRAY, MASTER = devices.SUBARRAY, devices.MASTER
binary, free_port, wait_for, cfg_seed = devices.binary, devices.free_port, devices.wait_for, devices.cfg_seed
wait_device = devices.wait_device
DeviceServer = devices.DeviceServer


def kill9(proc):
    """SIGKILL a process and reap it: no handler runs, nothing is flushed or unexported."""
    if proc is not None and proc.poll() is None:
        proc.kill()
        proc.wait(10)


class FaultyEtcd(devices.Etcd):
    """The device suite's throwaway etcd, plus the faults: kill, freeze, thaw."""

    def kill(self):
        if self.proc and self.proc.poll() is None:
            # SIGKILL ends a stopped process as it is. No SIGCONT first: that lets a frozen etcd
            # run for a moment and answer what is queued (a read, then the commit it unblocks)
            # before it dies, which is the undecidable "died after committing" case.
            kill9(self.proc)

    def freeze(self):
        """SIGSTOP: connections stay open, requests are accepted by the kernel and never answered."""
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self):
        os.kill(self.proc.pid, signal.SIGCONT)

    def keys(self, prefix=""):
        """Every raw etcd key (sorted) under `prefix`."""
        out = self.etcdctl("get", prefix, "--prefix", "--keys-only").stdout
        return sorted(k for k in out.splitlines() if k)

    def json(self, path):
        v = self.raw(path)
        return None if v is None else json.loads(v)


@pytest.fixture
def etcd_node():
    e = FaultyEtcd().start()
    yield e
    e.close()


server_factory = devices.server_factory


def restart_server(srv):
    """SIGKILL a DeviceServer and start the same command again (same devices, env, args)."""
    kill9(srv.proc)
    return srv.start()


def snapshot(d):
    """What a restart must bring back, read through the client. Not healthState: that is
    observed (does the configuration DB answer?), not stored (test_health.py)."""
    return {
        "state": d.state(),
        "obsState": int(d.obsState),
        "adminMode": int(d.adminMode),
        "receiveAddresses": d.receiveAddresses,
        "processingBlockState": d.processingBlockState,
    }


class TangoDb:
    """`sdp database` (the embedded Tango database) on a fixed port and state dir, so it can be
    SIGKILLed and started again as the same database; plus device servers in DB mode."""

    def __init__(self):
        self.tmp = Path(tempfile.mkdtemp(prefix="sdp-faults-tangodb-"))
        self.port = free_port()
        self.proc = None
        self.servers = []

    @property
    def tango_host(self):
        return f"127.0.0.1:{self.port}"

    def start(self):
        log = open(self.tmp / "db.log", "a")
        self.proc = subprocess.Popen(
            [binary("sdp"), "database", "--port", str(self.port), "--state-dir", str(self.tmp / "state")],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=REPO_ROOT)
        deadline = time.monotonic() + 20
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("sdp database exited:\n" + (self.tmp / "db.log").read_text())
            try:
                tango.DeviceProxy(f"tango://{self.tango_host}/sys/database/2").ping()
                return self
            except tango.DevFailed:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def load(self, path):
        subprocess.run([binary("sdp"), "database", "load", str(path), "--tango-host", self.tango_host],
                       check=True, capture_output=True, timeout=30)

    def database(self):
        return tango.Database("127.0.0.1", self.port)

    def server(self, exe, instance, env, port):
        """A device server in DB mode, listening on a port we choose (to reach it without the DB)."""
        e = {k: v for k, v in os.environ.items() if not k.startswith("SDP_CONFIG") and not k.startswith("TOGGLE_")}
        e.update(env)
        e["TANGO_HOST"] = self.tango_host
        log = open(self.tmp / f"{exe}-{instance}.log", "a")
        p = subprocess.Popen([binary(exe), instance, "-ORBendPoint", f"giop:tcp:127.0.0.1:{port}", "-v2"],
                             stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=e, cwd=REPO_ROOT)
        self.servers.append(p)
        return p

    def log(self, name):
        return (self.tmp / name).read_text(errors="replace")

    def stop(self):
        for p in reversed(self.servers):
            if p.poll() is None:
                p.terminate()
                try:
                    p.wait(10)
                except subprocess.TimeoutExpired:
                    kill9(p)
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                kill9(self.proc)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture
def tangodb():
    db = TangoDb().start()
    yield db
    db.stop()


class Sdp:
    """`sdp controller` and `sdp deployer --type process` on one etcd, each killable and
    restartable on the same state dir."""

    def __init__(self, etcd):
        self.etcd = etcd
        self.tmp = Path(tempfile.mkdtemp(prefix="sdp-faults-pc-"))
        self.state_dir = self.tmp / "process"
        self.controller = None
        self.deployer = None

    def _spawn(self, args, log):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SDP_")}
        env.update(self.etcd.env)
        env.update({"SDP_DEPLOY_MODE": "process", "SDP_PROCESS_STATE_DIR": str(self.state_dir), "SDP_PROCESS_GRACE": "1"})
        return subprocess.Popen([binary("sdp"), *args], stdout=open(self.tmp / log, "a"), stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=REPO_ROOT)

    def start_controller(self):
        self.controller = self._spawn(["controller"], "controller.log")
        return self.controller

    def start_deployer(self):
        self.deployer = self._spawn(["deployer", "--type", "process"], "deployer.log")
        # one deployer per state dir: wait until this one holds the lock (a successor of a
        # SIGKILLed one gets it at once, the kernel drops the flock with the process)
        lock = self.state_dir / ".lock"
        assert wait_for(lambda: lock.exists() and lock.read_text() == str(self.deployer.pid) or self.deployer.poll() is not None,
                        timeout=20), self.log("deployer.log")
        assert self.deployer.poll() is None, self.log("deployer.log")
        return self.deployer

    def log(self, name):
        return (self.tmp / name).read_text(errors="replace")

    def stop(self):
        """Stop the daemons, then every process the deployer ran (they outlive a deployer by design)."""
        for p in (self.controller, self.deployer):
            kill9(p)
        for pid in replica_pids(self.state_dir):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)


def _environ(pid):
    try:
        return dict(v.split("=", 1) for v in Path(f"/proc/{pid}/environ").read_bytes().decode(errors="replace").split("\0") if "=" in v)
    except OSError:
        return None


def live_replicas(state_dir):
    """Live replica processes of the deployer using `state_dir`, from /proc (not from the
    deployer's records): {deploy_id: [(replica, pid), ...]}. A replica leads its own process
    group and carries SDP_DEPLOY_ID / SDP_REPLICA; its token names the deployer's state dir
    only indirectly, so the state dir is matched through the log file its stdout is on."""
    out = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        env = _environ(pid)
        if not env or "SDP_DEPLOY_ID" not in env:
            continue
        try:
            if os.getpgid(pid) != pid:
                continue
            stdout = os.readlink(f"/proc/{pid}/fd/1")
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        if stat[stat.rfind(")") + 2] == "Z" or not stdout.startswith(str(state_dir) + "/"):
            continue
        out.setdefault(env["SDP_DEPLOY_ID"], []).append((int(env["SDP_REPLICA"]), pid))
    return {k: sorted(v) for k, v in out.items()}


def replica_pids(state_dir):
    return [pid for reps in live_replicas(state_dir).values() for _, pid in reps]


@pytest.fixture
def sdp_daemons(etcd_node):
    s = Sdp(etcd_node)
    yield s
    s.stop()


@pytest.fixture
def sdp_up():
    """Start `sdp up` (with these extra options) on free ports in a new state dir: `sdp_up(prefix,
    *options)`. Whatever is still running afterwards is stopped, and the state dir removed."""
    started = []

    def start(prefix, *extra, etcd_port=None):
        state = Path(tempfile.mkdtemp(prefix=f"sdp-faults-{prefix}-"))
        u = e2e.Up(state, e2e.free_port(), e2e.free_port() if etcd_port is None else etcd_port, extra=extra)
        u.state = state
        started.append(u)
        return u.start()

    yield start
    for u in started:
        if u.proc is not None and u.proc.poll() is None:
            u.stop()
        for p in e2e.child_pids(u.state):
            os.kill(p, signal.SIGKILL)
        shutil.rmtree(u.state, ignore_errors=True)
