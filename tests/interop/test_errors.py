"""Errors: a device's own DevFailed, unknown command/attribute, as PyTango reports them."""

import pytest
import tango

from conftest import is_pytango
from interop_helpers import errors_of, raises_devfailed


def test_fail_command_keeps_reason_desc_origin(dev):
    errs = raises_devfailed(dev.command_inout, "Fail",
                            reason="SDP_TestFailure", desc="Fail command always fails",
                            origin="TestDevice.Fail()")
    assert errs[0].severity == tango.ErrSeverity.ERR
    # added by the client
    assert errs[-1].reason == "API_CommandFailed"
    assert errs[-1].desc == "Failed to execute command_inout on device test/device/1, command Fail"


def test_fail_command_error_stack_is_exact(dev):
    with pytest.raises(tango.DevFailed) as excinfo:
        dev.command_inout("Fail")
    reasons = [e.reason for e in errors_of(excinfo)]
    if is_pytango():
        # the PyTango server inserts its own entry (PyDs_UnexpectedFailure "Cannot execute
        # command"); cppTango servers and ours send only the device's error
        assert reasons == ["SDP_TestFailure", "PyDs_UnexpectedFailure", "API_CommandFailed"]
    else:
        assert reasons == ["SDP_TestFailure", "API_CommandFailed"]


def test_fail_leaves_device_usable(dev):
    with pytest.raises(tango.DevFailed):
        dev.command_inout("Fail")
    assert dev.command_inout("Echo", "still here") == "still here"


def test_unknown_command(dev):
    errs = raises_devfailed(dev.command_inout, "NoSuchCommand",
                            reason="API_CommandNotFound", desc="Command NoSuchCommand not found")
    assert [e.reason for e in errs] == ["API_CommandNotFound", "API_CommandFailed"]
    assert errs[-1].desc == "Failed to execute command_inout on device test/device/1, command NoSuchCommand"


def test_unknown_command_via_raw(dev):
    # command_inout_raw skips the client's command_query: the server itself must refuse it
    errs = raises_devfailed(dev.command_inout_raw, "NoSuchRawCommand", tango.DeviceData(),
                            reason="API_CommandNotFound", desc="Command NoSuchRawCommand not found")
    assert errs[-1].reason == "API_CommandFailed"


def test_unknown_attribute_read(dev):
    errs = raises_devfailed(dev.read_attribute, "noSuchAttr",
                            reason="API_AttrNotFound", desc="noSuchAttr attribute not found")
    assert errs[-1].reason == "API_AttributeFailed"


def test_errors_are_devfailed_subclasses(dev):
    with pytest.raises(tango.DevFailed) as excinfo:
        dev.command_inout("Fail")
    assert type(excinfo.value) is tango.DevFailed
    # the client turns API_CommandFailed into DevFailed, not ConnectionFailed/CommunicationFailed
    assert not isinstance(excinfo.value, (tango.ConnectionFailed, tango.CommunicationFailed))


def test_many_errors_in_a_row_keep_connection(dev):
    for i in range(30):
        with pytest.raises(tango.DevFailed):
            dev.command_inout("Fail")
        with pytest.raises(tango.DevFailed):
            dev.read_attribute(f"missing{i}")
    assert dev.ping() >= 0
