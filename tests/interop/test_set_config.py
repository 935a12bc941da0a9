"""set_attribute_config (Jive/Taurus): the new properties are reported and enforced; a bad
configuration is refused and changes nothing."""

import tango

from interop_helpers import raises_devfailed


def test_set_label_unit_and_limits_then_enforced(private_server):
    dev = tango.DeviceProxy(private_server.dev_url)
    cfg = dev.get_attribute_config("longScalar")
    cfg.label = "Long value"
    cfg.unit = "counts"
    cfg.description = "A long for testing"
    cfg.min_value = "-10"
    cfg.max_value = "10"
    dev.set_attribute_config(cfg)

    again = tango.DeviceProxy(private_server.dev_url).get_attribute_config("longScalar")
    assert (again.label, again.unit, again.description) == ("Long value", "counts", "A long for testing")
    assert (again.min_value, again.max_value) == ("-10", "10")
    # type, format and name are not user-settable
    assert again.data_type == tango.CmdArgType.DevLong
    assert again.name == "longScalar"

    dev.write_attribute("longScalar", 10)
    assert dev.read_attribute("longScalar").value == 10
    errs = raises_devfailed(dev.write_attribute, "longScalar", 11, reason="API_WAttrOutsideLimit")
    assert "above the maximum" in errs[0].desc and "longScalar" in errs[0].desc
    raises_devfailed(dev.write_attribute, "longScalar", -11, reason="API_WAttrOutsideLimit")
    assert dev.read_attribute("longScalar").value == 10, "a refused write must not change the value"


def test_bad_limit_is_refused_and_changes_nothing(private_server):
    dev = tango.DeviceProxy(private_server.dev_url)
    before = dev.get_attribute_config("doubleScalar")
    cfg = dev.get_attribute_config("doubleScalar")
    cfg.label = "should not stick"
    cfg.max_value = "lots"
    errs = raises_devfailed(dev.set_attribute_config, cfg, reason="API_AttrOptProp")
    assert "The property max_value is defined in an unsupported format" in errs[0].desc
    after = dev.get_attribute_config("doubleScalar")
    assert (after.label, after.max_value) == (before.label, before.max_value)


def test_unknown_attribute_config_is_refused(private_server):
    dev = tango.DeviceProxy(private_server.dev_url)
    cfg = dev.get_attribute_config("doubleScalar")
    cfg.name = "noSuchAttr"
    raises_devfailed(dev.set_attribute_config, cfg, reason="API_AttrNotFound")
