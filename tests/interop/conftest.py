"""Fixtures of the interop suite: start a Tango device server, talk to it with PyTango.

Which server is under test is chosen with the environment:

    TANGO_SERVER=rust      (default) our Rust binary, path in TANGO_TEST_BINARY
                           (default: target/debug/TestDevice relative to the repo root)
    TANGO_SERVER=pytango   tests/interop/reference_device.py, a PyTango high-level server
                           with the same interface (checks the suite itself)

Both are started with `-nodb` on a free 127.0.0.1 port, device `test/device/1`,
instance `test`, admin device `dserver/TestDevice/test`.
"""

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

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent

SERVER_KIND = os.environ.get("TANGO_SERVER", "rust").lower()
if SERVER_KIND not in ("rust", "pytango"):
    raise RuntimeError(f"TANGO_SERVER must be 'rust' or 'pytango', not {SERVER_KIND!r}")

DEVICE = "test/device/1"
INSTANCE = "test"
ADMIN = f"dserver/TestDevice/{INSTANCE}"
START_TIMEOUT = float(os.environ.get("TANGO_START_TIMEOUT", "30"))


def is_pytango():
    return SERVER_KIND == "pytango"


# Places where the PyTango (Python) server differs from cppTango behaviour that the
# Rust server copies.  Tests use this marker with an explanation each time.
pytango_differs = pytest.mark.skipif(is_pytango(), reason="PyTango server differs from cppTango here")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_command(port, instance=INSTANCE, devices=(DEVICE,), extra_args=()):
    dlist = ",".join(devices)
    endpoint = f"giop:tcp:127.0.0.1:{port}"
    if SERVER_KIND == "pytango":
        return [sys.executable, str(HERE / "reference_device.py"), instance, "-nodb",
                "-dlist", dlist, "-ORBendPoint", endpoint, *extra_args]
    binary = Path(os.environ.get("TANGO_TEST_BINARY", "target/debug/TestDevice"))
    if not binary.is_absolute():
        binary = REPO_ROOT / binary
    if not binary.exists():
        pytest.exit(f"server binary {binary} not found: run `cargo build --workspace --bins` "
                    f"or set TANGO_TEST_BINARY (or TANGO_SERVER=pytango)", returncode=3)
    return [str(binary), instance, "-nodb", "-dlist", dlist, "-ORBendPoint", endpoint, *extra_args]


class ServerProcess:
    """One device server process on 127.0.0.1:port, output captured to a log file."""

    def __init__(self, instance=INSTANCE, devices=(DEVICE,), extra_args=()):
        self.instance = instance
        self.devices = devices
        self.extra_args = tuple(extra_args)
        self.port = None
        self.proc = None
        self.log = tempfile.NamedTemporaryFile(prefix="tango-interop-", suffix=".log", delete=False)

    def url(self, device):
        return f"tango://127.0.0.1:{self.port}/{device}#dbase=no"

    @property
    def dev_url(self):
        return self.url(self.devices[0])

    @property
    def adm_url(self):
        return self.url(f"dserver/TestDevice/{self.instance}")

    def log_text(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def start(self):
        last_error = None
        for _attempt in range(3):  # retry if another process grabbed the port meanwhile
            self.port = free_port()
            self.proc = subprocess.Popen(
                server_command(self.port, self.instance, self.devices, self.extra_args),
                stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                cwd=REPO_ROOT,
            )
            try:
                self._wait_ready()
                return self
            except Exception as exc:  # noqa: BLE001 - report below
                last_error = exc
                self.stop()
        raise RuntimeError(f"server did not start: {last_error}\n--- server log ---\n{self.log_text()}")

    def _wait_ready(self):
        deadline = time.monotonic() + START_TIMEOUT
        # 1. the TCP port accepts connections
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited with code {self.proc.returncode}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise TimeoutError("port never opened")
                time.sleep(0.05)
        # 2. the device answers a ping
        while True:
            try:
                tango.DeviceProxy(self.dev_url).ping()
                return
            except tango.DevFailed:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"server exited with code {self.proc.returncode}")
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def stop(self, timeout=10):
        """SIGTERM, then SIGKILL; returns the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout)
        return self.proc.returncode


@pytest.fixture(scope="session")
def server():
    srv = ServerProcess().start()
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def dev_url(server):
    return server.dev_url


@pytest.fixture(scope="session")
def adm_url(server):
    return server.adm_url


@pytest.fixture
def dev(server):
    """A DeviceProxy on test/device/1 (state left as previous tests made it)."""
    return tango.DeviceProxy(server.dev_url)


@pytest.fixture
def fresh_dev(dev):
    """A DeviceProxy on test/device/1 just re-initialised with the device's Init command."""
    dev.command_inout("Init")
    return dev


@pytest.fixture
def adm(server):
    return tango.DeviceProxy(server.adm_url)


@pytest.fixture
def private_server():
    """A server of its own, for tests that kill or restart it."""
    srv = ServerProcess(instance=INSTANCE).start()
    yield srv
    srv.stop()


def pytest_report_header(config):
    return f"interop server under test: TANGO_SERVER={SERVER_KIND}"
