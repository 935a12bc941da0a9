"""A11: the seed README's itango session, exactly, against SDPSubarray in nodb mode with a
fresh etcd; then restart persistence (the subarray state lives in /subarray/01)."""

import json
import subprocess
import sys

import tango

from conftest import SUBARRAY, cfg_seed, wait_for

SEED_CONFIGURE = ('{ "configure": { "id": "xyz", "sbiId": "xyz", "workflow": { "type": "realtime", '
                  '"version": "0.1.0", "id": "vis_receive" }, "parameters": {}, "scanParameters": { "1": {} } } }')

PB_XYZ = """{
  "parameters": {},
  "pb_id": "xyz",
  "sbi_id": "xyz",
  "scan_parameters": {
    "1": {}
  },
  "workflow": {
    "id": "vis_receive",
    "type": "realtime",
    "version": "0.1.0"
  }
}"""


def test_a11_seed_itango_session(fresh_etcd, server_factory):
    srv = server_factory(env=fresh_etcd.env)
    # In [2]: d = DeviceProxy('mid_sdp/elt/subarray_1')
    d = tango.DeviceProxy(srv.url(SUBARRAY))
    # In [3]: d.obsState  ->  <obsState.IDLE: 0>
    assert repr(d.obsState) == "<obsState.IDLE: 0>"
    # In [4]: d.state()  ->  tango._tango.DevState.OFF (PyTango 10 prints <DevState.OFF: 1>)
    assert d.state() == tango.DevState.OFF
    # In [5]: d.adminMode = 'ONLINE'
    d.adminMode = "ONLINE"
    # In [6]: d.AssignResources('')
    d.AssignResources("")
    # In [7]: d.state()  ->  ON
    assert d.state() == tango.DevState.ON
    # In [8]: d.obsState  ->  IDLE
    assert repr(d.obsState) == "<obsState.IDLE: 0>"
    # In [9]: d.Configure('{ "configure": ... }')
    d.Configure(SEED_CONFIGURE)
    # In [10]: d.obsState  ->  <obsState.READY: 2>
    assert repr(d.obsState) == "<obsState.READY: 2>"
    assert d.receiveAddresses == '{"scanId": 1, "totalChannels": 0, "receiveAddresses": [{"fspId": 1, "hosts": []}]}'
    assert d.processingBlockState == "null"
    # the processing block, byte for byte as the 0.0.5 library stores it (with sbi_id kept)
    assert fresh_etcd.raw("/pb/xyz") == PB_XYZ
    out = fresh_etcd.sdpcfg("ls", "values", "-R", "/pb").stdout
    assert out == "Keys with /pb prefix:\n/pb/xyz = " + PB_XYZ + "\n"
    # In [11]: d.StartScan()   In [12]: d.obsState -> <obsState.SCANNING: 3>
    d.StartScan()
    assert repr(d.obsState) == "<obsState.SCANNING: 3>"
    # In [13]: d.EndScan()     In [14]: d.obsState -> <obsState.READY: 2>
    d.EndScan()
    assert repr(d.obsState) == "<obsState.READY: 2>"
    assert d.receiveAddresses == "null"


def test_a11_through_itango(fresh_etcd, server_factory, tmp_path):
    """The same session typed into the real itango shell (IPython), non-interactively."""
    srv = server_factory(env=fresh_etcd.env)
    url = srv.url(SUBARRAY)
    script = "\n".join([
        f"d = DeviceProxy('{url}')",
        "print('A', repr(d.obsState))",
        "print('B', str(d.state()))",
        "d.adminMode = 'ONLINE'",
        "d.AssignResources('')",
        "print('C', str(d.state()), repr(d.obsState))",
        f"d.Configure('{SEED_CONFIGURE}')",
        "print('D', repr(d.obsState))",
        "d.StartScan()",
        "print('E', repr(d.obsState))",
        "d.EndScan()",
        "print('F', repr(d.obsState))",
        "exit",
    ]) + "\n"
    itango = [sys.executable, "-c", "import itango, sys; sys.argv=['itango','--simple-prompt','--no-banner','--colors=NoColor']; itango.run()"]
    r = subprocess.run(itango, input=script, capture_output=True, text=True, timeout=120, cwd=tmp_path,
                       env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "IPYTHONDIR": str(tmp_path / "ipy")})
    out = r.stdout
    for line in ["A <obsState.IDLE: 0>", "B OFF",
                 "C ON <obsState.IDLE: 0>", "D <obsState.READY: 2>",
                 "E <obsState.SCANNING: 3>", "F <obsState.READY: 2>"]:
        assert line in out, f"{line!r} missing\n--- stdout ---\n{out}\n--- stderr ---\n{r.stderr}"


def test_state_persisted_and_restored_on_restart(fresh_etcd, server_factory):
    srv = server_factory(env=fresh_etcd.env)
    d = srv.proxy()
    d.adminMode = "MAINTENANCE"
    d.AssignResources("")
    d.Configure(cfg_seed("pb-restart", scan="3"))
    d.StartScan()
    fresh_etcd.sdpcfg("create", "/pb/pb-restart/state", '{"state": "executing"}')
    assert wait_for(lambda: "executing" in d.processingBlockState)
    addresses = d.receiveAddresses

    # stored by the time the command returned: stop at once, then look
    srv.stop()
    stored = json.loads(fresh_etcd.raw("/subarray/01"))
    assert stored["obs_state"] == "SCANNING"
    assert stored["state"] == "ON"
    assert stored["admin_mode"] == "MAINTENANCE"
    assert stored["pb_id"] == "pb-restart"
    assert json.loads(stored["receive_addresses"])["scanId"] == 3

    srv2 = server_factory(env=fresh_etcd.env)
    d2 = srv2.proxy()
    assert d2.state() == tango.DevState.ON
    assert repr(d2.obsState) == "<obsState.SCANNING: 3>"
    assert d2.adminMode == 2
    assert d2.receiveAddresses == addresses
    assert json.loads(d2.processingBlockState) == {"state": "executing"}
    assert "restored from /subarray/01" in srv2.log_text()
    d2.EndScan()
    d2.EndSB()
    # Init returns to the defaults, and that is what is stored
    d2.Init()
    assert d2.obsState == 0 and d2.state() == tango.DevState.OFF
    assert json.loads(fresh_etcd.raw("/subarray/01"))["state"] == "OFF"


def test_print_fsm_matches_docs():
    from conftest import REPO_ROOT, binary
    out = subprocess.run([binary("SDPSubarray"), "--print-fsm", "--markdown"], capture_output=True, text=True, check=True).stdout
    assert out == (REPO_ROOT / "docs" / "obsstate-fsm.md").read_text()
    mermaid = subprocess.run([binary("SDPSubarray"), "--print-fsm"], capture_output=True, text=True, check=True).stdout
    assert mermaid.startswith("stateDiagram-v2\n") and "READY --> SCANNING: StartScan" in mermaid
