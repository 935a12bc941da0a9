"""PyTango's `tango.Database()` API against the database under test (same suite for every kind)."""

import os
import shutil
import subprocess

import pytest
import tango

from conftest import KIND, only_embedded, register


def test_database_device_answers(database, tango_db):
    info = database.get_info()
    assert "TANGO Database" in info
    assert "Devices defined" in info
    dp = tango.DeviceProxy("sys/database/2")
    assert dp.info().dev_class == "DataBase"
    assert dp.read_attribute("StoredProcedureRelease").value.startswith("release ")
    assert "DataBaseds/2" in database.get_server_list("*")
    assert list(database.command_inout("DbGetCSDbServerList"))  # host:port of the database(s)


def test_timing_attributes_count_the_busy_commands_and_reset(database, tango_db):
    """Timing_index names the timed commands; Timing_calls/average/minimum/maximum (ms) follow
    them position by position, Timing_info is the same as a table; ResetTimingValues clears."""
    if KIND == "pytango":
        pytest.skip("PyTango's sqlite DataBaseds fails ResetTimingValues (dict.itervalues, Python 2)")
    dp = tango.DeviceProxy("sys/database/2")
    index = list(dp.read_attribute("Timing_index").value)
    assert index == sorted(index) and "DbImportDevice" in index
    i = index.index("DbImportDevice")
    dp.command_inout("ResetTimingValues")
    for _ in range(3):
        dp.command_inout("DbImportDevice", "sys/database/2")
    calls = dp.read_attribute("Timing_calls").value
    assert len(calls) == len(index) and calls[i] >= 3
    low, avg, high = (dp.read_attribute(f"Timing_{k}").value[i] for k in ("minimum", "average", "maximum"))
    assert 0 < low <= avg <= high < 1000, (low, avg, high)
    info = list(dp.read_attribute("Timing_info").value)
    assert info[0].startswith("TANGO Database Timing info on host ")
    assert info[2].split("\t") == ["command", "average", "minimum", "maximum", "calls"]
    line = next(x for x in info if x.startswith("DbImportDevice\t")).split("\t")
    assert int(line[4]) == int(calls[i])
    dp.command_inout("ResetTimingValues")
    assert dp.read_attribute("Timing_calls").value[i] == 0


def test_add_and_delete_device(database):
    register(database, "ApiServer/a", "ApiClass", "test/api/1", "test/api/2")
    assert sorted(database.get_device_name("ApiServer/a", "ApiClass")) == ["test/api/1", "test/api/2"]
    info = database.get_device_info("test/api/1")
    assert (info.class_name, info.ds_full_name, info.exported) == ("ApiClass", "ApiServer/a", 0)
    # the admin device comes with the first device of a server
    assert list(database.get_device_name("ApiServer/a", "DServer")) == ["dserver/ApiServer/a"]
    assert "ApiServer/a" in database.get_server_list("ApiServer/*")
    assert "ApiServer" in database.get_server_name_list()
    assert "a" in database.get_instance_name_list("ApiServer")
    assert "ApiClass" in database.get_server_class_list("ApiServer/a")
    database.delete_device("test/api/2")
    assert list(database.get_device_name("ApiServer/a", "ApiClass")) == ["test/api/1"]
    with pytest.raises(tango.DevFailed) as e:
        database.get_device_info("test/api/2")
    assert e.value.args[0].reason == "DB_DeviceNotDefined"


def test_add_and_delete_server(database):
    devs = []
    for name, cls in (("test/srv/1", "SrvA"), ("test/srv/2", "SrvB")):
        i = tango.DbDevInfo()
        i.name, i._class, i.server = name, cls, "SrvServer/x"
        devs.append(i)
    database.add_server("SrvServer/x", devs)
    assert list(database.get_device_name("SrvServer/x", "SrvB")) == ["test/srv/2"]
    assert {"SrvA", "SrvB"} <= set(database.get_server_class_list("SrvServer/x"))
    database.delete_server("SrvServer/x")
    assert "SrvServer/x" not in database.get_server_list("*")
    assert list(database.get_device_name("SrvServer/x", "*")) == []


def test_device_properties(database):
    register(database, "PropServer/p", "PropClass", "test/prop/1")
    database.put_device_property("test/prop/1", {"Speed": ["3"], "Names": ["a", "b"]})
    got = database.get_device_property("test/prop/1", ["Speed", "Names", "Missing"])
    assert list(got["Speed"]) == ["3"]
    assert list(got["Names"]) == ["a", "b"]
    assert list(got["Missing"]) == []
    assert sorted(database.get_device_property_list("test/prop/1", "*")) == ["Names", "Speed"]
    database.delete_device_property("test/prop/1", ["Speed"])
    assert list(database.get_device_property_list("test/prop/1", "*")) == ["Names"]
    # what a client's DeviceProxy.get_property goes through
    assert list(database.get_device_property("test/prop/1", "Names")["Names"]) == ["a", "b"]


def test_class_and_free_properties(database):
    database.put_class_property("PropClass", {"TestMode": ["1"]})
    assert list(database.get_class_property("PropClass", ["TestMode"])["TestMode"]) == ["1"]
    assert "TestMode" in database.get_class_property_list("PropClass")
    database.delete_class_property("PropClass", ["TestMode"])
    assert list(database.get_class_property("PropClass", ["TestMode"])["TestMode"]) == []
    database.put_property("SdpFree", {"Key": ["v1", "v2"]})
    assert list(database.get_property("SdpFree", ["Key"])["Key"]) == ["v1", "v2"]
    database.delete_property("SdpFree", ["Key"])
    assert list(database.get_property("SdpFree", ["Key"])["Key"]) == []
    # what every client asks first
    r = database.command_inout("DbGetProperty", ["CtrlSystem", "Services"])
    assert list(r[:3]) == ["CtrlSystem", "1", "Services"]


def test_attribute_properties(database):
    register(database, "PropServer/p", "PropClass", "test/prop/1")
    database.put_device_attribute_property("test/prop/1", {"obsState": {"abs_change": ["1"], "label": ["Obs"]}})
    got = database.get_device_attribute_property("test/prop/1", ["obsState"])
    assert list(got["obsState"]["abs_change"]) == ["1"]
    assert list(got["obsState"]["label"]) == ["Obs"]
    database.delete_device_attribute_property("test/prop/1", {"obsState": ["label"]})
    assert "label" not in database.get_device_attribute_property("test/prop/1", ["obsState"])["obsState"]
    database.put_class_attribute_property("PropClass", {"obsState": {"max_value": ["10"]}})
    assert list(database.get_class_attribute_property("PropClass", ["obsState"])["obsState"]["max_value"]) == ["10"]


def test_export_import_and_exported_lists(database):
    register(database, "ExpServer/e", "ExpClass", "test/exp/1")
    ior = "IOR:010000001700000049444c3a54616e676f2f4465766963655f353a312e30000001000000000000004c000000010102000a0000003132372e302e302e310039300b000000746573742f6578702f31000100000001000000"
    database.command_inout("DbExportDevice", ["test/exp/1", ior, "somehost", "4242", "5"])
    assert "test/exp/1" in database.get_device_exported("test/exp/*")
    lv, sv = database.command_inout("DbImportDevice", "test/exp/1")
    assert list(lv) == [1, 4242]
    assert list(sv) == ["test/exp/1", ior, "5", "ExpServer/e", "somehost", "ExpClass"]
    assert "test/exp/1" in database.get_device_exported_for_class("ExpClass")
    database.unexport_server("ExpServer/e")
    assert "test/exp/1" not in database.get_device_exported("*")
    lv, _ = database.command_inout("DbImportDevice", "test/exp/1")
    assert lv[0] == 0


def test_name_tree_as_jive_browses_it(database):
    register(database, "TreeServer/t", "TreeClass", "tree/fam/m1", "tree/fam/m2", "tree/other/x")
    assert "tree" in database.get_device_domain("*")
    assert sorted(database.get_device_family("tree/*")) == ["fam", "other"]
    assert sorted(database.get_device_member("tree/fam/*")) == ["m1", "m2"]


def test_itango_query_layout(database):
    lv, sv = database.command_inout("DbMySqlSelect", "SELECT name, alias, server, class FROM device order by name")
    rows, cols = lv[-2], lv[-1]
    assert cols == 4 and rows == len(sv) // 4 and len(lv) == len(sv) + 2
    table = {sv[i]: (sv[i + 2], sv[i + 3]) for i in range(0, len(sv), 4)}
    assert table["sys/database/2"] == ("DataBaseds/2", "DataBase")
    names = sv[0::4]
    assert names == sorted(names, key=str.lower) or names == sorted(names)


def test_bad_device_name_is_refused(database):
    with pytest.raises(tango.DevFailed) as e:
        register(database, "BadServer/b", "BadClass", "not-a-device-name")
    assert e.value.args[0].reason == "DB_IncorrectDeviceName"


@only_embedded
def test_malformed_property_list_changes_nothing(database):
    register(database, "PropServer/p", "PropClass", "test/prop/2")
    with pytest.raises(tango.DevFailed) as e:
        database.command_inout("DbPutDeviceProperty", ["test/prop/2", "2", "A", "1", "x"])
    assert e.value.args[0].reason == "DB_IncorrectArguments"
    assert "property 2 of 2 is missing" in e.value.args[0].desc
    assert list(database.get_device_property_list("test/prop/2", "*")) == []


ALLOWED_ACCESS_CMD = ["QueryClass", "QueryDevice", "EventSubscriptionChange", "DevPollStatus", "GetLoggingLevel",
                      "GetLoggingTarget", "QueryWizardDevProperty", "QueryWizardClassProperty", "QuerySubDevice",
                      "ZMQEventSubscriptionChange", "EventConfirmSubscription"]


@pytest.mark.skipif(KIND == "pytango", reason="PyTango's DataBaseds does not implement DbGetDataForServerCache")
@pytest.mark.parametrize("host,release", [("vm", []), ("vm%%9", ["release 1.13"])])
def test_server_start_cache_layout(database, host, release):
    """DbGetDataForServerCache: one call with everything a server reads at start-up, in the
    layout of the C++ DataBaseds' ds_start procedure (with pipe sections for Tango >= 9)."""
    register(database, "Cache/c", "ClassA", "cache/a/1", "cache/a/2")
    register(database, "Cache/c", "ClassB", "cache/b/1")
    database.put_device_property("cache/a/1", {"P1": ["x", "y"], "Q": ["1"]})
    database.put_class_property("ClassA", {"CP": ["c"]})
    database.put_device_attribute_property("cache/a/1", {"attr1": {"abs_change": ["1"], "label": ["L"]}, "attr2": {"unit": ["m"]}})
    database.put_class_attribute_property("ClassB", {"battr": {"max_value": ["10", "11"]}})
    database.put_device_property("dserver/Cache/c", {"logging_level": ["DEBUG"]})
    database.put_class_property("DServer", {"AllowedAccessCmd": ALLOWED_ACCESS_CMD})  # pre-loaded by the C++ schema
    pipes = bool(release)
    cls_pipe = lambda c: [c, "0"] if pipes else []  # noqa: E731
    expected = release + [
        "dserver/Cache/c", "nada", "0", "Cache/c", "nada", "0", "0", "DServer",
        "notifd/factory/vm", "Not Found", "dserver/Cache/c", "Not Found",
        "DServer", "1", "AllowedAccessCmd", "11", *ALLOWED_ACCESS_CMD,
        "Default", "0",
        "dserver/Cache/c", "1", "logging_level", "1", "DEBUG",
        "Cache/c", "2",
        "ClassA", "1", "CP", "1", "c", "ClassA", "0", *cls_pipe("ClassA"), "ClassA", "2", "cache/a/1", "cache/a/2",
        "cache/a/1", "2", "P1", "2", "x", "y", "Q", "1", "1",
        "cache/a/1", "2", "attr1", "2", "abs_change", "1", "1", "label", "1", "L", "attr2", "1", "unit", "1", "m",
        *cls_pipe("cache/a/1"),
        "cache/a/2", "0", "cache/a/2", "0", *cls_pipe("cache/a/2"),
        "ClassB", "0", "ClassB", "1", "battr", "1", "max_value", "2", "10", "11", *cls_pipe("ClassB"), "ClassB", "1", "cache/b/1",
        "cache/b/1", "0", "cache/b/1", "0", *cls_pipe("cache/b/1"),
        "CtrlSystem",
    ]
    got = list(database.command_inout("DbGetDataForServerCache", ["Cache/c", host]))
    assert got[:len(expected)] == expected
    assert list(database.command_inout("DbGetDataForServerCache", ["Nope/n", "vm"])) == ["dserver/Nope/n", "Not Found"]


@pytest.mark.skipif(shutil.which("tango_admin") is None, reason="tango_admin (Debian libtango-tools) is not installed")
def test_cpptango_tango_admin_tool(database):
    """Debian's tango_admin (a cppTango 9.3 client) manages servers in the database."""
    def admin(*args):
        return subprocess.run(["tango_admin", *args], capture_output=True, text=True, timeout=60, env=os.environ.copy())
    assert admin("--ping-database", "5").returncode == 0
    assert admin("--add-server", "AdmTool/1", "AdmClass", "adm/tool/1,adm/tool/2").returncode == 0
    assert admin("--check-device", "adm/tool/2").returncode == 0
    assert admin("--check-device", "adm/tool/9").returncode != 0
    assert admin("--add-property", "adm/tool/1", "Speed", "3").returncode == 0
    assert list(database.get_device_property("adm/tool/1", "Speed")["Speed"]) == ["3"]
    assert "AdmTool" in admin("--server-list").stdout.split()
    assert admin("--server-instance-list", "AdmTool").stdout.split() == ["1"]
    assert admin("--delete-server", "AdmTool/1").returncode == 0
    assert "AdmTool" not in admin("--server-list").stdout.split()
