"""Small assertion helpers shared by the interop tests."""

import math

import numpy as np
import pytest
import tango


def errors_of(excinfo):
    """The DevError list of a caught tango.DevFailed."""
    assert isinstance(excinfo.value, tango.DevFailed), f"not a DevFailed: {excinfo.value!r}"
    return list(excinfo.value.args)


def raises_devfailed(fn, *args, reason, desc=None, origin=None, **kwargs):
    """Call fn, expect DevFailed whose first error has this reason (and desc/origin)."""
    with pytest.raises(tango.DevFailed) as excinfo:
        fn(*args, **kwargs)
    errs = errors_of(excinfo)
    assert errs, "DevFailed with an empty error stack"
    first = errs[0]
    assert first.reason == reason, [(e.reason, e.desc) for e in errs]
    if desc is not None:
        assert first.desc == desc, [(e.reason, e.desc) for e in errs]
    if origin is not None:
        assert first.origin == origin, [(e.reason, e.origin) for e in errs]
    return errs


def same(a, b):
    """Equality that treats NaN == NaN and compares arrays element-wise with dtype-free values."""
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or a == b
    a_arr, b_arr = np.asarray(a), np.asarray(b)
    if a_arr.shape != b_arr.shape:
        return False
    if a_arr.dtype.kind == "f" or b_arr.dtype.kind == "f":
        return bool(np.array_equal(a_arr.astype(float), b_arr.astype(float), equal_nan=True))
    return bool(np.array_equal(a_arr, b_arr))


class _Cdr:
    """Minimal little-endian CDR writer, enough to build an IOR."""

    def __init__(self):
        self.buf = bytearray()

    def align(self, n):
        self.buf += b"\0" * (-len(self.buf) % n)

    def octet(self, v):
        self.buf.append(v)

    def ushort(self, v):
        self.align(2)
        self.buf += v.to_bytes(2, "little")

    def ulong(self, v):
        self.align(4)
        self.buf += v.to_bytes(4, "little")

    def octets(self, data):
        self.ulong(len(data))
        self.buf += data

    def string(self, s):
        self.octets(s.encode("latin-1") + b"\0")

    def encapsulation(self, fill):
        inner = _Cdr()
        inner.octet(1)  # little-endian
        fill(inner)
        self.octets(bytes(inner.buf))


def make_ior(host, port, object_key, type_id="IDL:Tango/Device_5:1.0"):
    """Stringified IOR with one IIOP 1.2 profile (and a code-set component), so that an
    omniORB client that imports it talks GIOP 1.2 to host:port with this object key."""

    def code_sets(c):
        c.ulong(0x00010001)  # native char set ISO 8859-1
        c.ulong(0)           # no conversion sets
        c.ulong(0x00010109)  # native wchar set UTF-16
        c.ulong(0)

    def iiop_profile(p):
        p.octet(1)
        p.octet(2)  # IIOP 1.2
        p.string(host)
        p.ushort(port)
        p.octets(object_key.encode("latin-1"))
        p.ulong(1)  # one tagged component
        p.ulong(1)  # TAG_CODE_SETS
        p.encapsulation(code_sets)

    ior = _Cdr()
    ior.octet(1)
    ior.string(type_id)
    ior.ulong(1)  # one profile
    ior.ulong(0)  # TAG_INTERNET_IOP
    ior.encapsulation(iiop_profile)
    return "IOR:" + bytes(ior.buf).hex().upper()
