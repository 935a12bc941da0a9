"""healthState that means something (issue 16 §4) and the device servers' own liveness (§3).

Real etcd, real SDPSubarray / SDPMaster binaries, real `sdp controller` and
`sdp deployer --type process`, the PyTango client. The faults are signals to real processes
(SIGKILL, SIGSTOP, SIGTERM); the checks wait for Tango CHANGE and ARCHIVE events on
healthState (and CHANGE events on healthInfo), and read the liveness keys straight from etcd.

* SDPSubarray: OK while its configuration DB answers, DEGRADED while it does not (killed or
  frozen etcd, or none at start), OK again when it answers.
* SDPMaster: OK when the processing controller and a deployer are alive, DEGRADED when the
  controller or every deployer is missing (killed: missing within the lease TTL, 5 s),
  FAILED while etcd does not answer.
* Each device server keeps /component/<Exec>-<instance>/alive: gone at once after a clean
  stop, within the TTL after SIGKILL or SIGSTOP, back after SIGCONT and after etcd restarts;
  a server started without etcd serves, and announces itself once etcd answers.
"""

import re
import signal
import threading

import tango

from conftest import MASTER, kill9, wait_for

OK, DEGRADED, FAILED, UNKNOWN = 0, 1, 2, 3
CHANGE, ARCHIVE = tango.EventType.CHANGE_EVENT, tango.EventType.ARCHIVE_EVENT
UTC = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC"


class Events:
    """The events of one attribute, in arrival order; `wait` consumes them up to a match."""

    def __init__(self, proxy, attr, kind, conv=int):
        self.values, self.cursor, self.lock = [], 0, threading.Lock()
        self.conv, self.what = conv, f"{attr} {kind}"
        self.proxy = proxy
        self.eid = proxy.subscribe_event(attr, kind, self._on)

    def _on(self, ev):
        v = ("error", ev.errors[0].reason) if ev.err else self.conv(ev.attr_value.value)
        with self.lock:
            self.values.append(v)

    def wait(self, want, timeout=30):
        """Wait for the next event equal to `want` (or satisfying it, if callable); returns
        the events consumed, the match last."""
        match = want if callable(want) else (lambda v: v == want)

        def find():
            with self.lock:
                for i in range(self.cursor, len(self.values)):
                    if match(self.values[i]):
                        seen, self.cursor = self.values[self.cursor:i + 1], i + 1
                        return seen
            return None

        seen = wait_for(find, timeout=timeout)
        assert seen, f"no {self.what} event {want!r} within {timeout} s; after the last match: {self.values[self.cursor:]}"
        return seen

    def close(self):
        try:
            self.proxy.unsubscribe_event(self.eid)
        except tango.DevFailed:
            pass


def health_events(d):
    return Events(d, "healthState", CHANGE), Events(d, "healthState", ARCHIVE), Events(d, "healthInfo", CHANGE, str)


def alive(etcd, name):
    return etcd.raw(f"/component/{name}/alive") is not None


def test_device_servers_announce_themselves_and_go_missing_when_they_stop_work(etcd_node, server_factory):
    sub = server_factory(env=etcd_node.env)
    master = server_factory(exe="SDPMaster", devices=(MASTER,), env=etcd_node.env)
    for name, srv in (("SDPSubarray-1", sub), ("SDPMaster-1", master)):
        assert wait_for(lambda: alive(etcd_node, name), timeout=20), name
        record = etcd_node.json(f"/component/{name}")
        assert (record["kind"], record["pid"]) == ("device-server", srv.proc.pid), record

    # frozen (SIGSTOP): running, serving nobody; its lease runs out, and it is back when thawed
    sub.proc.send_signal(signal.SIGSTOP)
    try:
        assert wait_for(lambda: not alive(etcd_node, "SDPSubarray-1"), timeout=20)
    finally:
        sub.proc.send_signal(signal.SIGCONT)
    assert wait_for(lambda: alive(etcd_node, "SDPSubarray-1"), timeout=20)
    assert sub.proxy().state() == tango.DevState.OFF

    # a clean stop withdraws the key before the process has exited
    sub.stop()
    assert sub.proc.returncode == 0, sub.log_text()
    assert not alive(etcd_node, "SDPSubarray-1")
    assert "stopped" in etcd_node.json("/component/SDPSubarray-1")

    # SIGKILL: nothing withdraws it, the lease expires
    kill9(master.proc)
    assert wait_for(lambda: not alive(etcd_node, "SDPMaster-1"), timeout=20)
    assert "stopped" not in etcd_node.json("/component/SDPMaster-1")


def test_server_started_without_etcd_serves_and_announces_itself_once_etcd_answers(etcd_node, server_factory):
    etcd_node.stop()
    srv = server_factory(env=etcd_node.env)  # returns once the device answers a ping
    d = srv.proxy()
    change, archive, info = health_events(d)
    try:
        change.wait(DEGRADED)
        archive.wait(DEGRADED)
        info.wait(lambda s: re.fullmatch(f"configuration DB unreachable since {UTC}: .+; Configure is refused until it answers", s))
        assert "cannot announce in the configuration DB yet" in srv.log_text() or "does not answer yet" in srv.log_text()

        etcd_node.start(keep_port=True)
        change.wait(OK)
        archive.wait(OK)
        info.wait("OK")
        assert wait_for(lambda: alive(etcd_node, "SDPSubarray-1"), timeout=20)
    finally:
        for e in (change, archive, info):
            e.close()


def test_subarray_health_follows_its_configuration_db(etcd_node, server_factory):
    srv = server_factory(env=etcd_node.env)
    d = srv.proxy()
    change, archive, info = health_events(d)
    try:
        change.wait(OK)
        archive.wait(OK)
        info.wait("OK")
        assert wait_for(lambda: alive(etcd_node, "SDPSubarray-1"), timeout=20)

        # killed: one change to DEGRADED, one back to OK (no flapping while it is down)
        etcd_node.kill()
        change.wait(DEGRADED)
        archive.wait(DEGRADED)
        info.wait(lambda s: re.fullmatch(f"configuration DB unreachable since {UTC}: .+; Configure is refused until it answers", s))
        assert int(d.healthState) == DEGRADED
        etcd_node.start(keep_port=True)
        assert change.wait(OK) == [OK]
        assert archive.wait(OK) == [OK]
        info.wait("OK")

        # frozen: connections accepted, nothing answered
        etcd_node.freeze()
        try:
            change.wait(DEGRADED)
            archive.wait(DEGRADED)
            info.wait(lambda s: re.fullmatch(f"configuration DB unreachable since {UTC}: .*(no answer|did not answer).*", s))
        finally:
            etcd_node.thaw()
        change.wait(OK)
        archive.wait(OK)

        # the server's own liveness outlived both
        assert wait_for(lambda: alive(etcd_node, "SDPSubarray-1"), timeout=20)
        assert d.state() == tango.DevState.OFF
    finally:
        for e in (change, archive, info):
            e.close()


def test_master_health_follows_controller_deployer_and_etcd(etcd_node, sdp_daemons, server_factory):
    m = server_factory(exe="SDPMaster", devices=(MASTER,), env=etcd_node.env).proxy()
    change, archive, info = health_events(m)
    try:
        change.wait(DEGRADED)
        archive.wait(DEGRADED)
        info.wait("processing controller missing (it has never announced itself); no deployer alive (none has announced itself)")

        sdp_daemons.start_controller()
        info.wait("no deployer alive (none has announced itself)")
        sdp_daemons.start_deployer()
        change.wait(OK)
        archive.wait(OK)
        info.wait("OK: processing controller and deployer-process alive")

        # the controller SIGKILLed: missing once its lease expires, alive again when restarted
        kill9(sdp_daemons.controller)
        change.wait(DEGRADED)
        archive.wait(DEGRADED)
        info.wait(lambda s: re.fullmatch(rf"processing controller missing \(last seen {UTC}\)", s))
        assert "deployer" not in m.healthInfo
        sdp_daemons.start_controller()
        change.wait(OK)
        archive.wait(OK)

        # the only deployer SIGKILLed
        kill9(sdp_daemons.deployer)
        change.wait(DEGRADED)
        info.wait(lambda s: re.fullmatch(rf"no deployer alive \(deployer-process last seen {UTC}\)", s))
        sdp_daemons.start_deployer()
        change.wait(OK)

        # etcd SIGKILLed: FAILED; back: OK once the controller and deployer are seen alive
        etcd_node.kill()
        change.wait(FAILED)
        archive.wait(FAILED)
        info.wait(lambda s: re.fullmatch(f"configuration DB unreachable since {UTC}: .+", s))
        assert int(m.healthState) == FAILED
        etcd_node.start(keep_port=True)
        change.wait(OK)
        archive.wait(OK)
        info.wait("OK: processing controller and deployer-process alive")
        assert wait_for(lambda: alive(etcd_node, "SDPMaster-1"), timeout=20)
    finally:
        for e in (change, archive, info):
            e.close()
