"""Reading attributes: values, types, formats, quality; several at once."""

import numpy as np
import pytest
import tango

from interop_helpers import errors_of

T = tango.CmdArgType
SCALAR, SPECTRUM = tango.AttrDataFormat.SCALAR, tango.AttrDataFormat.SPECTRUM

# name -> (type, format, expected initial value) of the read-only attributes
READ_ONLY = {
    "receiveAddresses": (T.DevString, SCALAR, '{"scan_types": []}'),
    "boolValue": (T.DevBoolean, SCALAR, True),
    "longValue": (T.DevLong, SCALAR, -7),
    "long64Value": (T.DevLong64, SCALAR, 1 << 40),
    "ushortValue": (T.DevUShort, SCALAR, 65535),
    "floatValue": (T.DevFloat, SCALAR, 0.25),
    "ucharSpectrum": (T.DevUChar, SPECTRUM, [1, 2, 3]),
    "stringSpectrum": (T.DevString, SPECTRUM, ["a", "bc"]),
}


@pytest.mark.parametrize("name", sorted(READ_ONLY))
def test_read_only_attribute(dev, name):
    dtype, fmt, expected = READ_ONLY[name]
    da = dev.read_attribute(name)
    assert da.name == name
    assert da.type == dtype
    assert da.data_format == fmt
    assert da.quality == tango.AttrQuality.ATTR_VALID
    assert not da.has_failed
    assert da.nb_written == 0
    if fmt == SCALAR:
        assert da.value == expected
        assert type(da.value) is type(expected)
        assert (da.dim_x, da.dim_y) == (1, 0)
    else:
        assert list(da.value) == expected
        assert (da.dim_x, da.dim_y) == (len(expected), 0)
    assert da.time.tv_sec > 1_600_000_000


def test_uchar_spectrum_dtype(dev):
    assert dev.read_attribute("ucharSpectrum").value.dtype == np.uint8


def test_enum_attributes_initial(fresh_dev):
    obs = fresh_dev.read_attribute("obsState")
    assert obs.type == T.DevEnum
    assert obs.value == 0  # EMPTY
    assert obs.nb_written == 0
    adm = fresh_dev.read_attribute("adminMode")
    assert adm.type == T.DevEnum
    assert adm.value == 1  # OFFLINE
    # no w_value assertion: cppTango's set point is the last written value (0 before any
    # write), not the read value; write tests check w_value after a write
    assert adm.nb_written == 1


def test_double_value_initial(fresh_dev):
    da = fresh_dev.read_attribute("doubleValue")
    assert da.type == T.DevDouble
    assert da.value == 1.5
    assert da.nb_written == 1


def test_double_spectrum_initial(fresh_dev):
    da = fresh_dev.read_attribute("doubleSpectrum")
    assert da.type == T.DevDouble
    assert da.data_format == SPECTRUM
    assert list(da.value) == [0.0]


@pytest.mark.parametrize("name", ["longSpectrum", "stringArray", "booleanSpectrum"])
def test_empty_spectra_initial(fresh_dev, name):
    da = fresh_dev.read_attribute(name)
    assert da.data_format == SPECTRUM
    assert da.dim_x == 0
    assert da.value is None or len(da.value) == 0


def test_read_attributes_many(fresh_dev):
    names = ["receiveAddresses", "doubleValue", "boolValue", "longValue", "long64Value",
             "ushortValue", "floatValue", "ucharSpectrum", "stringSpectrum", "obsState"]
    result = fresh_dev.read_attributes(names)
    assert [a.name for a in result] == names
    got = {a.name: a.value for a in result}
    assert got["receiveAddresses"] == '{"scan_types": []}'
    assert got["doubleValue"] == 1.5
    assert got["long64Value"] == 1099511627776
    assert list(got["stringSpectrum"]) == ["a", "bc"]
    assert got["obsState"] == 0


def test_read_attribute_case_insensitive(dev):
    # Tango attribute names are case-insensitive
    da = dev.read_attribute("LONGVALUE")
    assert da.value == -7


def test_read_unknown_attribute(dev):
    with pytest.raises(tango.DevFailed) as excinfo:
        dev.read_attribute("noSuchAttr")
    errs = errors_of(excinfo)
    assert errs[0].reason == "API_AttrNotFound"
    assert errs[0].desc == "noSuchAttr attribute not found"
    # the second entry is added by the client
    assert errs[-1].reason == "API_AttributeFailed"
    assert errs[-1].desc == "Failed to read_attribute on device test/device/1, attribute noSuchAttr"
    assert len(errs) == 2


def test_read_attributes_with_one_unknown(dev):
    # the server answers per attribute: good values plus one error entry
    good, bad = dev.read_attributes(["doubleValue", "noSuchAttr"])
    assert not good.has_failed
    assert good.type == T.DevDouble
    assert bad.has_failed
    stack = bad.get_err_stack()
    assert stack[0].reason == "API_AttrNotFound"
    assert stack[0].desc == "noSuchAttr attribute not found"
