"""Connection limits with the real client: a server closes idle connections
(`-ORBinConScanPeriod`, omniORB's option) and PyTango reconnects without the user noticing;
connections beyond `-maxConnections` are refused with a clear client-side error and the
server recovers once connections close."""

import socket
import subprocess
import sys
import time

import pytest
import tango

from conftest import ServerProcess, is_pytango


def established_connections(port):
    """Server-side ESTABLISHED TCP connections on 127.0.0.1:port (from /proc/net/tcp)."""
    n = 0
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            local, state = line.split()[1], line.split()[3]
            if state == "01" and local == f"0100007F:{port:04X}":
                n += 1
    return n


def wait_until(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


@pytest.fixture
def idle_server():
    srv = ServerProcess(instance="idle", extra_args=["-ORBinConScanPeriod", "1"]).start()
    yield srv
    srv.stop()


def test_idle_connection_is_closed_and_client_reconnects(idle_server):
    dev = tango.DeviceProxy(idle_server.dev_url)
    assert dev.read_attribute("longValue").value == -7
    assert established_connections(idle_server.port) >= 1
    # the server closes the idle connection (omniORB's scan may take up to twice the period)
    assert wait_until(lambda: established_connections(idle_server.port) == 0, timeout=10)
    # ... and the same proxy goes on working: reads, writes, commands
    assert dev.read_attribute("longValue").value == -7
    dev.write_attribute("doubleValue", 2.5)
    assert dev.read_attribute("doubleValue").value == 2.5
    assert dev.command_inout("Status").startswith("The device is in")
    assert idle_server.proc.poll() is None


def read_in_fresh_client(url):
    """Read longValue from a new Python process: a fresh ORB, so no cached connection is reused."""
    code = ("import sys, tango\n"
            "d = tango.DeviceProxy(sys.argv[1]); d.set_timeout_millis(2000)\n"
            "print(d.read_attribute('longValue').value)\n")
    return subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(is_pytango(), reason="-maxConnections is this project's option")
def test_connections_beyond_the_limit_are_refused_then_served_again():
    srv = ServerProcess(instance="limited", extra_args=["-maxConnections", "3"]).start()
    try:
        # this process keeps the connection its start-up ping opened (omniORB caches it)
        held = established_connections(srv.port)
        hogs = [socket.create_connection(("127.0.0.1", srv.port)) for _ in range(3 - held)]
        assert wait_until(lambda: established_connections(srv.port) == 3)
        refused = read_in_fresh_client(srv.dev_url)
        assert refused.returncode != 0
        assert "DevFailed" in refused.stderr
        # clients already connected are still served
        assert tango.DeviceProxy(srv.dev_url).read_attribute("longValue").value == -7
        for h in hogs:
            h.close()
        assert wait_until(lambda: established_connections(srv.port) == held)
        served = read_in_fresh_client(srv.dev_url)
        assert served.returncode == 0, served.stderr
        assert served.stdout.strip() == "-7"
        assert srv.proc.poll() is None
    finally:
        srv.stop()
