"""Large values: messages of tens to hundreds of kB in both directions.

In nodb mode (corbaloc) the client speaks GIOP 1.0, which has no fragments, so these are
single big messages; with an IOR (database) omniORB uses GIOP 1.2 and fragments them."""

import numpy as np
import pytest

from interop_helpers import same


@pytest.mark.parametrize("n", [5000, 100000])
def test_double_spectrum_attribute(dev, n):
    data = np.arange(n, dtype=np.float64) * 0.5 - 7.25
    dev.write_attribute("doubleSpectrum", data)
    da = dev.read_attribute("doubleSpectrum")
    assert da.dim_x == n
    assert da.value.dtype == np.float64
    assert same(da.value, data)


def test_double_spectrum_write_read_large(dev):
    data = np.linspace(-1.0, 1.0, 50000)
    da = dev.write_read_attribute("doubleSpectrum", data)
    assert same(da.value, data)


def test_double_spectrum_above_max_rejected(dev):
    from interop_helpers import raises_devfailed

    raises_devfailed(dev.write_attribute, "doubleSpectrum", np.zeros(100001),
                     reason="API_WAttrOutsideLimit",
                     desc="X dimesion is greater than the max defined for attribute doubleSpectrum")


@pytest.mark.parametrize("n", [5000, 100000])
def test_echo_double_array_large(dev, n):
    data = np.random.default_rng(n).standard_normal(n)
    data[::997] = np.nan
    got = dev.command_inout("EchoDoubleArray", data)
    assert same(got, data)


def test_echo_long64_array_large(dev):
    data = np.arange(-50000, 50000, dtype=np.int64) * (2**40)
    assert same(dev.command_inout("EchoLong64Array", data), data)


def test_echo_char_array_large(dev):
    data = np.frombuffer(bytes(range(256)) * 1000, dtype=np.uint8)
    assert same(dev.command_inout("EchoCharArray", data), data)


def test_echo_long_string(dev):
    text = "".join(chr(32 + i % 95) for i in range(1_000_000))
    assert dev.command_inout("Echo", text) == text


def test_echo_many_strings(dev):
    strings = [f"item-{i}-" + "x" * (i % 17) for i in range(20000)]
    assert list(dev.command_inout("EchoStringArray", strings)) == strings


def test_echo_long_string_array_large(dev):
    longs = list(range(-10000, 10000))
    strings = [str(i) for i in range(5000)]
    got_l, got_s = dev.command_inout("EchoLongString", [longs, strings])
    assert list(got_l) == longs
    assert list(got_s) == strings


def test_small_after_large(dev):
    dev.write_attribute("doubleSpectrum", np.ones(100000))
    assert dev.command_inout("Echo", "small") == "small"
    dev.write_attribute("doubleSpectrum", [2.0])
    assert list(dev.read_attribute("doubleSpectrum").value) == [2.0]
