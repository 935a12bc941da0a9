"""Fixtures of the device suite: a real etcd, the real SDPSubarray / SDPMaster binaries in
-nodb mode on free ports, and the real PyTango client.

Binaries come from target/debug (override with SDP_DEVICES_BIN_DIR); build them first with
`cargo build --workspace --bins`. etcd is Debian's /usr/bin/etcd (override with ETCD_BIN);
etcdctl is used to read raw keys, sdpcfg (ours) to read and write through the config library.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import tango

REPO_ROOT = Path(__file__).resolve().parents[2]
BIN_DIR = Path(os.environ.get("SDP_DEVICES_BIN_DIR", REPO_ROOT / "target" / "debug"))
START_TIMEOUT = float(os.environ.get("TANGO_START_TIMEOUT", "30"))

SUBARRAY = "mid_sdp/elt/subarray_1"
MASTER = "mid_sdp/elt/master"


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def binary(name):
    path = BIN_DIR / name
    if not path.exists():
        pytest.exit(f"{path} not found: run `cargo build --workspace --bins` (or set SDP_DEVICES_BIN_DIR)", returncode=3)
    return str(path)


class Etcd:
    """A throwaway single-node etcd on 127.0.0.1 with a temporary data dir."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="sdp-devices-etcd-"))
        self.port = None
        self.proc = None

    def restart(self):
        """Stop and start again on the same client port with the same data."""
        self.stop()
        return self.start(keep_port=True)

    def start(self, keep_port=False):
        exe = os.environ.get("ETCD_BIN") or shutil.which("etcd") or "/usr/bin/etcd"
        if not Path(exe).exists():
            pytest.exit("no etcd binary: apt-get install etcd-server (or set ETCD_BIN)", returncode=3)
        # etcd reads every ETCD_* variable as a flag: start it without ours
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        for _ in range(3):
            if not (keep_port and self.port):
                self.port = free_port()
            peer = free_port()
            log = open(self.dir / "etcd.log", "w")
            self.proc = subprocess.Popen(
                [exe, "--name", "devices", "--data-dir", str(self.dir / "data"),
                 "--listen-client-urls", f"http://127.0.0.1:{self.port}",
                 "--advertise-client-urls", f"http://127.0.0.1:{self.port}",
                 "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-cluster", f"devices=http://127.0.0.1:{peer}",
                 "--heartbeat-interval=10", "--election-timeout=100", "--log-level", "error", "--logger", "zap"],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.proc.poll() is None:
                try:
                    if self.etcdctl("endpoint", "health", check=False).returncode == 0:
                        return self
                except FileNotFoundError:
                    pass
                time.sleep(0.1)
            self.stop()
        raise RuntimeError("etcd did not start:\n" + (self.dir / "etcd.log").read_text())

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def close(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def env(self):
        return {"SDP_CONFIG_HOST": "127.0.0.1", "SDP_CONFIG_PORT": str(self.port)}

    def etcdctl(self, *args, check=True):
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        env["ETCDCTL_API"] = "3"
        return subprocess.run(["etcdctl", "--endpoints", f"127.0.0.1:{self.port}", *args],
                              capture_output=True, text=True, env=env, check=check, timeout=20)

    def raw(self, path):
        """The stored value of a logical path (`/pb/x` is the etcd key `2/pb/x`), or None."""
        key = f"{path.count('/')}{path}"
        out = self.etcdctl("get", key, "--print-value-only").stdout
        return out[:-1] if out.endswith("\n") else (out or None)

    def sdpcfg(self, *args, check=True):
        env = dict(os.environ, **self.env)
        return subprocess.run([binary("sdpcfg"), *args], capture_output=True, text=True, env=env, check=check, timeout=20)


class DeviceServer:
    """One SDPSubarray or SDPMaster process (-nodb) on a free 127.0.0.1 port."""

    def __init__(self, exe, devices, instance="1", env=None, args=()):
        self.exe = exe
        self.devices = list(devices)
        self.instance = instance
        self.env = dict(env or {})
        self.args = list(args)
        self.port = None
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix=f"{exe}-", suffix=".log", delete=False)

    def url(self, device=None):
        return f"tango://127.0.0.1:{self.port}/{device or self.devices[0]}#dbase=no"

    def proxy(self, device=None):
        return tango.DeviceProxy(self.url(device))

    def log_text(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def start(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SDP_CONFIG") and not k.startswith("TOGGLE_")}
        env.update(self.env)
        last = None
        for _ in range(3):
            self.port = free_port()
            cmd = [binary(self.exe), self.instance, "-nodb", "-dlist", ",".join(self.devices),
                   "-ORBendPoint", f"giop:tcp:127.0.0.1:{self.port}", "-v2", *self.args]
            self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, cwd=REPO_ROOT, env=env)
            try:
                self._wait_ready()
                return self
            except Exception as exc:  # noqa: BLE001
                last = exc
                self.stop()
        raise RuntimeError(f"{self.exe} did not start: {last}\n--- log ---\n{self.log_text()}")

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"exited with code {self.proc.returncode}")
            try:
                tango.DeviceProxy(self.url()).ping()
                return
            except tango.DevFailed:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, timeout=10):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout)


@pytest.fixture(scope="session")
def etcd():
    e = Etcd().start()
    yield e
    e.close()


@pytest.fixture
def fresh_etcd():
    """An etcd of its own (for tests that need fixed ids such as the seed's `xyz`)."""
    e = Etcd().start()
    yield e
    e.close()


@pytest.fixture(scope="session")
def subarray_server(etcd):
    """SDPSubarray in test mode (obsState writable) on the session etcd."""
    srv = DeviceServer("SDPSubarray", [SUBARRAY], env=etcd.env, args=["--test-mode"]).start()
    yield srv
    srv.stop()


@pytest.fixture
def sub(subarray_server):
    """The subarray, re-initialised (State OFF, obsState IDLE, adminMode ONLINE)."""
    d = subarray_server.proxy()
    d.Init()
    return d


@pytest.fixture
def server_factory():
    started = []

    def make(exe="SDPSubarray", devices=(SUBARRAY,), env=None, args=(), instance="1"):
        srv = DeviceServer(exe, devices, instance=instance, env=env, args=args).start()
        started.append(srv)
        return srv

    yield make
    for s in started:
        s.stop()


@pytest.fixture(scope="session")
def master_server():
    srv = DeviceServer("SDPMaster", [MASTER]).start()
    yield srv
    srv.stop()


@pytest.fixture
def master(master_server):
    d = master_server.proxy()
    d.Init()
    return d


def unique_pb_id(prefix="realtime-20190627"):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def cfg_test(pb_id, scans=None):
    """CFG-TEST of the acceptance scenarios (scanParameters replaced by {"4": {}} as the tests did)."""
    return json.dumps({"configure": {
        "id": pb_id, "sbiId": "20190627-0001", "cspCbfOutlinkAddress": "mid_csp/elt/subarray01/cbfOutLink",
        "workflow": {"type": "realtime", "version": "0.1.0", "id": "vis_ingest"},
        "parameters": {"numStations": 4, "numPolarisations": 4, "numChannels": 93, "maxChannelsPerHost": 400,
                       "channelAveragingFactor": 8, "portOffset": 9000, "freqEndHz": 1050000000.0,
                       "freqStartHz": 350000000.0,
                       "fields": {"0": {"name": "NGC6251", "dec": "89:15:51.4", "system": "ICRS", "ra": "2:31:50.91"}}},
        "scanParameters": scans if scans is not None else {"4": {}}}})


def cfg_seed(pb_id="xyz", scan="1", workflow="vis_receive"):
    return ('{ "configure": { "id": "%s", "sbiId": "xyz", "workflow": { "type": "realtime", "version": "0.1.0", '
            '"id": "%s" }, "parameters": {}, "scanParameters": { "%s": {} } } }' % (pb_id, workflow, scan))


CS_TEST = json.dumps({"configureScan": {"scanParameters": {"scanId": 12346, "fieldId": 1, "intervalMs": 140}}})


def wait_device(url, timeout=20):
    """A proxy to `url` once the device answers a ping (a server still starting, or one
    waiting for its database)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            d = tango.DeviceProxy(url)
            d.ping()
            return d
        except tango.DevFailed:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def wait_for(fn, timeout=15.0, interval=0.05):
    """Poll fn() until it is truthy; return its last value. The default limit is generous on
    purpose: it only costs time when the test fails, and a loaded CI machine is slow."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() > deadline:
            return v
        time.sleep(interval)
