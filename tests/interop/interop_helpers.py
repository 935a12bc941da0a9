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
