"""The DataBaseds 9.3 commands beyond the everyday ones, with the argument layouts and error
reasons of the C++ DataBaseds (the replies below were recorded from it on MariaDB): property
history, v1 attribute properties, attribute and pipe listings and deletions, attribute aliases,
server info (Starter, Astor), DbRenameServer; and `DbMySqlSelect` with the MySQL forms tools send.

PyTango's sqlite DataBaseds lacks the pipe commands and differs in a few layouts (history of
deletions, alias errors): those tests are skipped for it, each saying why.
"""

import pytest
import tango

from conftest import KIND, register

not_pytango = pytest.mark.skipif(KIND == "pytango", reason="PyTango's DataBaseds differs from the C++ one here")


# the command list of Debian's C++ DataBaseds 9.3 (tango-db 9.3.4), with argument types
CPP_COMMANDS = {
    "DbAddDevice": ("DevVarStringArray", "DevVoid"),
    "DbAddServer": ("DevVarStringArray", "DevVoid"),
    "DbDeleteAllDeviceAttributeProperty": ("DevVarStringArray", "DevVoid"),
    "DbDeleteAllDevicePipeProperty": ("DevVarStringArray", "DevVoid"),
    "DbDeleteAttributeAlias": ("DevString", "DevVoid"),
    "DbDeleteClassAttribute": ("DevVarStringArray", "DevVoid"),
    "DbDeleteClassAttributeProperty": ("DevVarStringArray", "DevVoid"),
    "DbDeleteClassPipe": ("DevVarStringArray", "DevVoid"),
    "DbDeleteClassPipeProperty": ("DevVarStringArray", "DevVoid"),
    "DbDeleteClassProperty": ("DevVarStringArray", "DevVoid"),
    "DbDeleteDevice": ("DevString", "DevVoid"),
    "DbDeleteDeviceAlias": ("DevString", "DevVoid"),
    "DbDeleteDeviceAttribute": ("DevVarStringArray", "DevVoid"),
    "DbDeleteDeviceAttributeProperty": ("DevVarStringArray", "DevVoid"),
    "DbDeleteDevicePipe": ("DevVarStringArray", "DevVoid"),
    "DbDeleteDevicePipeProperty": ("DevVarStringArray", "DevVoid"),
    "DbDeleteDeviceProperty": ("DevVarStringArray", "DevVoid"),
    "DbDeleteProperty": ("DevVarStringArray", "DevVoid"),
    "DbDeleteServer": ("DevString", "DevVoid"),
    "DbDeleteServerInfo": ("DevString", "DevVoid"),
    "DbExportDevice": ("DevVarStringArray", "DevVoid"),
    "DbExportEvent": ("DevVarStringArray", "DevVoid"),
    "DbGetAliasAttribute": ("DevString", "DevString"),
    "DbGetAliasDevice": ("DevString", "DevString"),
    "DbGetAttributeAlias": ("DevString", "DevString"),
    "DbGetAttributeAlias2": ("DevString", "DevString"),
    "DbGetAttributeAliasList": ("DevString", "DevVarStringArray"),
    "DbGetCSDbServerList": ("DevVoid", "DevVarStringArray"),
    "DbGetClassAttributeList": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetClassAttributeProperty": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetClassAttributeProperty2": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetClassAttributePropertyHist": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetClassForDevice": ("DevString", "DevString"),
    "DbGetClassInheritanceForDevice": ("DevString", "DevVarStringArray"),
    "DbGetClassList": ("DevString", "DevVarStringArray"),
    "DbGetClassPipeList": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetClassPipeProperty": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetClassPipePropertyHist": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetClassProperty": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetClassPropertyHist": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetClassPropertyList": ("DevString", "DevVarStringArray"),
    "DbGetDataForServerCache": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDeviceAlias": ("DevString", "DevString"),
    "DbGetDeviceAliasList": ("DevString", "DevVarStringArray"),
    "DbGetDeviceAttributeList": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDeviceAttributeProperty": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDeviceAttributeProperty2": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDeviceAttributePropertyHist": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDeviceClassList": ("DevString", "DevVarStringArray"),
    "DbGetDeviceDomainList": ("DevString", "DevVarStringArray"),
    "DbGetDeviceExportedList": ("DevString", "DevVarStringArray"),
    "DbGetDeviceFamilyList": ("DevString", "DevVarStringArray"),
    "DbGetDeviceInfo": ("DevString", "DevVarLongStringArray"),
    "DbGetDeviceList": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDeviceMemberList": ("DevString", "DevVarStringArray"),
    "DbGetDevicePipeList": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDevicePipeProperty": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDevicePipePropertyHist": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDeviceProperty": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDevicePropertyHist": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDevicePropertyList": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetDeviceServerClassList": ("DevString", "DevVarStringArray"),
    "DbGetDeviceWideList": ("DevString", "DevVarStringArray"),
    "DbGetExportdDeviceListForClass": ("DevString", "DevVarStringArray"),
    "DbGetForwardedAttributeListForDevice": ("DevString", "DevVarStringArray"),
    "DbGetHostList": ("DevString", "DevVarStringArray"),
    "DbGetHostServerList": ("DevString", "DevVarStringArray"),
    "DbGetHostServersInfo": ("DevString", "DevVarStringArray"),
    "DbGetInstanceNameList": ("DevString", "DevVarStringArray"),
    "DbGetObjectList": ("DevString", "DevVarStringArray"),
    "DbGetProperty": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetPropertyHist": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetPropertyList": ("DevVarStringArray", "DevVarStringArray"),
    "DbGetServerInfo": ("DevString", "DevVarStringArray"),
    "DbGetServerList": ("DevString", "DevVarStringArray"),
    "DbGetServerNameList": ("DevString", "DevVarStringArray"),
    "DbImportDevice": ("DevString", "DevVarLongStringArray"),
    "DbImportEvent": ("DevString", "DevVarLongStringArray"),
    "DbInfo": ("DevVoid", "DevVarStringArray"),
    "DbMySqlSelect": ("DevString", "DevVarLongStringArray"),
    "DbPutAttributeAlias": ("DevVarStringArray", "DevVoid"),
    "DbPutClassAttributeProperty": ("DevVarStringArray", "DevVoid"),
    "DbPutClassAttributeProperty2": ("DevVarStringArray", "DevVoid"),
    "DbPutClassPipeProperty": ("DevVarStringArray", "DevVoid"),
    "DbPutClassProperty": ("DevVarStringArray", "DevVoid"),
    "DbPutDeviceAlias": ("DevVarStringArray", "DevVoid"),
    "DbPutDeviceAttributeProperty": ("DevVarStringArray", "DevVoid"),
    "DbPutDeviceAttributeProperty2": ("DevVarStringArray", "DevVoid"),
    "DbPutDevicePipeProperty": ("DevVarStringArray", "DevVoid"),
    "DbPutDeviceProperty": ("DevVarStringArray", "DevVoid"),
    "DbPutProperty": ("DevVarStringArray", "DevVoid"),
    "DbPutServerInfo": ("DevVarStringArray", "DevVoid"),
    "DbRenameServer": ("DevVarStringArray", "DevVoid"),
    "DbUnExportDevice": ("DevString", "DevVoid"),
    "DbUnExportEvent": ("DevString", "DevVoid"),
    "DbUnExportServer": ("DevString", "DevVoid"),
    "Init": ("DevVoid", "DevVoid"),
    "ResetTimingValues": ("DevVoid", "DevVoid"),
    "State": ("DevVoid", "DevState"),
    "Status": ("DevVoid", "DevString"),
}


@pytest.fixture(scope="module")
def db(tango_db):
    return tango.DeviceProxy(f"tango://{tango_db.tango_host}/sys/database/2")


@pytest.mark.skipif(KIND == "pytango", reason="PyTango's DataBaseds has 84 of the 100 commands")
def test_the_command_list_is_the_cpp_one(db):
    got = {c.cmd_name: (str(c.in_type).split(".")[-1], str(c.out_type).split(".")[-1]) for c in db.command_list_query()}
    assert got == CPP_COMMANDS


def call(db, cmd, arg=None):
    r = db.command_inout(cmd, arg) if arg is not None else db.command_inout(cmd)
    return list(r) if isinstance(r, (list, tuple)) or hasattr(r, "tolist") else r


def reason(db, cmd, arg):
    with pytest.raises(tango.DevFailed) as e:
        db.command_inout(cmd, arg)
    return e.value.args[0].reason, e.value.args[0].desc


def without_dates(hist, every):
    """A history reply with its date cells (index `every` of each version) replaced."""
    out, i = [], 0
    while i < len(hist):
        n = int(hist[i + every + 1])
        out.extend(hist[i:i + every] + ["<date>"] + hist[i + every + 1:i + every + 2 + n])
        i += every + 2 + n
    return out


@not_pytango
def test_device_property_history(db):
    register(tango.Database(), "Hist/1", "HistClass", "hist/dev/1")
    call(db, "DbPutDeviceProperty", ["hist/dev/1", "2", "A", "2", "x", "y", "B", "1", "z"])
    call(db, "DbPutDeviceProperty", ["hist/dev/1", "1", "A", "1", "x2"])
    call(db, "DbDeleteDeviceProperty", ["hist/dev/1", "B"])
    hist = call(db, "DbGetDevicePropertyHist", ["hist/dev/1", "*"])
    assert len(hist[1]) == len("2026-12-06 08:38:27"), hist
    assert without_dates(hist, 1) == ["A", "<date>", "2", "x", "y", "B", "<date>", "1", "z",
                                      "A", "<date>", "1", "x2", "B", "<date>", "0"]
    assert without_dates(call(db, "DbGetDevicePropertyHist", ["hist/dev/1", "A"]), 1) == \
        ["A", "<date>", "2", "x", "y", "A", "<date>", "1", "x2"]


@not_pytango
def test_history_keeps_ten_versions(db):
    for i in range(13):
        call(db, "DbPutProperty", ["HistObj", "1", "P", "1", str(i)])
    hist = without_dates(call(db, "DbGetPropertyHist", ["HistObj", "P"]), 1)
    assert hist == [x for i in range(3, 13) for x in ("P", "<date>", "1", str(i))]
    call(db, "DbPutClassProperty", ["HistClass", "1", "CA", "1", "v"])
    call(db, "DbDeleteClassProperty", ["HistClass", "CA"])
    assert without_dates(call(db, "DbGetClassPropertyHist", ["HistClass", "CA"]), 1) == \
        ["CA", "<date>", "1", "v", "CA", "<date>", "0"]


@not_pytango
def test_attribute_property_history(db):
    call(db, "DbPutDeviceAttributeProperty2", ["hist/dev/1", "1", "att", "2", "label", "1", "L", "unit", "1", "m"])
    call(db, "DbDeleteDeviceAttributeProperty", ["hist/dev/1", "att", "unit"])
    assert without_dates(call(db, "DbGetDeviceAttributePropertyHist", ["hist/dev/1", "*", "*"]), 2) == \
        ["att", "label", "<date>", "1", "L", "att", "unit", "<date>", "1", "m", "att", "unit", "<date>", "0"]
    call(db, "DbPutClassAttributeProperty2", ["HistClass", "1", "catt", "1", "max_value", "2", "1", "2"])
    assert without_dates(call(db, "DbGetClassAttributePropertyHist", ["HistClass", "catt", "*"]), 2) == \
        ["catt", "max_value", "<date>", "2", "1", "2"]


def test_v1_attribute_properties_and_attribute_lists(db):
    register(tango.Database(), "AttrV1/1", "AttrV1Class", "attr/v1/1")
    call(db, "DbPutDeviceAttributeProperty2", ["attr/v1/1", "1", "att", "1", "label", "1", "L"])
    call(db, "DbPutDeviceAttributeProperty", ["attr/v1/1", "1", "att1", "2", "label", "LL", "unit", "mm"])
    assert call(db, "DbGetDeviceAttributeProperty", ["attr/v1/1", "att1", "att", "nope"]) == \
        ["attr/v1/1", "3", "att1", "2", "label", "LL", "unit", "mm", "att", "1", "label", "L", "nope", "0"]
    call(db, "DbPutClassAttributeProperty2", ["AttrV1Class", "1", "catt", "1", "max_value", "2", "1", "2"])
    call(db, "DbPutClassAttributeProperty", ["AttrV1Class", "1", "catt1", "1", "label", "CL"])
    assert call(db, "DbGetClassAttributeProperty", ["AttrV1Class", "catt1", "catt", "nope"]) == \
        ["AttrV1Class", "3", "catt1", "1", "label", "CL", "catt", "2", "max_value", "1", "max_value", "2", "nope", "0"]
    assert call(db, "DbGetClassAttributeList", ["AttrV1Class", "*"]) == ["catt", "catt1"]
    call(db, "DbDeleteClassAttribute", ["AttrV1Class", "catt1"])
    assert call(db, "DbGetClassAttributeList", ["AttrV1Class", "*"]) == ["catt"]
    call(db, "DbDeleteDeviceAttribute", ["attr/v1/1", "att1"])
    assert call(db, "DbGetDeviceAttributeList", ["attr/v1/1", "*"]) == ["att"]


def test_attribute_aliases(db):
    register(tango.Database(), "AttrAlias/1", "AttrAliasClass", "attr/alias/1")
    call(db, "DbPutAttributeAlias", ["attr/alias/1/att", "my_att_alias"])
    assert call(db, "DbGetAttributeAlias", "my_att_alias") == "attr/alias/1/att"
    assert call(db, "DbGetAliasAttribute", "my_att_alias") == "attr/alias/1/att"
    assert call(db, "DbGetAttributeAlias2", "attr/alias/1/att") == "my_att_alias"
    assert "my_att_alias" in call(db, "DbGetAttributeAliasList", "my_att*")
    assert reason(db, "DbPutAttributeAlias", ["attr/alias/1/att2", "my_att_alias"]) == \
        ("DB_SQLError", "alias my_att_alias already exists !")
    assert reason(db, "DbPutAttributeAlias", ["attr/alias/att", "x"])[0] == "DB_SQLError"
    assert reason(db, "DbGetAttributeAlias", "nope_alias")[0] == "DB_SQLError"
    assert reason(db, "DbGetAttributeAlias2", "attr/alias/1/nope")[0] == "DB_SQLError"
    # the itango query reads the table
    lv, sv = db.command_inout("DbMySqlSelect", "SELECT name, alias FROM attribute_alias order by alias")
    assert ("attr/alias/1/att", "my_att_alias") in list(zip(sv[0::2], sv[1::2]))
    call(db, "DbDeleteAttributeAlias", "my_att_alias")
    call(db, "DbDeleteAttributeAlias", "my_att_alias")  # an unknown alias is not an error
    assert "my_att_alias" not in call(db, "DbGetAttributeAliasList", "*")


@pytest.mark.skipif(KIND == "pytango", reason="PyTango's DataBaseds has no pipe property commands")
def test_pipe_properties(db):
    register(tango.Database(), "Pipes/1", "PipeClass", "pipe/dev/1")
    call(db, "DbPutDevicePipeProperty", ["pipe/dev/1", "1", "pipe1", "1", "label", "1", "PL"])
    assert call(db, "DbGetDevicePipeProperty", ["pipe/dev/1", "pipe1", "nope"]) == \
        ["pipe/dev/1", "2", "pipe1", "1", "label", "1", "PL", "nope", "0"]
    assert call(db, "DbGetDevicePipeList", ["pipe/dev/1", "*"]) == ["pipe1"]
    assert without_dates(call(db, "DbGetDevicePipePropertyHist", ["pipe/dev/1", "*", "*"]), 2) == \
        ["pipe1", "label", "<date>", "1", "PL"]
    call(db, "DbDeleteDevicePipeProperty", ["pipe/dev/1", "pipe1", "label"])
    assert call(db, "DbGetDevicePipeList", ["pipe/dev/1", "*"]) == []
    call(db, "DbPutDevicePipeProperty", ["pipe/dev/1", "1", "pipe2", "1", "label", "1", "PL"])
    call(db, "DbDeleteDevicePipe", ["pipe/dev/1", "pipe2"])
    assert call(db, "DbGetDevicePipeList", ["pipe/dev/1", "*"]) == []
    call(db, "DbPutClassPipeProperty", ["PipeClass", "1", "cpipe", "1", "label", "2", "a", "b"])
    assert call(db, "DbGetClassPipeProperty", ["PipeClass", "cpipe"]) == ["PipeClass", "1", "cpipe", "1", "label", "2", "a", "b"]
    assert call(db, "DbGetClassPipeList", ["PipeClass", "*"]) == ["cpipe"]
    call(db, "DbDeleteClassPipe", ["PipeClass", "cpipe"])
    assert call(db, "DbGetClassPipeList", ["PipeClass", "*"]) == []


def test_server_info(db):
    register(tango.Database(), "Info/1", "InfoClass", "info/dev/1")
    call(db, "DbPutServerInfo", ["Info/1", "myhost", "1", "2"])
    assert call(db, "DbGetServerInfo", "Info/1") == ["Info/1", "myhost", "1", "2"]
    assert call(db, "DbGetServerInfo", "Nope/1") == ["Nope/1", " ", " ", " "]
    call(db, "DbDeleteServerInfo", "Info/1")
    assert call(db, "DbGetServerInfo", "Info/1") == ["Info/1", " ", " ", " "]


def test_rename_server(db):
    register(tango.Database(), "Rename/1", "RenameClass", "rename/dev/1", "rename/dev/2")
    call(db, "DbRenameServer", ["Rename/1", "Rename/2"])
    assert call(db, "DbGetDeviceClassList", "Rename/2") == \
        ["dserver/Rename/2", "DServer", "rename/dev/1", "RenameClass", "rename/dev/2", "RenameClass"]
    assert call(db, "DbGetDeviceClassList", "Rename/1") == []
    assert reason(db, "DbRenameServer", ["Rename/2", "DataBaseds/2"])[1].startswith(
        "Device server process name DataBaseds/2 is already used")


@not_pytango
def test_rename_server_refuses_an_unknown_server(db):
    assert reason(db, "DbRenameServer", ["NopeRename/1", "Other/3"]) == \
        ("DB_IncorrectServerName", "Server NopeRename/1 not defined in database !")


def test_class_inheritance(db):
    register(tango.Database(), "Inherit/1", "InheritClass", "inherit/dev/1")
    assert call(db, "DbGetClassInheritanceForDevice", "inherit/dev/1") == ["InheritClass"]


# ---- DbMySqlSelect: the MySQL forms dsconfig, TangoGQL and others send ---------------------

def select(db, sql):
    lv, sv = db.command_inout("DbMySqlSelect", sql)
    rows, cols = lv[-2], lv[-1]
    return [list(sv[i * cols:(i + 1) * cols]) for i in range(rows)]


def test_mysql_forms(db):
    register(tango.Database(), "SqlForms/1", "SqlFormsClass", "sql/forms_x/1", "sql/forms1x/2")
    call(db, "DbPutDeviceProperty", ["sql/forms_x/1", "1", "P", "2", "a", "b"])
    # LIKE with \_ escapes (dsconfig), backquotes; PyTango's sqlite LIKE has no escape character
    escaped = [["sql/forms_x/1"]] if KIND != "pytango" else []
    assert select(db, r"SELECT `name` FROM device WHERE name LIKE 'sql/forms\_x/%' ORDER BY name") == escaped
    # IN (...) (TangoGQL), IFNULL, ORDER BY ... DESC
    assert select(db, "SELECT name, IFNULL(alias, 'none') FROM device WHERE name IN ('sql/forms_x/1','sql/forms1x/2') "
                      "ORDER BY name DESC") == [["sql/forms_x/1", "none"], ["sql/forms1x/2", "none"]]
    # CONCAT, GROUP BY, COUNT (PyTango's sqlite has no CONCAT)
    if KIND != "pytango":
        assert select(db, "SELECT CONCAT(device, '/', name), COUNT(*) FROM property_device WHERE device LIKE 'sql/forms%' "
                          "GROUP BY device, name") == [["sql/forms_x/1/P", "2"]]
    # the join dsconfig sends for device properties
    assert select(db, "SELECT device, property_device.name, property_device.value FROM property_device "
                      "INNER JOIN device ON property_device.device = device.name "
                      "WHERE server LIKE 'SqlForms/1' AND class LIKE 'SqlFormsClass' AND device LIKE '%' "
                      "AND class != 'DServer' ORDER BY property_device.count ASC") == \
        [["sql/forms_x/1", "P", "a"], ["sql/forms_x/1", "P", "b"]]


def test_a_repeated_select_follows_every_change(db):
    """TangoGQL's device query, asked again after each kind of write (the embedded database
    answers a repeated query from its kept result until something changes)."""
    names = ["sql/repeat/1", "sql/repeat/2"]
    q = "SELECT name, exported, ior FROM device WHERE name IN ('sql/repeat/1','sql/repeat/2') ORDER BY name"
    register(tango.Database(), "SqlRepeat/1", "SqlRepeatClass", names[0])
    first = select(db, q)
    assert [r[:2] for r in first] == [[names[0], "0"]] and select(db, q) == first
    register(tango.Database(), "SqlRepeat/1", "SqlRepeatClass", names[1])
    assert [r[0] for r in select(db, q)] == names
    call(db, "DbExportDevice", [names[1], "IOR:0102", "host", "42", "5"])
    assert select(db, q)[1][:3] == [names[1], "1", "IOR:0102"]
    call(db, "DbDeleteDevice", names[0])
    assert [r[0] for r in select(db, q)] == [names[1]]


@pytest.mark.skipif(KIND == "pytango", reason="PyTango's DataBaseds answers a write with PyDs_PythonError")
@pytest.mark.parametrize("sql", ["DELETE FROM device", "UPDATE device SET exported = 0", "DROP TABLE device"])
def test_mysql_select_refuses_writes(db, sql):
    before = select(db, "SELECT name, exported FROM device ORDER BY name")
    assert reason(db, "DbMySqlSelect", sql)[0] == "DB_SQLError"
    assert select(db, "SELECT name, exported FROM device ORDER BY name") == before
