"""Connecting, ping, state/status, info, names (client_exercise.py steps 1-9)."""

import pytest
import tango

from interop_helpers import errors_of


def test_device_proxy_connects(dev):
    assert dev.dev_name() == "test/device/1"
    assert dev.name() == "test/device/1"


def test_ping_returns_microseconds(dev):
    elapsed = dev.ping()
    assert isinstance(elapsed, int)
    assert 0 <= elapsed < 5_000_000


def test_initial_state_and_status(fresh_dev):
    assert fresh_dev.state() == tango.DevState.OFF
    assert fresh_dev.status() == "The device is in OFF state."


def test_state_status_as_commands(fresh_dev):
    state = fresh_dev.command_inout("State")
    assert state == tango.DevState.OFF
    assert isinstance(state, tango.DevState)
    assert fresh_dev.command_inout("Status") == "The device is in OFF state."


def test_state_status_as_attributes(fresh_dev):
    state, status = fresh_dev.read_attributes(["State", "Status"])
    assert state.name == "State" and state.value == tango.DevState.OFF
    assert state.type == tango.CmdArgType.DevState
    assert status.name == "Status" and status.value == "The device is in OFF state."
    assert status.type == tango.CmdArgType.DevString


def test_info(dev):
    info = dev.info()
    assert info.dev_class == "TestDevice"
    assert info.server_id == "TestDevice/test"
    assert info.server_version in (5, 6)
    assert isinstance(info.server_host, str) and info.server_host
    assert isinstance(info.doc_url, str)


def test_description_is_a_string(dev):
    assert isinstance(dev.description(), str)
    assert dev.description()


def test_adm_name(dev, server):
    # PyTango (cppTango client) prefixes the host:port and adds #dbase=no in nodb mode;
    # the server itself answers "dserver/TestDevice/test" (case as the server spells it).
    assert dev.adm_name() == f"tango://127.0.0.1:{server.port}/dserver/TestDevice/test#dbase=no"


def test_unknown_device_is_object_not_exist(server):
    # the constructor already connects (_is_a -> OBJECT_NOT_EXIST) and raises
    with pytest.raises(tango.ConnectionFailed) as excinfo:
        tango.DeviceProxy(server.url("test/device/99")).ping()
    errs = errors_of(excinfo)
    assert errs[0].reason == "API_CorbaException"
    assert "OBJECT_NOT_EXIST" in errs[0].desc
    assert errs[-1].reason == "API_DeviceNotDefined"
    assert errs[-1].desc == "Failed to connect to device test/device/99"


def test_many_sequential_proxies(server):
    # a fresh proxy (and connection) per call, as short-lived clients do
    for _ in range(20):
        assert tango.DeviceProxy(server.dev_url).state() in (tango.DevState.OFF, tango.DevState.ON)


def test_black_box(dev):
    dev.ping()
    entries = dev.black_box(2)
    assert len(entries) == 2
    assert all(isinstance(e, str) and "Operation" in e for e in entries)


def test_concurrent_clients(server):
    # several clients (own proxies, own connections) at once; every answer must be its own
    import threading

    errors = []

    def worker(k):
        try:
            proxy = tango.DeviceProxy(server.dev_url)
            for i in range(50):
                text = f"client{k}-{i}"
                assert proxy.command_inout("Echo", text) == text
                assert proxy.read_attribute("long64Value").value == 1 << 40
        except Exception as exc:  # noqa: BLE001 - collected and asserted below
            errors.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors[:3]
