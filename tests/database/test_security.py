"""Security of the embedded Tango database (`sdp database`), through the real PyTango client:

- `DbMySqlSelect` runs one read-only SELECT on the C++ schema and refuses everything else
  (writes, schema changes, ATTACH, PRAGMA, `;` chains) with DevFailed reason `DB_SQLError`
  and a desc that says why; a refused query changes nothing (tests/database/test_sql_select.py
  has the MySQL forms the tools send, against all three databases);
- the database listens on 127.0.0.1 unless `--host` says otherwise;
- it has a device server's limits: request size, idle connections, connection count.
"""

import socket
import subprocess
import sys
from pathlib import Path

import pytest
import tango

from conftest import SDP, free_port, only_embedded, port_open, register, stop_process, wait_for

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from listening import bound_sockets, descendants, not_loopback  # noqa: E402

pytestmark = only_embedded

ITANGO_DEVICES = "SELECT name, alias, server, class FROM device order by name"
ITANGO_ATTRIBUTE_ALIASES = "SELECT name, alias FROM attribute_alias order by alias"

REFUSED = [
    "UPDATE device SET exported=0",
    "DELETE FROM device",
    "DROP TABLE device",
    "INSERT INTO device (name) VALUES ('x/y/z')",
    "REPLACE INTO device (name) VALUES ('x/y/z')",
    "CREATE TABLE evil (x)",
    "ATTACH DATABASE '/tmp/evil.db' AS evil",
    "PRAGMA writable_schema = 1",
    "PRAGMA journal_mode = DELETE",
    "VACUUM",
    "WITH x AS (SELECT 1) DELETE FROM device",
    "SELECT load_extension('/tmp/evil.so')",
    f"{ITANGO_DEVICES}; DROP TABLE device",
    f"{ITANGO_DEVICES}; DELETE FROM device;",
    "SELECT * FROM no_such_table",
    "",
    "x" * 100_000,
]


def test_itango_device_query_lists_every_device(database):
    register(database, "SqlServer/s", "SqlClass", "test/sql/1")
    database.put_device_alias("test/sql/1", "sqlone")
    lv, sv = database.command_inout("DbMySqlSelect", ITANGO_DEVICES)
    rows, cols = lv[-2], lv[-1]
    assert cols == 4 and rows * 4 == len(sv)
    table = {sv[i]: tuple(sv[i + 1:i + 4]) for i in range(0, len(sv), 4)}
    assert table["test/sql/1"] == ("sqlone", "SqlServer/s", "SqlClass")
    assert table["sys/database/2"] == ("", "DataBaseds/2", "DataBase")
    # one not-NULL flag per cell: the database device has no alias (NULL)
    i = sv.index("sys/database/2")
    assert lv[i + 1] == 0 and lv[i + 2] == 1


def test_itango_query_forms_are_accepted(database):
    """Whitespace, case and a trailing `;` do not matter (clients differ in those)."""
    want = database.command_inout("DbMySqlSelect", ITANGO_DEVICES)
    for form in (ITANGO_DEVICES.lower(), "  " + ITANGO_DEVICES.replace(" ", "\n  ") + " ;", ITANGO_DEVICES.upper().replace("DEVICE", "device")):
        got = database.command_inout("DbMySqlSelect", form)
        assert (list(got[0]), list(got[1])) == (list(want[0]), list(want[1])), form


def test_itango_attribute_alias_query(database):
    lv, sv = database.command_inout("DbMySqlSelect", ITANGO_ATTRIBUTE_ALIASES)
    assert (list(lv), list(sv)) == ([0, 2], [])  # no attribute aliases: zero rows of two columns


@pytest.mark.parametrize("sql", REFUSED, ids=lambda s: s[:60] or "empty")
def test_anything_but_one_read_only_select_is_refused(database, sql):
    before = database.command_inout("DbMySqlSelect", ITANGO_DEVICES)
    with pytest.raises(tango.DevFailed) as e:
        database.command_inout("DbMySqlSelect", sql)
    err = e.value.args[0]
    assert err.reason == "DB_SQLError"
    assert "DbMySqlSelect runs one read-only SELECT" in err.desc
    assert len(err.desc) < 2000, "the refused text is quoted shortened"
    after = database.command_inout("DbMySqlSelect", ITANGO_DEVICES)
    assert (list(before[0]), list(before[1])) == (list(after[0]), list(after[1])), "a refused query changed nothing"


def test_the_database_device_answers_through_a_device_proxy(tango_db):
    dp = tango.DeviceProxy("sys/database/2")
    with pytest.raises(tango.DevFailed) as e:
        dp.command_inout("DbMySqlSelect", "DELETE FROM device")
    assert e.value.args[0].reason == "DB_SQLError"
    assert "sys/database/2" in dp.command_inout("DbMySqlSelect", ITANGO_DEVICES)[1]


def test_database_listens_on_loopback_by_default(tango_db):
    """The suite's database is started without --host (see conftest)."""
    assert "--host" not in tango_db.main.args
    pids = descendants(tango_db.main.pid)
    sockets = bound_sockets(pids)
    assert tango_db.port in {s[2] for s in sockets}, sockets
    assert not_loopback(pids) == [], sockets


def test_database_listens_everywhere_only_when_asked(tmp_path):
    port = free_port()
    log = open(tmp_path / "db.log", "w")
    proc = subprocess.Popen([str(SDP), "database", "--host", "0.0.0.0", "--port", str(port), "--state-dir", str(tmp_path / "state")],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    try:
        wait_for(lambda: port_open(port), "the database port never opened", proc=proc, log=tmp_path / "db.log")
        sockets = bound_sockets(descendants(proc.pid))
        assert ("tcp", "0.0.0.0", port) in {s[:3] for s in sockets}, sockets
    finally:
        assert stop_process(proc) == 0


def start_database(tmp_path, *args):
    port = free_port()
    log = open(tmp_path / "db.log", "w")
    proc = subprocess.Popen([str(SDP), "database", "--port", str(port), "--state-dir", str(tmp_path / "state"), *args],
                            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    wait_for(lambda: port_open(port), "the database port never opened", proc=proc, log=tmp_path / "db.log")
    return proc, port


def test_database_refuses_a_request_over_its_size_limit(tmp_path):
    """`--max-message-size`: a property bigger than the limit is refused (the client sees a
    DevFailed, the database logs why), nothing of it is stored, and the database goes on
    serving that client and others."""
    limit = 8192
    proc, port = start_database(tmp_path, "--max-message-size", str(limit))
    try:
        db = tango.Database("127.0.0.1", port)
        db.put_device_property("sys/database/2", {"Small": ["x" * 100]})
        with pytest.raises(tango.DevFailed):
            db.put_device_property("sys/database/2", {"Big": ["y" * (4 * limit)]})
        assert f"exceeds the maximum {limit}" in (tmp_path / "db.log").read_text()
        other = tango.Database("127.0.0.1", port)
        assert list(other.get_device_property("sys/database/2", "Small")["Small"]) == ["x" * 100]
        assert list(db.get_device_property("sys/database/2", "Big")["Big"]) == []
        assert proc.poll() is None
    finally:
        assert stop_process(proc) == 0


def test_database_closes_idle_connections_and_keeps_serving(tmp_path):
    """`--idle-timeout`: a connection that sends nothing is closed (GIOP CloseConnection,
    then EOF); PyTango clients reconnect without noticing."""
    proc, port = start_database(tmp_path, "--idle-timeout", "1")
    try:
        db = tango.Database("127.0.0.1", port)
        db.put_device_property("sys/database/2", {"Before": ["1"]})
        with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
            header = s.recv(12)
            assert header[:4] == b"GIOP" and header[7] == 5, header  # message type 5 = CloseConnection
            assert s.recv(1) == b""
        assert list(db.get_device_property("sys/database/2", "Before")["Before"]) == ["1"]
    finally:
        assert stop_process(proc) == 0


def test_database_closes_connections_beyond_its_limit_and_serves_the_others(tmp_path):
    """`--max-connections`: with the PyTango client's connection and a held raw one, a third
    connection is closed as it arrives, unanswered; the PyTango client goes on being served."""
    proc, port = start_database(tmp_path, "--max-connections", "2")
    try:
        db = tango.Database("127.0.0.1", port)
        db.put_device_property("sys/database/2", {"Before": ["1"]})
        with socket.create_connection(("127.0.0.1", port), timeout=15) as held, \
                socket.create_connection(("127.0.0.1", port), timeout=15) as third:
            try:
                assert third.recv(12) == b"", "a connection beyond the limit gets no answer"
            except ConnectionResetError:
                pass
            assert list(db.get_device_property("sys/database/2", "Before")["Before"]) == ["1"]
            held.settimeout(0.2)
            with pytest.raises(TimeoutError):
                held.recv(1)  # the held one is still open (nothing to read, not closed)
        assert proc.poll() is None
    finally:
        assert stop_process(proc) == 0


@pytest.mark.parametrize("args, message", [
    (("--max-message-size", "100"), "--max-message-size"),
    (("--max-connections", "0"), "--max-connections"),
    (("--idle-timeout", "soon"), "--idle-timeout"),
])
def test_database_refuses_bad_limits_at_start(tmp_path, args, message):
    r = subprocess.run([str(SDP), "database", "--port", str(free_port()), *args], capture_output=True, text=True, timeout=30)
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
