"""The device servers' liveness/readiness probe: tango-ping, taken from the rendered ConfigMap,
run against real Tango servers — cppTango's TangoTest (Debian tango-test) and the project's own
Rust server (TestDevice, built by `make build`). Both listen on 127.0.0.1 without a database."""
from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import ROOT

TANGOTEST = Path("/usr/lib/tango/TangoTest")
RUST_SERVER = Path(os.environ.get("TANGO_TEST_BINARY", ROOT / "target" / "debug" / "TestDevice"))
if not RUST_SERVER.is_absolute():
    RUST_SERVER = ROOT / RUST_SERVER


@pytest.fixture(scope="module")
def tango_ping(umbrella, tmp_path_factory) -> Path:
    script = tmp_path_factory.mktemp("probe") / "tango-ping"
    script.write_text(umbrella.get("ConfigMap", "test-sdp-prototype-tangods")["data"]["tango-ping"])
    script.chmod(0o555)
    return script


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ping(script: Path, device: str, port: int) -> subprocess.CompletedProcess:
    # the probe's environment in the pod, with this machine's loopback as the pod address
    env = {"PATH": os.environ["PATH"], "POD_IP": "127.0.0.1", "TANGO_PING_PORT": str(port)}
    return subprocess.run([str(script), device], env=env, capture_output=True, text=True, timeout=20)


def start(cmd: list[str], port: int, script: Path, device: str) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env={**os.environ, "TANGO_HOST": "127.0.0.1:1"})
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"{cmd[0]} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc
        except OSError:
            time.sleep(0.05)
    proc.kill()
    pytest.fail(f"{cmd[0]} did not listen on {port}")


SERVERS = {
    "cppTango-TangoTest": (TANGOTEST, lambda p: [str(TANGOTEST), "test", "-nodb", "-dlist", "sys/tg_test/1",
                                                 "-ORBendPoint", f"giop:tcp:127.0.0.1:{p}"], "sys/tg_test/1"),
    "rust-TestDevice": (RUST_SERVER, lambda p: [str(RUST_SERVER), "test", "-nodb", "-dlist", "test/device/1",
                                                "-ORBendPoint", f"giop:tcp:127.0.0.1:{p}"], "test/device/1"),
}


@pytest.fixture(params=sorted(SERVERS), scope="module")
def server(request, tango_ping):
    binary, cmd, device = SERVERS[request.param]
    if not binary.exists():
        pytest.skip(f"{binary} not present ({'apt-get install tango-test' if 'Tango' in request.param else 'make build'})")
    port = free_port()
    proc = start(cmd(port), port, tango_ping, device)
    yield port, device
    proc.terminate()
    proc.wait(timeout=10)


def test_a_served_device_answers_the_ping(tango_ping, server):
    port, device = server
    # a server listens before its devices are ready (what the readiness probe is for): the
    # probe must succeed within a few periods
    deadline = time.monotonic() + 15
    while (r := ping(tango_ping, device, port)).returncode != 0 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert r.returncode == 0, r.stderr
    # device names are case-insensitive in Tango
    assert ping(tango_ping, device.upper(), port).returncode == 0


def test_a_device_the_server_does_not_serve_fails_the_probe(tango_ping, server):
    port, _ = server
    r = ping(tango_ping, "mid_sdp/elt/subarray_9", port)
    assert r.returncode == 1
    assert "did not answer the ping" in r.stderr


def test_nothing_listening_fails_the_probe(tango_ping):
    assert ping(tango_ping, "mid_sdp/elt/master", free_port()).returncode == 1


def test_a_server_that_never_answers_fails_within_the_probe_timeout(tango_ping):
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen()
        held = []
        threading.Thread(target=lambda: held.append(srv.accept()), daemon=True).start()
        t0 = time.monotonic()
        r = ping(tango_ping, "mid_sdp/elt/master", srv.getsockname()[1])
        assert r.returncode == 1
        assert time.monotonic() - t0 < 5  # the pods' probe timeoutSeconds
