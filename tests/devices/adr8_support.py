"""The ADR-8 profile under test, all real parts: a throwaway etcd, the processing controller
(`sdp controller`), the process deployer (`sdp deployer --type process`, which runs the real
workflows and receivers as local processes), SDPSubarray with `--interface adr8` serving
mid-sdp/subarray/01..NN and SDPMaster with `--interface adr8` serving mid-sdp/control/0, both
-nodb on free 127.0.0.1 ports.

`LeafNode` drives a subarray as TMC's SDP subarray leaf node does: a stateless subscription to
obsState change events; for each command, send it and wait for the expected sequence of
obsStates (a subsequence of what arrives after the command), or fail after 30 s."""

import json
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import tango

from conftest import DeviceServer, Etcd, binary

EMPTY, RESOURCING, IDLE, CONFIGURING, READY, SCANNING, ABORTING, ABORTED, RESETTING, FAULT, RESTARTING = range(11)
OBS = ["EMPTY", "RESOURCING", "IDLE", "CONFIGURING", "READY", "SCANNING", "ABORTING", "ABORTED", "RESETTING", "FAULT",
       "RESTARTING"]
ONLINE, OFFLINE, ENGINEERING, NOT_FITTED, RESERVED = range(5)
CONTROLLER = "mid-sdp/control/0"
TMC_TIMEOUT = 30.0
SUBSCRIBING = threading.Lock()


def subarray_name(n):
    return f"mid-sdp/subarray/{n:02d}"


def new_ids(tag="t"):
    """Fresh eb/pb id stems (ids are unique per etcd)."""
    u = uuid.uuid4().hex[:8]
    return f"eb-{tag}-20210630-{u}", f"pb-{tag}-20210630-{u}"


def assign_arg(eb_id, pb, receive=True, receive_version="0.1.0", interface="0.4", batch=False):
    """An AssignResources argument (telescope model 0.4 or 1.0): the execution block and its
    processing blocks (the real-time receive script, and a batch script depending on it)."""
    phase_dir = ({"ra": [123.0], "dec": [-60.0], "reference_time": "2021-06-30T00:00:00", "reference_frame": "ICRF3"}
                 if interface == "0.4" else
                 {"target_name": "a", "reference_frame": "icrs", "attrs": {"c1": 123.0, "c2": -60.0}})
    pbs = []
    if receive:
        pbs.append({"pb_id": f"{pb}-rt", "script": {"kind": "realtime", "name": "vis_receive", "version": receive_version},
                    "parameters": {}})
    if batch:
        pbs.append({"pb_id": f"{pb}-b", "script": {"kind": "batch", "name": "teststate", "version": "0.2.7"},
                    "parameters": {}, "dependencies": [{"pb_id": f"{pb}-rt", "kind": ["visibilities"]}]})
    return json.dumps({
        "interface": f"https://schema.skao.int/ska-sdp-assignres/{interface}",
        "transaction_id": f"txn-test-20210630-{uuid.uuid4().int % 10**8:08d}",
        "resources": {"receptors": ["SKA001", "SKA036", "SKA063", "SKA100"], "receive_nodes": 1},
        "execution_block": {
            "eb_id": eb_id, "max_length": 100.0, "context": {},
            "beams": [{"beam_id": "vis0", "function": "visibilities"}],
            "scan_types": [{"scan_type_id": "science", "beams": {"vis0": {"channels_id": "vis_channels", "polarisations_id": "all", "field_id": "field_a"}}},
                           {"scan_type_id": "calibration", "beams": {"vis0": {"channels_id": "vis_channels", "polarisations_id": "all", "field_id": "field_a"}}}],
            "channels": [{"channels_id": "vis_channels", "spectral_windows": [{"spectral_window_id": "fsp_1_channels", "count": 4, "start": 0, "stride": 2, "freq_min": 0.35e9, "freq_max": 0.368e9, "link_map": [[0, 0], [200, 1]]}]}],
            "polarisations": [{"polarisations_id": "all", "corr_type": ["XX", "XY", "YX", "YY"]}],
            "fields": [{"field_id": "field_a", "phase_dir": phase_dir, "pointing_fqdn": "low-tmc/telstate/0/pointing"}],
        },
        "processing_blocks": pbs,
    })


CONFIGURE = json.dumps({"interface": "https://schema.skao.int/ska-sdp-configure/0.4", "transaction_id": "txn-test-20210630-00000002",
                        "scan_type": "science"})


def scan_arg(scan_id):
    return json.dumps({"interface": "https://schema.skao.int/ska-sdp-scan/0.4", "transaction_id": "txn-test-20210630-00000003",
                       "scan_id": scan_id})


RELEASE = json.dumps({"interface": "https://schema.skao.int/ska-sdp-releaseres/0.4", "release_all": True})


class Process:
    """One `sdp` component process (controller or deployer)."""

    def __init__(self, args, env, name):
        self.log = tempfile.NamedTemporaryFile(prefix=f"sdp-{name}-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([binary("sdp"), *args], stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=env)

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def stop(self, timeout=15):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Stack:
    """Everything the ADR-8 devices need, started in order and stopped in reverse."""

    def __init__(self, subarrays=2, components=True):
        self.subarrays = subarrays
        self.etcd = Etcd().start()
        self.state_dir = Path(tempfile.mkdtemp(prefix="sdp-adr8-"))
        self.env = dict({k: v for k, v in os.environ.items() if not k.startswith(("SDP_", "TOGGLE_", "ETCD"))},
                        **self.etcd.env, SDP_DEPLOY_MODE="process", SDP_PROCESS_STATE_DIR=str(self.state_dir / "processes"),
                        SDP_RECEIVE_OUTPUT=str(self.state_dir / "receive"), SDP_EXE=binary("sdp"))
        self.controller = self.deployer = None
        self.parts = []
        try:
            if components:
                self.controller = Process(["controller"], self.env, "controller")
                self.deployer = Process(["deployer", "--type", "process", "--state-dir", str(self.state_dir / "processes"),
                                         "--stop-on-exit", "--grace", "3"], self.env, "deployer")
            self.subarray_server = DeviceServer("SDPSubarray", [subarray_name(n) for n in range(1, subarrays + 1)],
                                                env=self.etcd.env, args=["--interface", "adr8"]).start()
            self.parts.append(self.subarray_server)
            self.controller_server = DeviceServer("SDPMaster", [CONTROLLER], env=self.etcd.env,
                                                  args=["--interface", "adr8"]).start()
            self.parts.append(self.controller_server)
            if components:
                self.wait_components_ok()
        except BaseException:
            self.close()
            raise

    def wait_components_ok(self, timeout=30):
        c = self.control()
        deadline = time.monotonic() + timeout
        while c.healthState != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"components not alive: {c.healthInfo}")
            time.sleep(0.1)

    def proxy(self, n=1):
        return self.subarray_server.proxy(subarray_name(n))

    def control(self):
        return self.controller_server.proxy(CONTROLLER)

    def eb_state(self, eb_id):
        raw = self.etcd.raw(f"/eb/{eb_id}/state")
        return json.loads(raw) if raw else None

    def close(self):
        for p in reversed(self.parts):
            p.stop()
        for p in (self.deployer, self.controller):
            if p:
                p.stop()
        self.etcd.close()
        shutil.rmtree(self.state_dir, ignore_errors=True)


class LeafNode:
    """TMC's SDP subarray leaf node, as far as completion goes: subscribe to obsState change
    events once; for each command wait for its expected sequence of obsStates, or fail after
    TMC_TIMEOUT seconds."""

    def __init__(self, proxy, timeout=TMC_TIMEOUT):
        self.d = proxy
        self.timeout = timeout
        self.events = queue.Queue()
        self.all = []
        self.lock = threading.Lock()
        # cppTango's client builds its event consumer on the first subscription of a process;
        # threads subscribing at that moment may fail ("Could not find event consumer"):
        # subscriptions go one at a time (TMC's leaf node subscribes once, at start)
        with SUBSCRIBING:
            self.sub = self.d.subscribe_event("obsState", tango.EventType.CHANGE_EVENT, self._cb)
        self.first = self.events.get(timeout=10)  # the value at subscription
        self.timings = {}

    def _cb(self, ev):
        if ev.err:
            return
        v = int(ev.attr_value.value)
        with self.lock:
            self.all.append(v)
        self.events.put(v)

    def drain(self):
        while True:
            try:
                self.events.get_nowait()
            except queue.Empty:
                return

    def run(self, command, arg=None, expect=()):
        """Send `command` and wait until the obsStates in `expect` arrived, in this order (other
        values may come between). Returns the seconds it took."""
        self.drain()
        t0 = time.monotonic()
        if arg is None:
            self.d.command_inout(command)
        else:
            self.d.command_inout(command, arg)
        want = list(expect)
        got = []
        while want:
            left = self.timeout - (time.monotonic() - t0)
            if left <= 0:
                raise AssertionError(f"{self.d.name()}: {command}: waited {self.timeout} s for {[OBS[w] for w in want]}; "
                                     f"events after the command: {[OBS[g] for g in got]}; obsState now {OBS[int(self.d.obsState)]}")
            try:
                v = self.events.get(timeout=min(left, 1.0))
            except queue.Empty:
                continue
            got.append(v)
            if v == want[0]:
                want.pop(0)
        dt = time.monotonic() - t0
        self.timings.setdefault(command, []).append(dt)
        return dt

    def close(self):
        try:
            self.d.unsubscribe_event(self.sub)
        except tango.DevFailed:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def drive_at_once(proxies, work, timeout=300):
    """Run work(n, leaf_node) for every (n, proxy) at once, one thread and one LeafNode each.
    Returns the failures as (n, exception)."""
    errors = []

    def one(n, proxy):
        try:
            with LeafNode(proxy) as tmc:
                work(n, tmc)
        except BaseException as e:  # noqa: BLE001
            errors.append((n, e))

    threads = [threading.Thread(target=one, args=(n, p)) for n, p in proxies]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    return errors
