"""The non-event client steps of tango-captures/client_exercise.py, in its order, with the
results the cppTango/PyTango server gave in the capture (nodb-client.log), names adapted
to test/device/1 and dserver/TestDevice/test."""

import tango



def test_client_exercise_sequence(server):
    steps = []

    def step(name, fn):
        try:
            result = fn()
        except tango.DevFailed as exc:
            result = "DevFailed: " + " | ".join(f"{e.reason}: {e.desc}" for e in exc.args)
        steps.append((name, result))
        return result

    dp = tango.DeviceProxy(server.dev_url)
    dp.command_inout("Init")
    assert step("dev_name", dp.dev_name) == "test/device/1"
    try:
        tango.DeviceProxy(server.url("test/device/no_such_device")).ping()
        raise AssertionError("unknown device answered")
    except tango.DevFailed as exc:
        reasons = [e.reason for e in exc.args]
        assert reasons == ["API_CorbaException", "API_DeviceNotDefined"]
        assert "OBJECT_NOT_EXIST" in exc.args[0].desc
    assert isinstance(step("ping", dp.ping), int)
    assert step("state", dp.state) == tango.DevState.OFF
    assert step("status", dp.status) == "The device is in OFF state."
    assert step("State", lambda: dp.command_inout("State")) == tango.DevState.OFF
    assert step("Status", lambda: dp.command_inout("Status")) == "The device is in OFF state."
    assert step("info", dp.info).dev_class == "TestDevice"
    assert isinstance(step("description", dp.description), str)
    assert step("adm_name", dp.adm_name) == \
        f"tango://127.0.0.1:{server.port}/dserver/TestDevice/test#dbase=no"
    assert step("obsState", lambda: dp.read_attribute("obsState")).value == 0
    assert step("adminMode", lambda: dp.read_attribute("adminMode")).value == 1
    assert step("write adminMode", lambda: dp.write_attribute("adminMode", 0)) is None
    assert step("adminMode again", lambda: dp.read_attribute("adminMode").value) == 0
    scalars = step("read_attributes", lambda: [
        (a.name, a.type, a.value) for a in dp.read_attributes(
            ["receiveAddresses", "doubleValue", "boolValue", "longValue", "long64Value",
             "ushortValue", "floatValue"])])
    T = tango.CmdArgType
    assert scalars == [
        ("receiveAddresses", T.DevString, '{"scan_types": []}'),
        ("doubleValue", T.DevDouble, 1.5),
        ("boolValue", T.DevBoolean, True),
        ("longValue", T.DevLong, -7),
        ("long64Value", T.DevLong64, 1099511627776),
        ("ushortValue", T.DevUShort, 65535),
        ("floatValue", T.DevFloat, 0.25),
    ]
    assert step("State,Status", lambda: [(a.name, a.value) for a in dp.read_attributes(["State", "Status"])]) \
        == [("State", tango.DevState.OFF), ("Status", "The device is in OFF state.")]
    assert step("write_read", lambda: dp.write_read_attribute("doubleValue", 2.5).value) == 2.5
    assert step("write spectrum", lambda: dp.write_attribute("doubleSpectrum", [float(i) for i in range(5000)])) is None
    assert step("read spectrum", lambda: len(dp.read_attribute("doubleSpectrum").value)) == 5000
    assert step("noSuchAttr", lambda: dp.read_attribute("noSuchAttr")) == (
        "DevFailed: API_AttrNotFound: noSuchAttr attribute not found | API_AttributeFailed: "
        "Failed to read_attribute on device test/device/1, attribute noSuchAttr")
    assert "obsState" in step("get_attribute_list", lambda: list(dp.get_attribute_list()))
    assert "Observing state" in step("attribute_query", lambda: str(dp.attribute_query("obsState")))
    assert len(step("attribute_list_query_ex", dp.attribute_list_query_ex)) == 32  # 30 declared attributes + State + Status
    assert ("Echo", T.DevString, T.DevString) in step(
        "command_list_query", lambda: [(c.cmd_name, c.in_type, c.out_type) for c in dp.command_list_query()])
    assert step("command_query", lambda: dp.command_query("Echo")).in_type == T.DevString
    assert step("AssignResources", lambda: dp.command_inout("AssignResources", "{}")) is None
    assert step("Echo", lambda: dp.command_inout("Echo", "hello")) == "hello"
    assert step("GetCount", lambda: dp.command_inout("GetCount")) == 1
    longs, strings = step("EchoLongString", lambda: dp.command_inout("EchoLongString", [[1, -2], ["a", "bc"]]))
    assert (list(longs), strings) == ([1, -2], ["a", "bc"])
    fail = step("Fail", lambda: dp.command_inout("Fail"))
    assert fail.startswith("DevFailed: SDP_TestFailure: Fail command always fails | ")
    assert fail.endswith("API_CommandFailed: Failed to execute command_inout on device test/device/1, command Fail")
    assert step("NoSuchCommand", lambda: dp.command_inout("NoSuchCommand")) == (
        "DevFailed: API_CommandNotFound: Command NoSuchCommand not found | API_CommandFailed: "
        "Failed to execute command_inout on device test/device/1, command NoSuchCommand")
    assert len(step("black_box", lambda: list(dp.black_box(3)))) == 3

    adm = tango.DeviceProxy(server.adm_url)
    assert step("admin dev_name", adm.dev_name) == "dserver/testdevice/test"
    assert step("admin.state", adm.state) == tango.DevState.ON
    assert list(step("QueryClass", lambda: adm.command_inout("QueryClass"))) == ["TestDevice"]
    assert list(step("QueryDevice", lambda: adm.command_inout("QueryDevice"))) == ["TestDevice::test/device/1"]
    assert list(step("QuerySubDevice", lambda: adm.command_inout("QuerySubDevice"))) == []
    assert step("admin.get_attribute_list", lambda: list(adm.get_attribute_list())) == ["State", "Status"]
    assert "QueryClass" in step("admin.command_list_query", lambda: [c.cmd_name for c in adm.command_list_query()])
