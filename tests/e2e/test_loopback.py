"""`sdp up` is reachable from this machine only: every socket that it and everything it
starts (Tango database, etcd, device servers with their ZMQ event sockets, controller,
deployer, and a workflow's Dask cluster) listens on, is a loopback address.

`--tango-host` is given with 127.0.0.1 and a free port so that the test does not collide
with a real `sdp up` on port 10000; that the option's default host is 127.0.0.1 is checked
from the help text (and by the unit test of `sdp up`'s arguments).
"""

import subprocess
import sys
import tempfile
import time
from pathlib import Path

from test_up import BIN, Up, child_pids, free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from listening import bound_sockets, descendants, not_loopback  # noqa: E402


def test_default_tango_host_is_loopback():
    help_text = subprocess.run([str(BIN / "sdp"), "up", "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "[default: 127.0.0.1:10000]" in help_text, help_text
    help_text = subprocess.run([str(BIN / "sdp"), "database", "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "[default: 127.0.0.1]" in help_text, help_text


def test_everything_sdp_up_starts_listens_on_loopback_only():
    tango_port, etcd_port = free_port(), free_port()
    state = Path(tempfile.mkdtemp(prefix="sdp-up-loopback-"))
    up = Up(state, tango_port, etcd_port).start()
    try:
        # a workflow with an execution engine: the Dask scheduler and workers listen too
        out = up.sdpcfg("process", "realtime:testdask:0.1.0")
        pb = out.strip().split(" = ")[1]
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and '"sum": 500500' not in up.sdpcfg("ls", "values", "-R", f"/pb/{pb}"):
            time.sleep(1)
        assert '"sum": 500500' in up.sdpcfg("ls", "values", "-R", f"/pb/{pb}")

        pids = descendants(up.proc.pid)
        sockets = bound_sockets(pids)
        listening_ports = {s[2] for s in sockets}
        # the check sees the sockets it must see (else an empty list would pass)
        assert tango_port in listening_ports and etcd_port in listening_ports, sockets
        commands = " ".join(s[4] for s in sockets)
        for part in ("SDPMaster", "SDPSubarray", "dask scheduler", "etcd"):
            assert part in commands, sockets
        assert len(sockets) >= 8, sockets
        assert not_loopback(pids) == [], "reachable from other machines:\n" + "\n".join(map(str, not_loopback(pids)))
    finally:
        assert up.stop() == 0, "".join(up.lines)
    time.sleep(0.5)
    assert child_pids(state) == []
