"""PyTango reference implementation of the interop test device.

This is the *same interface* as our Rust test device server (`TestDevice`), written with
PyTango's high-level API.  It exists so that the interop suite can be checked against a
real cppTango-based server (`TANGO_SERVER=pytango make test` / pytest) before, and
alongside, the Rust one.

Run by hand (no database):

    .venv/bin/python tests/interop/reference_device.py test -nodb \
        -dlist test/device/1 -ORBendPoint giop:tcp:127.0.0.1:45450

The executable name is forced to ``TestDevice`` (PyTango would otherwise take it from the
file name), so the admin device is ``dserver/TestDevice/test`` as for the Rust server.
"""

import enum
import sys
import threading
import time

from tango import AttrWriteType, EnsureOmniThread, DevFailed, DevState, DispLevel, Except
from tango.server import Device, attribute, class_property, command, device_property, run


class ObsState(enum.IntEnum):
    EMPTY = 0
    RESOURCING = 1
    IDLE = 2
    CONFIGURING = 3
    READY = 4
    SCANNING = 5
    ABORTING = 6
    ABORTED = 7
    RESETTING = 8
    FAULT = 9
    RESTARTING = 10


class AdminMode(enum.IntEnum):
    ONLINE = 0
    OFFLINE = 1
    ENGINEERING = 2
    NOT_FITTED = 3
    RESERVED = 4


RW = AttrWriteType.READ_WRITE
R = AttrWriteType.READ

# name -> (tango type, initial value) of the READ_WRITE round-trip scalars
RW_SCALARS = {
    "booleanScalar": ("DevBoolean", False),
    "shortScalar": ("DevShort", 0),
    "longScalar": ("DevLong", 0),
    "long64Scalar": ("DevLong64", 0),
    "floatScalar": ("DevFloat", 0.0),
    "doubleScalar": ("DevDouble", 0.0),
    "ushortScalar": ("DevUShort", 0),
    "ulongScalar": ("DevULong", 0),
    "ulong64Scalar": ("DevULong64", 0),
    "ucharScalar": ("DevUChar", 0),
    "stringScalar": ("DevString", ""),
}

# name -> (tango element type, max_dim_x) of the READ_WRITE spectra that start empty
RW_SPECTRA = {
    "longSpectrum": ("DevLong", 1024),
    "stringArray": ("DevString", 64),
    "booleanSpectrum": ("DevBoolean", 64),
}

# echo command name -> Tango argument type (same type in and out)
ECHO_COMMANDS = {
    "EchoBoolean": "DevBoolean",
    "EchoShort": "DevShort",
    "EchoLong": "DevLong",
    "EchoLong64": "DevLong64",
    "EchoUShort": "DevUShort",
    "EchoULong": "DevULong",
    "EchoULong64": "DevULong64",
    "EchoFloat": "DevFloat",
    "EchoDouble": "DevDouble",
    "EchoState": "DevState",
    "EchoStringArray": "DevVarStringArray",
    "EchoDoubleStringArray": "DevVarDoubleStringArray",
    "EchoCharArray": "DevVarCharArray",
    "EchoShortArray": "DevVarShortArray",
    "EchoLongArray": "DevVarLongArray",
    "EchoLong64Array": "DevVarLong64Array",
    "EchoUShortArray": "DevVarUShortArray",
    "EchoULongArray": "DevVarULongArray",
    "EchoULong64Array": "DevVarULong64Array",
    "EchoFloatArray": "DevVarFloatArray",
    "EchoDoubleArray": "DevVarDoubleArray",
    "EchoBooleanArray": "DevVarBooleanArray",
}


def _rw_attr(name, dtype, max_dim_x=None):
    """A READ_WRITE attribute backed by self._values[name]."""

    def fget(self):
        return self._values[name]

    def fset(self, value):
        self._values[name] = value

    kwargs = dict(name=name, access=RW, fget=fget, fset=fset)
    if max_dim_x is None:
        kwargs["dtype"] = dtype
    else:
        kwargs["dtype"] = (dtype,)
        kwargs["max_dim_x"] = max_dim_x
    return attribute(**kwargs)


def _echo(name, dtype):
    def fn(self, arg):
        return arg

    fn.__name__ = name
    return command(fn, dtype_in=dtype, dtype_out=dtype, doc_in="value", doc_out="same value")


def _pushed_error():
    try:
        Except.throw_exception("SDP_PushedError", "error pushed as an event", "TestDevice.PushError()")
    except DevFailed as e:
        return e


class TestDevice(Device):
    """Interop test device (PyTango reference of the Rust TestDevice)."""

    obsState = attribute(dtype=ObsState, access=R, doc="Observing state")
    adminMode = attribute(dtype=AdminMode, access=RW, doc="Admin mode")
    receiveAddresses = attribute(dtype=str, access=R)
    doubleValue = attribute(dtype=float, access=RW, unit="m", format="%6.3f")
    boolValue = attribute(dtype=bool, access=R)
    longValue = attribute(dtype="DevLong", access=R, min_value=-100, max_value=100)
    long64Value = attribute(dtype="DevLong64", access=R)
    ushortValue = attribute(dtype="DevUShort", access=R)
    floatValue = attribute(dtype="DevFloat", access=R)
    ucharSpectrum = attribute(dtype=("DevUChar",), max_dim_x=8, access=R)
    stringSpectrum = attribute(dtype=(str,), max_dim_x=4, access=R, display_level=DispLevel.EXPERT)
    doubleSpectrum = attribute(dtype=(float,), max_dim_x=100000, access=RW)

    for _n, (_t, _v) in RW_SCALARS.items():
        locals()[_n] = _rw_attr(_n, _t)
    for _n, (_t, _m) in RW_SPECTRA.items():
        locals()[_n] = _rw_attr(_n, _t, _m)
    for _n, _t in ECHO_COMMANDS.items():
        locals()[_n] = _echo(_n, _t)
    del _n, _t
    del _v, _m

    # changes on its own every 500 ms: events come from polling
    counter = attribute(dtype="DevLong", access=R, polling_period=500, abs_change="1", period="1000")
    # pushed by CountInBackground's thread
    backgroundCount = attribute(dtype="DevLong", access=R)
    # pushed by PushCounter
    eventCounter = attribute(dtype="DevLong", access=R)
    # fails to read while SetReadFailure(true)
    failingValue = attribute(dtype=float, access=R)

    Greeting = device_property(dtype=str, default_value="hello", doc="Text the device greets with")
    Site = class_property(dtype=str, default_value="lab", doc="Where the devices of this class run")

    def init_device(self):
        super().init_device()
        self._logged = []
        self._created = time.monotonic()
        self._event_counter = 0
        self._fail_reads = False
        self.set_change_event("eventCounter", True, False)
        self.set_change_event("backgroundCount", True, False)
        self._background_count = 0
        self.set_change_event("doubleValue", True, False)
        self.set_change_event("stringScalar", True, False)
        self._obs_state = ObsState.EMPTY
        self._admin_mode = AdminMode.OFFLINE
        self._double = 1.5
        self._spectrum = [0.0]
        self._count = 0
        self._values = {n: v for n, (_, v) in RW_SCALARS.items()}
        self._values.update({n: [] for n in RW_SPECTRA})
        self.set_state(DevState.OFF)
        self.set_status("The device is in OFF state.")

    def read_obsState(self):
        return self._obs_state

    def read_adminMode(self):
        return self._admin_mode

    def write_adminMode(self, value):
        self._admin_mode = AdminMode(value)

    def read_receiveAddresses(self):
        return '{"scan_types": []}'

    def read_doubleValue(self):
        return self._double

    def write_doubleValue(self, value):
        self._double = value

    def read_boolValue(self):
        return True

    def read_longValue(self):
        return -7

    def read_long64Value(self):
        return 1 << 40

    def read_ushortValue(self):
        return 65535

    def read_floatValue(self):
        return 0.25

    def read_ucharSpectrum(self):
        return [1, 2, 3]

    def read_stringSpectrum(self):
        return ["a", "bc"]

    def read_counter(self):
        return int((time.monotonic() - self._created) / 0.5)

    def read_backgroundCount(self):
        return self._background_count

    def read_eventCounter(self):
        return self._event_counter

    def read_failingValue(self):
        if self._fail_reads:
            Except.throw_exception("TEST_ReadFailure", "failingValue cannot be read now", "TestDevice.read_failingValue")
        return 42.0

    def read_doubleSpectrum(self):
        return self._spectrum

    def write_doubleSpectrum(self, value):
        self._spectrum = list(value)

    @command(dtype_in=str, doc_in="JSON resources")
    def AssignResources(self, config):
        self._obs_state = ObsState.IDLE
        self.set_state(DevState.ON)
        self.set_status("Resources assigned")

    @command(dtype_in=str, doc_in="JSON scan configuration")
    def Configure(self, config):
        self._obs_state = ObsState.READY
        self._double = 3.25

    @command(dtype_in=str, dtype_out=str, doc_in="any text", doc_out="same text")
    def Echo(self, text):
        return text

    @command(dtype_out="DevLong")
    def GetCount(self):
        self._count += 1
        return self._count

    @command(dtype_in="DevVarLongStringArray", dtype_out="DevVarLongStringArray")
    def EchoLongString(self, arg):
        return arg

    @command(dtype_out="DevVarLongStringArray")
    def CountAsLongString(self):
        self._count += 1
        n = self._count
        return [list(range(n, n + n % 3 + 1)), [str(n)] * (n % 2 + 1)]

    @command
    def Fail(self):
        Except.throw_exception("SDP_TestFailure", "Fail command always fails", "TestDevice.Fail()")

    @command
    def DoNothing(self):
        pass

    @command(dtype_in=str)
    def StringSink(self, text):
        pass

    @command(dtype_in="DevLong", doc_in="number of change events to push")
    def PushCounter(self, n):
        for _ in range(max(n, 0)):
            self._event_counter += 1
            self.push_change_event("eventCounter", self._event_counter)

    @command(dtype_in="DevLong",
             doc_in="number of change events of backgroundCount a thread pushes after the command returned")
    def CountInBackground(self, n):
        def count():
            with EnsureOmniThread():
                for _ in range(max(n, 0)):
                    self._background_count += 1
                    self.push_change_event("backgroundCount", self._background_count)

        threading.Thread(target=count, daemon=True).start()

    @command(dtype_in=str, doc_in="value of the user event")
    def PushUserEvent(self, text):
        self.push_event("stringScalar", [], [], text)

    @command
    def PushError(self):
        self.push_change_event("doubleValue", _pushed_error())

    @command(dtype_in=bool, doc_in="true: failingValue reads fail")
    def SetReadFailure(self, on):
        self._fail_reads = on

    @command(dtype_in=(str,), doc_in="log record: [ms, level, device, message, ndc, thread]")
    def Log(self, record):
        if len(record) >= 4:
            self._logged.append(f"{record[1]}|{record[2]}|{record[3]}")

    @command(dtype_out=(str,), doc_out="LEVEL|device|message of every record received")
    def LogRecords(self):
        return self._logged

    @command(dtype_in=(str,), doc_in="[level, message]: the device logs it")
    def LogMessage(self, arg):
        streams = {"FATAL": self.fatal_stream, "ERROR": self.error_stream, "WARN": self.warn_stream,
                   "INFO": self.info_stream, "DEBUG": self.debug_stream}
        streams[arg[0].upper()](arg[1])


if __name__ == "__main__":
    run((TestDevice,), args=["TestDevice"] + sys.argv[1:])
