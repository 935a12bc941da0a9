"""Load: 64 concurrent GIOP connections sending mixed requests (read, write, ping) through
`tango-loadgen`: no error, every request answered, and the server's memory flat between two
rounds. (`make soak` runs the 64 × 10 000 version against a release build.)"""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from conftest import REPO_ROOT, is_pytango

pytestmark = pytest.mark.skipif(is_pytango(), reason="drives our server's own loadgen")

CONNECTIONS = int(os.environ.get("LOAD_CONNECTIONS", "64"))
REQUESTS = int(os.environ.get("LOAD_REQUESTS", "1000"))
# rounds that fill the allocator's per-thread arenas before memory is compared (RSS climbs
# for a few rounds, then stays: 8.9, 10.6, 13.1, 14.0, 14.2 MB over 5 rounds of 640 000)
WARMUP = int(os.environ.get("LOAD_WARMUP", "1"))


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_for_fds(pid, at_most, timeout=10.0):
    """Closed client connections are reaped by the server shortly after the loadgen exits."""
    deadline = time.monotonic() + timeout
    while open_fds(pid) > at_most and time.monotonic() < deadline:
        time.sleep(0.05)
    return open_fds(pid)


def load_round(port):
    binary = Path(os.environ.get("TANGO_LOADGEN", REPO_ROOT / "target" / "debug" / "tango-loadgen"))
    out = subprocess.run([str(binary), f"127.0.0.1:{port}", "test/device/1", "doubleScalar", "--connections", str(CONNECTIONS),
                          "--pipeline", "1", "--requests", str(REQUESTS), "--mixed"], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_many_connections_mixed_requests_no_error_memory_flat(private_server):
    pid = private_server.proc.pid
    fds_before = open_fds(pid)
    # a warm-up round fills the allocator's per-thread arenas; then two measured rounds
    for _ in range(WARMUP):
        warm = load_round(private_server.port)
        assert warm["errors"] == 0, warm
    first = load_round(private_server.port)
    assert first["errors"] == 0 and first["reads"] == CONNECTIONS * REQUESTS, first
    after_first = rss_kb(private_server.proc.pid)
    second = load_round(private_server.port)
    assert second["errors"] == 0 and second["reads"] == CONNECTIONS * REQUESTS, second
    after_second = rss_kb(private_server.proc.pid)
    print(f"\n{CONNECTIONS} connections x {REQUESTS} mixed requests: {first['reads_per_s']} and {second['reads_per_s']} req/s; "
          f"RSS {after_first} -> {after_second} kB")
    assert after_second - after_first < 4_000, f"RSS grew from {after_first} to {after_second} kB between identical rounds"
    # every connection the rounds opened was closed again: no descriptor leak
    fds_after = wait_for_fds(pid, fds_before)
    assert fds_after <= fds_before, f"server had {fds_before} open descriptors before the load and {fds_after} after"
