"""Writing attributes: round trips of every scalar type at its extremes, spectra,
write_read_attribute, enum writes, and the server-side checks cppTango makes."""

import numpy as np
import pytest
import tango

from interop_helpers import raises_devfailed, same

T = tango.CmdArgType

# attribute -> (type, values to round-trip: extremes and ordinary)
RW_SCALARS = {
    "booleanScalar": (T.DevBoolean, [True, False]),
    "shortScalar": (T.DevShort, [-(2**15), 2**15 - 1, 0, -1]),
    "longScalar": (T.DevLong, [-(2**31), 2**31 - 1, 0, 12345]),
    "long64Scalar": (T.DevLong64, [-(2**63), 2**63 - 1, 0, 1 << 40]),
    "floatScalar": (T.DevFloat, [0.25, -1.5, 3.4028234663852886e38, -3.4028234663852886e38,
                                 1.401298464324817e-45, 0.0]),
    "doubleScalar": (T.DevDouble, [1.7976931348623157e308, -1.7976931348623157e308,
                                   5e-324, -0.0, 3.141592653589793, 0.0]),
    "ushortScalar": (T.DevUShort, [0, 2**16 - 1, 1]),
    "ulongScalar": (T.DevULong, [0, 2**32 - 1, 1]),
    "ulong64Scalar": (T.DevULong64, [0, 2**64 - 1, 1]),
    "ucharScalar": (T.DevUChar, [0, 255, 7]),
    "stringScalar": (T.DevString, ["", "hello", "caf\xe9 \xb5 \xff", "x" * 10000, '{"a": [1, 2]}']),
}


@pytest.mark.parametrize("name", sorted(RW_SCALARS))
def test_scalar_round_trip(dev, name):
    dtype, values = RW_SCALARS[name]
    for value in values:
        dev.write_attribute(name, value)
        da = dev.read_attribute(name)
        assert da.type == dtype
        assert same(da.value, value), (name, value, da.value)
        assert same(da.w_value, value), (name, value, da.w_value)
        assert da.nb_written == 1


@pytest.mark.parametrize("name", sorted(RW_SCALARS))
def test_scalar_write_read(dev, name):
    dtype, values = RW_SCALARS[name]
    value = values[0]
    da = dev.write_read_attribute(name, value)
    assert da.name == name
    assert da.type == dtype
    assert same(da.value, value)


def test_write_read_double_value(dev):
    da = dev.write_read_attribute("doubleValue", 2.5)
    assert da.value == 2.5
    assert da.w_value == 2.5
    assert dev.read_attribute("doubleValue").value == 2.5


def test_write_attributes_several(dev):
    dev.write_attributes([("longScalar", 42), ("stringScalar", "many"), ("doubleScalar", -2.0)])
    got = {a.name: a.value for a in dev.read_attributes(["longScalar", "stringScalar", "doubleScalar"])}
    assert got == {"longScalar": 42, "stringScalar": "many", "doubleScalar": -2.0}


def test_enum_write_and_read_back(fresh_dev):
    fresh_dev.write_attribute("adminMode", 0)  # ONLINE
    da = fresh_dev.read_attribute("adminMode")
    assert da.value == 0
    assert da.w_value == 0
    fresh_dev.write_attribute("adminMode", 4)  # RESERVED, the last label
    assert fresh_dev.read_attribute("adminMode").value == 4


def test_enum_write_out_of_range(fresh_dev):
    raises_devfailed(
        fresh_dev.write_attribute, "adminMode", 7,
        reason="API_WAttrOutsideLimit",
        desc="Set value for attribute adminMode is negative or above the maximun authorized (5) "
             "for at least element 0",
    )
    assert fresh_dev.read_attribute("adminMode").value == 1  # unchanged


@pytest.mark.parametrize("name", ["obsState", "longValue", "receiveAddresses", "stringSpectrum"])
def test_write_read_only_attribute(dev, name):
    before = dev.read_attribute(name).value
    value = ["x"] if name == "stringSpectrum" else ("x" if name == "receiveAddresses" else 1)
    errs = raises_devfailed(dev.write_attribute, name, value,
                            reason="API_AttrNotWritable", desc=f"Attribute {name} is not writable")
    # the check is made by the server (cppTango Device_3Impl::write_attributes_34);
    # the client adds API_AttributeFailed
    assert errs[-1].reason == "API_AttributeFailed"
    assert errs[-1].desc == f"Failed to write_attribute on device test/device/1, attribute {name}"
    assert same(dev.read_attribute(name).value, before)


def test_write_read_on_read_only_attribute(dev):
    errs = raises_devfailed(dev.write_read_attribute, "obsState", 1,
                            reason="API_AttrNotWritable", desc="Attribute obsState is not writable")
    assert errs[-1].reason == "API_AttributeFailed"
    assert errs[-1].desc == "Failed to write_read_attribute on device test/device/1, attribute obsState"


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_write_nan_inf_rejected(fresh_dev, value):
    # cppTango refuses NaN/INF in attribute writes (commands carry them fine)
    raises_devfailed(fresh_dev.write_attribute, "doubleValue", value,
                     reason="API_WAttrOutsideLimit",
                     desc="Set value for attribute doubleValue is a NaN or INF value (at least element 0)")
    assert fresh_dev.read_attribute("doubleValue").value == 1.5


# spectrum -> (type, values)
RW_SPECTRA = {
    "longSpectrum": (T.DevLong, [[1, -2, 2**31 - 1, -(2**31)], [], list(range(1024))]),
    "stringArray": (T.DevString, [["a", "", "caf\xe9"], [], ["s%d" % i for i in range(64)]]),
    "booleanSpectrum": (T.DevBoolean, [[True, False, True], [], [False] * 64]),
    "doubleSpectrum": (T.DevDouble, [[0.5, -1e300, 5e-324], [1.0]]),
}


@pytest.mark.parametrize("name", sorted(RW_SPECTRA))
def test_spectrum_round_trip(dev, name):
    dtype, cases = RW_SPECTRA[name]
    for value in cases:
        dev.write_attribute(name, value)
        da = dev.read_attribute(name)
        assert da.type == dtype
        assert da.data_format == tango.AttrDataFormat.SPECTRUM
        assert da.dim_x == len(value)
        got = [] if da.value is None else list(da.value)
        assert same(got, value), (name, value[:5], got[:5])


def test_spectrum_too_long_rejected(dev):
    dev.write_attribute("longSpectrum", [5])
    raises_devfailed(dev.write_attribute, "longSpectrum", list(range(1025)),
                     reason="API_WAttrOutsideLimit",
                     desc="X dimesion is greater than the max defined for attribute longSpectrum")
    assert list(dev.read_attribute("longSpectrum").value) == [5]


def test_spectrum_write_read(dev):
    da = dev.write_read_attribute("longSpectrum", [3, 2, 1])
    assert list(da.value) == [3, 2, 1]
    assert da.value.dtype == np.int32


def test_double_spectrum_w_value(dev):
    dev.write_attribute("doubleSpectrum", [1.0, 2.0])
    da = dev.read_attribute("doubleSpectrum")
    assert list(da.w_value) == [1.0, 2.0]
