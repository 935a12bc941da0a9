"""The lock and polling cases with the cppTango 9.3 client library (Debian libtango-dev):
tests/database/cpp/lock_poll_client.cpp, built here with g++, run against our TestDevice and
the PyTango reference server, both registered in the database under test."""

import shutil
import subprocess
import sys

import pytest

from conftest import HERE, REPO_ROOT, TEST_DEVICE, DeviceServer, register

ENDPOINT = ["-ORBendPoint", "giop:tcp:127.0.0.1:"]
pytestmark = pytest.mark.skipif(
    shutil.which("g++") is None or subprocess.run(["pkg-config", "--exists", "tango"]).returncode != 0,
    reason="needs g++ and the cppTango 9.3 client library (Debian libtango-dev)")


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    exe = tmp_path_factory.mktemp("cpp") / "lock_poll_client"
    flags = subprocess.run(["pkg-config", "--cflags", "--libs", "tango"], capture_output=True, text=True, check=True)
    build = subprocess.run(["g++", "-std=c++14", "-O0", "-o", str(exe), str(HERE / "cpp" / "lock_poll_client.cpp"),
                            *flags.stdout.split()], capture_output=True, text=True)
    assert build.returncode == 0, build.stderr
    return exe


@pytest.mark.parametrize("server", ["rust", "pytango"])
def test_cpptango_client_locks_and_polls(client, database, server):
    instance = f"cpp{server}"
    device = f"test/cppclient/{server}"
    register(database, f"TestDevice/{instance}", "TestDevice", device)
    if server == "rust":
        cmd = [str(TEST_DEVICE), instance, *ENDPOINT]
    else:
        cmd = [sys.executable, str(REPO_ROOT / "tests" / "interop" / "reference_device.py"), instance, *ENDPOINT]
    srv = DeviceServer(cmd, f"TestDevice/{instance}").start(wait_device=device)
    try:
        out = subprocess.run([str(client), device], capture_output=True, text=True, timeout=60)
        assert out.returncode == 0 and "ALL OK" in out.stdout, out.stdout + out.stderr
    finally:
        srv.stop()
        database.delete_server(f"TestDevice/{instance}")
