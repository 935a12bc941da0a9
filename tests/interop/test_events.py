"""Tango events over ZeroMQ, driven by the real PyTango client: change, periodic, archive and
user events, error events, unsubscribe, the pull model, a burst to 8 subscriber processes,
recovery after a server restart, and a stalled subscriber."""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import tango

from conftest import ServerProcess, is_pytango

pytestmark = pytest.mark.skipif(is_pytango(), reason="event tests target our server (the reference lacks the helper commands)")

EV = tango.EventType
HERE = Path(__file__).resolve().parent


class Collector:
    """Callback that records (event type, error?, value or error reasons)."""

    def __init__(self):
        self.events = []
        self.lock = threading.Lock()

    def __call__(self, ev):
        with self.lock:
            if ev.err:
                self.events.append((ev.event, True, [e.reason for e in ev.errors]))
            else:
                self.events.append((ev.event, False, ev.attr_value.value))

    def values(self):
        with self.lock:
            return [v for (_, err, v) in self.events if not err]

    def wait_for(self, pred, timeout=10.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if pred(list(self.events)):
                    return list(self.events)
            time.sleep(0.02)
        with self.lock:
            raise AssertionError(f"condition not met within {timeout}s; events: {self.events[-20:]}")


@pytest.fixture
def server():
    srv = ServerProcess().start()
    yield srv
    srv.stop()


@pytest.fixture
def dev(server):
    return tango.DeviceProxy(server.dev_url)


def test_change_events_follow_obs_state_in_order(dev):
    cb = Collector()
    eid = dev.subscribe_event("obsState", EV.CHANGE_EVENT, cb)
    # the first value arrives synchronously with the subscription
    assert cb.values()[:1] == [0]
    dev.command_inout("AssignResources", "{}")
    dev.command_inout("Configure", "{}")
    cb.wait_for(lambda evs: [v for (_, e, v) in evs if not e] == [0, 2, 4])
    dev.command_inout("Init")  # back to EMPTY
    cb.wait_for(lambda evs: [v for (_, e, v) in evs if not e] == [0, 2, 4, 0])
    dev.unsubscribe_event(eid)


def test_state_change_event_without_any_device_code(dev):
    cb = Collector()
    dev.subscribe_event("State", EV.CHANGE_EVENT, cb)
    assert cb.values() == [tango.DevState.OFF]
    dev.command_inout("AssignResources", "{}")
    cb.wait_for(lambda evs: [v for (_, e, v) in evs if not e] == [tango.DevState.OFF, tango.DevState.ON])


def test_no_event_when_nothing_changed(dev):
    cb = Collector()
    dev.subscribe_event("obsState", EV.CHANGE_EVENT, cb)
    for _ in range(5):
        dev.command_inout("DoNothing")
    dev.command_inout("AssignResources", "{}")
    cb.wait_for(lambda evs: len(evs) >= 2)
    time.sleep(0.3)
    assert cb.values() == [0, 2], "only the initial value and the one real change"


def test_written_double_produces_change_event_with_value(dev):
    cb = Collector()
    dev.subscribe_event("doubleValue", EV.CHANGE_EVENT, cb)
    dev.write_attribute("doubleValue", 2.5)
    dev.command_inout("Configure", "{}")  # sets 3.25
    cb.wait_for(lambda evs: [v for (_, e, v) in evs if not e] == [1.5, 2.5, 3.25])


def test_pull_model(dev):
    eid = dev.subscribe_event("obsState", EV.CHANGE_EVENT, 100)
    dev.command_inout("AssignResources", "{}")
    dev.command_inout("Configure", "{}")
    deadline = time.monotonic() + 10
    got = []
    while time.monotonic() < deadline and len(got) < 3:
        got += [e.attr_value.value for e in dev.get_events(eid)]
        time.sleep(0.05)
    assert got == [0, 2, 4]


def test_periodic_events_from_polling(dev):
    cb = Collector()
    dev.subscribe_event("counter", EV.PERIODIC_EVENT, cb)
    cb.wait_for(lambda evs: len(evs) >= 4, timeout=10)
    # The first is the subscription's own reading, at any moment between two polls: the first
    # periodic event may still carry its value (CI saw [0, 0, 2, 4]). The periodic ones that
    # follow, a period (1 s) apart, each see the counter (+1 every 500 ms) advanced.
    vals = cb.values()[1:]
    assert all(b > a for a, b in zip(vals, vals[1:])), cb.values()
    assert all(e == EV.PERIODIC_EVENT.name.lower() or e == "periodic" for (e, _, _) in cb.events)


def test_periodic_needs_polling(dev):
    with pytest.raises(tango.DevFailed) as ei:
        dev.subscribe_event("doubleValue", EV.PERIODIC_EVENT, Collector())
    assert any(e.reason == "API_AttributePollingNotStarted" for e in ei.value.args)


def test_change_and_archive_events_from_polling(dev):
    ch, ar = Collector(), Collector()
    dev.subscribe_event("counter", EV.CHANGE_EVENT, ch)
    dev.subscribe_event("counter", EV.ARCHIVE_EVENT, ar)
    ch.wait_for(lambda evs: len(evs) >= 3, timeout=10)
    ar.wait_for(lambda evs: len(evs) >= 3, timeout=10)
    for c in (ch, ar):
        vals = c.values()
        assert all(b > a for a, b in zip(vals, vals[1:])), vals


def test_user_event(dev):
    cb = Collector()
    dev.subscribe_event("stringScalar", EV.USER_EVENT, cb)
    dev.command_inout("PushUserEvent", "hello")
    dev.command_inout("PushUserEvent", "world")
    cb.wait_for(lambda evs: [v for (_, e, v) in evs if not e][-2:] == ["hello", "world"])


def test_pushed_error_event(dev):
    cb = Collector()
    dev.subscribe_event("doubleValue", EV.CHANGE_EVENT, cb)
    dev.command_inout("PushError")
    evs = cb.wait_for(lambda evs: any(e for (_, e, _) in evs))
    assert [v for (_, e, v) in evs if e] == [["SDP_PushedError"]]


def test_error_event_when_read_fails_then_recovers(dev):
    cb = Collector()
    dev.subscribe_event("failingValue", EV.CHANGE_EVENT, cb)
    dev.command_inout("SetReadFailure", True)
    cb.wait_for(lambda evs: any(e for (_, e, _) in evs))
    dev.command_inout("DoNothing")  # the same error again: no second error event
    dev.command_inout("SetReadFailure", False)
    evs = cb.wait_for(lambda evs: len(evs) >= 3)
    time.sleep(0.2)
    assert [(e, v) for (_, e, v) in cb.events] == [(False, 42.0), (True, ["TEST_ReadFailure"]), (False, 42.0)]


def test_unsubscribe_stops_callbacks(dev):
    cb = Collector()
    eid = dev.subscribe_event("obsState", EV.CHANGE_EVENT, cb)
    dev.unsubscribe_event(eid)
    dev.command_inout("AssignResources", "{}")
    time.sleep(0.5)
    assert cb.values() == [0]


def test_subscription_errors(dev):
    with pytest.raises(tango.DevFailed) as ei:
        dev.subscribe_event("noSuchAttr", EV.CHANGE_EVENT, Collector())
    assert any(e.reason == "API_AttrNotFound" for e in ei.value.args)


def test_admin_info_and_confirm(server):
    adm = tango.DeviceProxy(server.adm_url)
    lv, sv = adm.command_inout("ZmqEventSubscriptionChange", ["info"])
    assert lv[0] >= 930
    assert sv[0].startswith("Heartbeat: tcp://127.0.0.1:") and sv[1].startswith("Event: tcp://127.0.0.1:")
    lv, sv = adm.command_inout("ZmqEventSubscriptionChange", ["test/device/1", "obsState", "subscribe", "change", "6"])
    assert lv[1] == 5 and lv[2] > 0
    assert sv[2].endswith("/test/device/1/obsstate#dbase=no.idl5_change")
    assert sv[3].endswith("/dserver/testdevice/test")
    adm.command_inout("EventConfirmSubscription", ["test/device/1", "obsState", "idl5_change"])
    with pytest.raises(tango.DevFailed) as ei:
        adm.command_inout("EventConfirmSubscription", ["test/device/1", "obsState"])
    assert ei.value.args[0].reason == "API_WrongNumberOfArgs"
    with pytest.raises(tango.DevFailed) as ei:
        adm.command_inout("EventSubscriptionChange", ["test/device/1", "obsState", "subscribe", "change"])
    assert ei.value.args[0].reason == "API_NotSupported"
    with pytest.raises(tango.DevFailed) as ei:
        adm.command_inout("ZmqEventSubscriptionChange", ["test/device/1", "obsState", "subscribe", "data_ready", "6"])
    assert ei.value.args[0].reason == "API_NotSupported"


SUBSCRIBER = r"""
import json, sys, time, tango
url, n = sys.argv[1], int(sys.argv[2])
vals, missed = [], []
def cb(ev):
    if ev.err:
        missed.append([e.reason for e in ev.errors])
    else:
        vals.append(int(ev.attr_value.value))
dp = tango.DeviceProxy(url)
dp.subscribe_event("eventCounter", tango.EventType.CHANGE_EVENT, cb)
print("ready", flush=True)
t0 = None
deadline = time.monotonic() + 60
while time.monotonic() < deadline and len(vals) < n + 1:
    if t0 is None and len(vals) > 1:
        t0 = time.monotonic()
    time.sleep(0.01)
dt = time.monotonic() - (t0 or time.monotonic())
print(json.dumps({"vals_first": vals[:2], "count": len(vals), "contiguous": vals[1:] == list(range(vals[0] + 1, vals[0] + 1 + n)), "errors": missed, "seconds": dt}), flush=True)
"""


def test_burst_to_eight_subscriber_processes(server):
    n, procs = 10_000, 8
    subs = [subprocess.Popen([sys.executable, "-c", SUBSCRIBER, server.dev_url, str(n)], stdout=subprocess.PIPE, text=True)
            for _ in range(procs)]
    try:
        for p in subs:
            assert p.stdout.readline().strip() == "ready"
        time.sleep(0.5)  # ZMQ slow joiner: let the SUB sockets connect
        t = time.monotonic()
        tango.DeviceProxy(server.dev_url).command_inout("PushCounter", n)
        results = [json.loads(p.stdout.readline()) for p in subs]
        elapsed = time.monotonic() - t
    finally:
        for p in subs:
            p.kill()
            p.wait()
    for r in results:
        assert r["errors"] == [], r
        assert r["count"] == n + 1 and r["contiguous"], {k: r[k] for k in ("count", "contiguous", "vals_first")}
    print(f"\n{procs} subscribers x {n} events delivered in {elapsed:.2f}s "
          f"({procs * n / elapsed:.0f} events/s aggregate)")


def test_client_recovers_after_server_restart(server):
    cb = Collector()
    dp = tango.DeviceProxy(server.dev_url)
    dp.subscribe_event("obsState", EV.CHANGE_EVENT, cb)
    port = server.port
    server.stop()
    # same port again: the client's keep-alive thread notices the missing heartbeats,
    # reports an error event, and re-subscribes once the server is back
    proc = subprocess.Popen(
        [str(Path(os.environ.get("TANGO_TEST_BINARY", "target/debug/TestDevice")).resolve()), "test", "-nodb", "-dlist",
         "test/device/1", "-ORBendPoint", f"giop:tcp:127.0.0.1:{port}"],
        cwd=HERE.parents[1], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        cb.wait_for(lambda evs: any(e for (_, e, _) in evs), timeout=30)
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            dp.command_inout("AssignResources", "{}")  # obsState 2 on the new server
            if 2 in cb.values():
                break
            dp.command_inout("Init")
            time.sleep(1)
        assert 2 in cb.values(), cb.events
    finally:
        proc.terminate()
        proc.wait()


def rss_kb(pid):
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def test_stalled_subscriber_keeps_server_memory_bounded(server):
    import zmq
    adm = tango.DeviceProxy(server.adm_url)
    _, sv = adm.command_inout("ZmqEventSubscriptionChange", ["test/device/1", "eventCounter", "subscribe", "change", "6"])
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.RCVHWM, 10)
    sub.setsockopt(zmq.RCVBUF, 4096)
    sub.connect(sv[1])
    sub.setsockopt(zmq.SUBSCRIBE, sv[2].encode())
    time.sleep(0.5)
    dp = tango.DeviceProxy(server.dev_url)
    base = rss_kb(server.proc.pid)
    try:
        # 200 000 events nobody reads: queues fill up to their bounds...
        for _ in range(20):
            dp.command_inout("PushCounter", 10_000)
        time.sleep(0.3)
        filled = rss_kb(server.proc.pid)
        # ...and 400 000 more must not grow the server further (a queue without bound would
        # add ~60 MB here)
        for _ in range(40):
            dp.command_inout("PushCounter", 10_000)
        time.sleep(0.3)
        after = rss_kb(server.proc.pid)
        print(f"\nstalled subscriber: server RSS {base} -> {filled} (200k events) -> {after} kB (600k events)")
        assert after - filled < 8_000, f"RSS {base} -> {filled} -> {after} kB with a stalled subscriber"
        assert after - base < 64_000, f"RSS {base} -> {filled} -> {after} kB with a stalled subscriber"
        dp.ping()  # and the device still answers
    finally:
        sub.close(0)
        ctx.term()


@pytest.mark.parametrize("attr,kind,trigger,at_least", [
    ("counter", EV.PERIODIC_EVENT, None, 3),
    ("counter", EV.ARCHIVE_EVENT, None, 3),
    ("stringScalar", EV.USER_EVENT, "PushUserEvent", 3),  # the first value read at subscription + 2 pushes
])
def test_pull_model_for_periodic_archive_and_user_events(dev, attr, kind, trigger, at_least):
    eid = dev.subscribe_event(attr, kind, 100)
    try:
        if trigger:
            dev.command_inout(trigger, "one")
            dev.command_inout(trigger, "two")
        deadline = time.monotonic() + 10
        got = []
        while time.monotonic() < deadline and len(got) < at_least:
            got += [e for e in dev.get_events(eid) if not e.err]
            time.sleep(0.1)
        assert len(got) >= at_least, got
        if trigger:
            assert [e.attr_value.value for e in got][-2:] == ["one", "two"]
    finally:
        dev.unsubscribe_event(eid)
