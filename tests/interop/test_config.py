"""Configuration queries: attribute lists and configs, command lists and infos."""

import pytest
import tango

from interop_helpers import raises_devfailed

T = tango.CmdArgType

OBS_LABELS = ["EMPTY", "RESOURCING", "IDLE", "CONFIGURING", "READY", "SCANNING", "ABORTING",
              "ABORTED", "RESETTING", "FAULT", "RESTARTING"]
ADMIN_LABELS = ["ONLINE", "OFFLINE", "ENGINEERING", "NOT_FITTED", "RESERVED"]

ATTRIBUTES = [
    "obsState", "adminMode", "receiveAddresses", "doubleValue", "boolValue", "longValue",
    "long64Value", "ushortValue", "floatValue", "ucharSpectrum", "stringSpectrum",
    "doubleSpectrum", "booleanScalar", "shortScalar", "longScalar", "long64Scalar",
    "floatScalar", "doubleScalar", "ushortScalar", "ulongScalar", "ulong64Scalar",
    "ucharScalar", "stringScalar", "longSpectrum", "stringArray", "booleanSpectrum",
    "counter", "backgroundCount", "eventCounter", "failingValue",
]

ECHO_TYPES = {
    "EchoBoolean": T.DevBoolean, "EchoShort": T.DevShort, "EchoLong": T.DevLong,
    "EchoLong64": T.DevLong64, "EchoUShort": T.DevUShort, "EchoULong": T.DevULong,
    "EchoULong64": T.DevULong64, "EchoFloat": T.DevFloat, "EchoDouble": T.DevDouble,
    "EchoState": T.DevState, "EchoStringArray": T.DevVarStringArray,
    "EchoDoubleStringArray": T.DevVarDoubleStringArray, "EchoCharArray": T.DevVarCharArray,
    "EchoShortArray": T.DevVarShortArray, "EchoLongArray": T.DevVarLongArray,
    "EchoLong64Array": T.DevVarLong64Array, "EchoUShortArray": T.DevVarUShortArray,
    "EchoULongArray": T.DevVarULongArray, "EchoULong64Array": T.DevVarULong64Array,
    "EchoFloatArray": T.DevVarFloatArray, "EchoDoubleArray": T.DevVarDoubleArray,
    "EchoBooleanArray": T.DevVarBooleanArray,
}

# command -> (in type, out type)
COMMANDS = {
    "State": (T.DevVoid, T.DevState),
    "Status": (T.DevVoid, T.DevString),
    "Init": (T.DevVoid, T.DevVoid),
    "AssignResources": (T.DevString, T.DevVoid),
    "Configure": (T.DevString, T.DevVoid),
    "Echo": (T.DevString, T.DevString),
    "GetCount": (T.DevVoid, T.DevLong),
    "EchoLongString": (T.DevVarLongStringArray, T.DevVarLongStringArray),
    "CountAsLongString": (T.DevVoid, T.DevVarLongStringArray),
    "Fail": (T.DevVoid, T.DevVoid),
    "DoNothing": (T.DevVoid, T.DevVoid),
    "StringSink": (T.DevString, T.DevVoid),
    "PushCounter": (T.DevLong, T.DevVoid),
    "CountInBackground": (T.DevLong, T.DevVoid),
    "PushUserEvent": (T.DevString, T.DevVoid),
    "PushError": (T.DevVoid, T.DevVoid),
    "SetReadFailure": (T.DevBoolean, T.DevVoid),
    "Log": (T.DevVarStringArray, T.DevVoid),
    "LogRecords": (T.DevVoid, T.DevVarStringArray),
    "LogMessage": (T.DevVarStringArray, T.DevVoid),
    **{name: (t, t) for name, t in ECHO_TYPES.items()},
}


def test_get_attribute_list(dev):
    # declaration order, then State and Status (cppTango appends them last)
    assert list(dev.get_attribute_list()) == ATTRIBUTES + ["State", "Status"]


def test_attribute_list_query_ex(dev):
    infos = dev.attribute_list_query_ex()
    assert [a.name for a in infos] == ATTRIBUTES + ["State", "Status"]
    by_name = {a.name: a for a in infos}
    assert by_name["obsState"].enum_labels == OBS_LABELS
    assert by_name["doubleSpectrum"].max_dim_x == 100000


def test_attribute_query_obs_state(dev):
    info = dev.attribute_query("obsState")
    assert info.name == "obsState"
    assert info.label == "obsState"
    assert info.data_type == T.DevEnum
    assert info.data_format == tango.AttrDataFormat.SCALAR
    assert info.writable == tango.AttrWriteType.READ
    assert info.writable_attr_name == "None"
    assert info.description == "Observing state"
    assert list(info.enum_labels) == OBS_LABELS
    assert info.disp_level == tango.DispLevel.OPERATOR
    assert (info.max_dim_x, info.max_dim_y) == (1, 0)
    assert info.format == "%s"
    assert info.unit == ""
    assert info.min_value == "Not specified"
    assert info.max_value == "Not specified"
    assert info.memorized == tango.AttrMemorizedType.NONE


def test_attribute_query_admin_mode(dev):
    info = dev.attribute_query("adminMode")
    assert info.data_type == T.DevEnum
    assert info.writable == tango.AttrWriteType.READ_WRITE
    assert info.writable_attr_name == "adminMode"
    assert info.description == "Admin mode"
    assert list(info.enum_labels) == ADMIN_LABELS


def test_attribute_query_double_value(dev):
    info = dev.attribute_query("doubleValue")
    assert info.data_type == T.DevDouble
    assert info.unit == "m"
    assert info.format == "%6.3f"
    assert info.description == "No description"
    assert info.display_unit == "No display unit"
    assert info.standard_unit == "No standard unit"
    assert list(info.enum_labels) == []


def test_attribute_query_min_max(dev):
    info = dev.attribute_query("longValue")
    assert info.data_type == T.DevLong
    assert info.min_value == "-100"
    assert info.max_value == "100"
    assert info.format == "%d"
    assert info.alarms.min_alarm == "Not specified"


def test_attribute_query_spectra(dev):
    info = dev.attribute_query("stringSpectrum")
    assert info.data_format == tango.AttrDataFormat.SPECTRUM
    assert info.data_type == T.DevString
    assert info.max_dim_x == 4
    assert info.max_dim_y == 0
    assert info.disp_level == tango.DispLevel.EXPERT
    info = dev.attribute_query("doubleSpectrum")
    assert info.max_dim_x == 100000
    assert info.writable == tango.AttrWriteType.READ_WRITE
    assert info.format == "%6.2f"
    assert dev.attribute_query("ucharSpectrum").data_type == T.DevUChar


def test_attribute_query_state_status(dev):
    state = dev.attribute_query("State")
    assert state.data_type == T.DevState
    assert state.writable == tango.AttrWriteType.READ
    status = dev.attribute_query("Status")
    assert status.data_type == T.DevString


@pytest.mark.parametrize("name,dtype", [
    ("booleanScalar", T.DevBoolean), ("shortScalar", T.DevShort), ("longScalar", T.DevLong),
    ("long64Scalar", T.DevLong64), ("floatScalar", T.DevFloat), ("doubleScalar", T.DevDouble),
    ("ushortScalar", T.DevUShort), ("ulongScalar", T.DevULong), ("ulong64Scalar", T.DevULong64),
    ("ucharScalar", T.DevUChar), ("stringScalar", T.DevString),
    ("longSpectrum", T.DevLong), ("stringArray", T.DevString), ("booleanSpectrum", T.DevBoolean),
])
def test_attribute_query_rw_types(dev, name, dtype):
    info = dev.attribute_query(name)
    assert info.data_type == dtype
    assert info.writable == tango.AttrWriteType.READ_WRITE


def test_attribute_query_unknown(dev):
    raises_devfailed(dev.attribute_query, "noSuchAttr",
                     reason="API_AttrNotFound", desc="noSuchAttr attribute not found")


def test_command_list_query(dev):
    infos = dev.command_list_query()
    got = {c.cmd_name: (c.in_type, c.out_type) for c in infos}
    assert got == COMMANDS
    # cppTango sorts the command list by name
    names = [c.cmd_name for c in infos]
    assert names == sorted(names, key=str.lower)


def test_command_query_echo(dev):
    info = dev.command_query("Echo")
    assert info.cmd_name == "Echo"
    assert info.in_type == T.DevString
    assert info.out_type == T.DevString
    assert info.in_type_desc == "any text"
    assert info.out_type_desc == "same text"
    assert info.disp_level == tango.DispLevel.OPERATOR


def test_command_query_state(dev):
    info = dev.command_query("State")
    assert (info.in_type, info.out_type) == (T.DevVoid, T.DevState)
    assert info.out_type_desc == "Device state"
    info = dev.command_query("Status")
    assert (info.in_type, info.out_type) == (T.DevVoid, T.DevString)
    assert info.out_type_desc == "Device status"


def test_command_query_unknown(dev):
    raises_devfailed(dev.command_query, "NoSuchCommand",
                     reason="API_CommandNotFound", desc="Command NoSuchCommand not found")


# cppTango's default attribute properties when the class gives none
DEFAULT_FORMATS = {
    "boolValue": "Not specified", "booleanSpectrum": "Not specified", "State": "Not specified",
    "longValue": "%d", "long64Value": "%d", "ushortValue": "%d", "ucharSpectrum": "%d",
    "shortScalar": "%d", "ulongScalar": "%d", "ulong64Scalar": "%d", "ucharScalar": "%d",
    "floatValue": "%6.2f", "doubleScalar": "%6.2f", "doubleSpectrum": "%6.2f",
    "receiveAddresses": "%s", "stringSpectrum": "%s", "stringScalar": "%s", "Status": "%s",
    "obsState": "%s",
}


def test_default_attribute_properties(dev):
    infos = {a.name: a for a in dev.attribute_list_query_ex()}
    assert {n: infos[n].format for n in DEFAULT_FORMATS} == DEFAULT_FORMATS
    for name, info in infos.items():
        assert info.label == name
        assert info.display_unit == "No display unit"
        assert info.standard_unit == "No standard unit"
        expected_wan = name if info.writable == tango.AttrWriteType.READ_WRITE else "None"
        assert info.writable_attr_name == expected_wan, name
        if name not in ("doubleValue",):
            assert info.unit == "", name
        if name not in ("obsState", "adminMode"):
            assert info.description == "No description", name
            assert list(info.enum_labels) == [], name
