"""Commands of every argument type: echo round trips with edge values, the SDP-like
commands and their effect on state, argument type checks."""

import math

import numpy as np
import pytest
import tango

from conftest import is_pytango
from interop_helpers import raises_devfailed, same

F32_MAX = 3.4028234663852886e38
F32_TINY = 1.401298464324817e-45
NAN, INF = float("nan"), float("inf")

SCALAR_CASES = {
    "EchoBoolean": [True, False],
    "EchoShort": [-(2**15), 2**15 - 1, 0],
    "EchoLong": [-(2**31), 2**31 - 1, 0, -7],
    "EchoLong64": [-(2**63), 2**63 - 1, 0, 1 << 40],
    "EchoUShort": [0, 2**16 - 1],
    "EchoULong": [0, 2**32 - 1],
    "EchoULong64": [0, 2**64 - 1],
    "EchoFloat": [0.25, F32_MAX, -F32_MAX, F32_TINY, INF, -INF, NAN, -0.0],
    "EchoDouble": [1.5, 1.7976931348623157e308, -1.7976931348623157e308, 5e-324, INF, -INF, NAN, -0.0],
}

ARRAY_CASES = {
    "EchoCharArray": (np.uint8, [[0, 1, 255], []]),
    "EchoShortArray": (np.int16, [[-(2**15), 2**15 - 1, 0], []]),
    "EchoLongArray": (np.int32, [[-(2**31), 2**31 - 1, 0], []]),
    "EchoLong64Array": (np.int64, [[-(2**63), 2**63 - 1, 0], []]),
    "EchoUShortArray": (np.uint16, [[0, 2**16 - 1], []]),
    "EchoULongArray": (np.uint32, [[0, 2**32 - 1], []]),
    "EchoULong64Array": (np.uint64, [[0, 2**64 - 1], []]),
    "EchoFloatArray": (np.float32, [[INF, -INF, NAN, F32_MAX, 0.5], []]),
    "EchoDoubleArray": (np.float64, [[INF, -INF, NAN, 5e-324, -0.0, 1e300], []]),
    "EchoBooleanArray": (np.bool_, [[True, False, True], []]),
}


@pytest.mark.parametrize("cmd", sorted(SCALAR_CASES))
def test_echo_scalar(dev, cmd):
    for value in SCALAR_CASES[cmd]:
        got = dev.command_inout(cmd, value)
        assert same(got, value), (cmd, value, got)
        if isinstance(value, float) and value == 0.0:
            assert math.copysign(1.0, got) == math.copysign(1.0, value)  # -0.0 keeps its sign
        assert type(got) is type(value)


@pytest.mark.parametrize("cmd", sorted(ARRAY_CASES))
def test_echo_array(dev, cmd):
    dtype, cases = ARRAY_CASES[cmd]
    for value in cases:
        got = dev.command_inout(cmd, np.array(value, dtype=dtype))
        assert isinstance(got, np.ndarray), (cmd, got)
        assert got.dtype == dtype
        assert same(got, np.array(value, dtype=dtype)), (cmd, value, got)


@pytest.mark.parametrize("state", list(tango.DevState.values.values()))
def test_echo_state(dev, state):
    got = dev.command_inout("EchoState", state)
    assert got == state
    assert isinstance(got, tango.DevState)


@pytest.mark.parametrize("value", [[], ["a"], ["", "caf\xe9", "x" * 1000, "two words"]])
def test_echo_string_array(dev, value):
    assert list(dev.command_inout("EchoStringArray", value)) == value


@pytest.mark.parametrize("value", ["", "hello", "caf\xe9 \xb5 \xff", '{"json": [1, 2, {"k": "v"}]}',
                                   "line1\nline2\ttab"])
def test_echo_string(dev, value):
    got = dev.command_inout("Echo", value)
    assert got == value
    assert isinstance(got, str)


def test_string_outside_latin1_is_refused_by_the_client(dev):
    # PyTango encodes DevString as Latin-1: nothing reaches the server
    with pytest.raises(UnicodeError):
        dev.command_inout("Echo", "snow \u2603")


@pytest.mark.parametrize("value", [
    [[1, -2], ["a", "bc"]],
    [[], []],
    [[-(2**31), 2**31 - 1], ["only"]],
    [[5], ["x", "y", "z"]],
])
def test_echo_long_string(dev, value):
    longs, strings = dev.command_inout("EchoLongString", value)
    assert longs.dtype == np.int32
    assert list(longs) == value[0]
    assert list(strings) == value[1]


@pytest.mark.parametrize("value", [
    [[1.5, -2.25], ["a", "bc"]],
    [[], []],
    [[NAN, INF, -INF], ["nan", "inf"]],
])
def test_echo_double_string(dev, value):
    doubles, strings = dev.command_inout("EchoDoubleStringArray", value)
    assert doubles.dtype == np.float64
    assert same(doubles, np.array(value[0], dtype=float))
    assert list(strings) == value[1]


def test_void_commands(dev):
    assert dev.command_inout("DoNothing") is None
    assert dev.command_inout("StringSink", "ignored") is None
    assert dev.command_inout("StringSink", "") is None


def test_get_count_increments(fresh_dev):
    assert [fresh_dev.command_inout("GetCount") for _ in range(3)] == [1, 2, 3]
    assert isinstance(fresh_dev.command_inout("GetCount"), int)


def test_assign_resources_changes_state(fresh_dev):
    assert fresh_dev.command_inout("AssignResources", '{"resources": []}') is None
    assert fresh_dev.read_attribute("obsState").value == 2  # IDLE
    assert fresh_dev.state() == tango.DevState.ON
    assert fresh_dev.status() == "Resources assigned"
    assert fresh_dev.read_attribute("State").value == tango.DevState.ON


def test_configure_changes_obs_state_and_double_value(fresh_dev):
    fresh_dev.command_inout("AssignResources", "{}")
    assert fresh_dev.command_inout("Configure", "{}") is None
    assert fresh_dev.read_attribute("obsState").value == 4  # READY
    assert fresh_dev.read_attribute("doubleValue").value == 3.25


def test_init_resets_device(fresh_dev):
    fresh_dev.command_inout("AssignResources", "{}")
    fresh_dev.command_inout("GetCount")
    assert fresh_dev.command_inout("Init") is None
    assert fresh_dev.read_attribute("obsState").value == 0
    assert fresh_dev.state() == tango.DevState.OFF
    assert fresh_dev.status() == "The device is in OFF state."
    assert fresh_dev.command_inout("GetCount") == 1


def test_wrong_python_argument_is_refused_by_the_client(dev):
    # PyTango converts arguments client-side from command_query: nothing reaches the server
    with pytest.raises(TypeError):
        dev.command_inout("Echo", 5)
    with pytest.raises(TypeError):
        dev.command_inout("DoNothing", 3)
    with pytest.raises(OverflowError):
        dev.command_inout("EchoLong", 2**31)


def test_wrong_argument_type_on_the_wire(dev):
    # command_inout_raw sends the Any as built, so the server sees a DevLong for a DevString
    data = tango.DeviceData()
    data.insert(tango.CmdArgType.DevLong, 5)
    errs = raises_devfailed(dev.command_inout_raw, "Echo", data,
                            reason="API_IncompatibleCmdArgumentType")
    if is_pytango():
        # PyTango's own converter words it "Incompatible argument type, ..."
        assert errs[0].desc == "Incompatible argument type, expected type is : Tango::DevString"
    else:
        # cppTango Command::throw_bad_type
        assert errs[0].desc == "Incompatible command argument type, expected type is : Tango::DevString"
    assert errs[-1].reason == "API_CommandFailed"


def test_command_names_are_case_insensitive(dev):
    assert dev.command_inout("echo", "x") == "x"
    assert dev.command_inout("ECHO", "y") == "y"
