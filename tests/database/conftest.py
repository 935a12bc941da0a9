"""Fixtures of the Tango database suite.

One pytest session runs against one database implementation, chosen with TANGO_DB_KIND:

    embedded  (default) our `sdp database` (target/debug/sdp), state in a temp dir
    pytango   PyTango's sqlite DataBaseds (`python -m tango.databaseds.database`)
    mariadb   Debian's C++ DataBaseds (package tango-db) on a throwaway MariaDB

The database is started on a free 127.0.0.1 port and TANGO_HOST is set for the whole session
*before* any PyTango call, so plain names (`DeviceProxy('test/device/1')`) go through it.
Everything started here is stopped here, by PID.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
KIND = os.environ.get("TANGO_DB_KIND", "embedded").lower()
if KIND not in ("embedded", "pytango", "mariadb"):
    raise RuntimeError(f"TANGO_DB_KIND must be embedded, pytango or mariadb, not {KIND!r}")

SDP = REPO_ROOT / os.environ.get("SDP_BINARY", "target/debug/sdp")
TEST_DEVICE = REPO_ROOT / os.environ.get("TANGO_TEST_BINARY", "target/debug/TestDevice")
TANGO_TEST = Path("/usr/lib/tango/TangoTest")
DATABASEDS = Path("/usr/lib/tango/DataBaseds")
MARIADB_SCHEMA = Path("/usr/share/dbconfig-common/data/tango-db/install/mysql")
# tango-db's stored procedures (StoredProcedureRelease, DbGetDataForServerCache), as installed
# databases have them
MARIADB_PROCEDURES = Path("/usr/share/tango-db/stored_proc.sql")
START_TIMEOUT = float(os.environ.get("TANGO_START_TIMEOUT", "30"))

only_embedded = pytest.mark.skipif(KIND != "embedded", reason="a property of the embedded database only")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_open(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def stop_process(proc, timeout=10):
    """SIGTERM, then SIGKILL; returns the exit code."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)
    return proc.returncode


def wait_for(pred, what, timeout=START_TIMEOUT, proc=None, log=None):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            break
        try:
            if pred():
                return
        except Exception as exc:  # noqa: BLE001 - reported below
            last = exc
        time.sleep(0.05)
    text = Path(log).read_text(errors="replace") if log and Path(log).exists() else ""
    raise RuntimeError(f"{what} (last error: {last}; exit code: {proc.poll() if proc else None})\n--- log ---\n{text}")


class TangoDb:
    """A running Tango database of one kind on 127.0.0.1:port."""

    def __init__(self, kind):
        self.kind = kind
        self.tmp = Path(tempfile.mkdtemp(prefix=f"tango-db-{kind}-"))
        self.port = free_port()
        self.procs = []

    @property
    def tango_host(self):
        return f"127.0.0.1:{self.port}"

    def _spawn(self, cmd, log_name, env=None):
        log = open(self.tmp / log_name, "w")
        p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                             env=env or os.environ.copy(), cwd=self.tmp)
        self.procs.append(p)
        return p

    def start(self):
        if self.kind == "embedded":
            if not SDP.exists():
                pytest.exit(f"{SDP} not found: run `cargo build --workspace --bins`", returncode=3)
            self.main = self._spawn([str(SDP), "database", "--port", str(self.port),
                                     "--state-dir", str(self.tmp / "state")], "db.log")
        elif self.kind == "pytango":
            env = dict(os.environ, PYTANGO_DATABASE_NAME=str(self.tmp / "tango.db"))
            self.main = self._spawn([sys.executable, str(HERE / "pytango_sqlite_db.py"),
                                     "--host", "127.0.0.1", "--port", str(self.port), "2"], "db.log", env)
        else:
            self._start_mariadb()
        self._wait_ready()
        return self

    def _start_mariadb(self):
        for tool in ("mariadb-install-db", "mariadbd", "mariadb"):
            if shutil.which(tool) is None:
                pytest.exit(f"{tool} not found: install mariadb-server (make deps)", returncode=3)
        if not DATABASEDS.exists() or not MARIADB_SCHEMA.exists():
            pytest.exit("Debian tango-db is not installed (make deps)", returncode=3)
        data, sock = self.tmp / "data", self.tmp / "mysql.sock"
        mysql_port = free_port()
        subprocess.run(["mariadb-install-db", "--no-defaults", f"--datadir={data}", "--user=root",
                        "--auth-root-authentication-method=normal", "--skip-test-db"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        mysqld = self._spawn(["mariadbd", "--no-defaults", f"--datadir={data}", f"--socket={sock}",
                              f"--port={mysql_port}", "--bind-address=127.0.0.1", "--user=root",
                              f"--pid-file={self.tmp / 'mysqld.pid'}", "--skip-log-bin",
                              "--innodb-buffer-pool-size=32M", "--innodb-flush-log-at-trx-commit=2"],
                             "mysqld.log")
        client = ["mariadb", "--no-defaults", f"--socket={sock}", "-uroot"]
        wait_for(lambda: subprocess.run(client + ["-e", "SELECT 1"], capture_output=True).returncode == 0,
                 "MariaDB did not start", proc=mysqld, log=self.tmp / "mysqld.log")
        users = "".join(f"CREATE USER 'tango'@'{h}' IDENTIFIED BY 'tango'; GRANT ALL PRIVILEGES ON tango.* TO 'tango'@'{h}';"
                        for h in ("localhost", "127.0.0.1"))
        subprocess.run(client + ["-e", "CREATE DATABASE tango;" + users], check=True)
        for sql in (MARIADB_SCHEMA, MARIADB_PROCEDURES):
            with open(sql) as f:
                subprocess.run(client + ["tango"], stdin=f, check=True, stdout=subprocess.DEVNULL)
        env = dict(os.environ, MYSQL_USER="tango", MYSQL_PASSWORD="tango", MYSQL_HOST=f"127.0.0.1:{mysql_port}",
                   MYSQL_DATABASE="tango")
        self.main = self._spawn([str(DATABASEDS), "2", "-ORBendPoint", f"giop:tcp:127.0.0.1:{self.port}"],
                                "db.log", env)

    def _wait_ready(self):
        import tango
        wait_for(lambda: port_open(self.port), "the database port never opened", proc=self.main, log=self.tmp / "db.log")
        wait_for(lambda: tango.Database("127.0.0.1", self.port).get_server_list("*") is not None,
                 "the database does not answer", proc=self.main, log=self.tmp / "db.log")

    def log(self):
        return (self.tmp / "db.log").read_text(errors="replace")

    def stop(self):
        for p in reversed(self.procs):
            stop_process(p)
        shutil.rmtree(self.tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def tango_db():
    db = TangoDb(KIND).start()
    os.environ["TANGO_HOST"] = db.tango_host
    yield db
    db.stop()


@pytest.fixture(scope="session")
def database(tango_db):
    import tango
    return tango.Database()


class DeviceServer:
    """A device server process in database mode (TANGO_HOST set), listening on 127.0.0.1."""

    def __init__(self, cmd, name, env=None):
        self.cmd = cmd
        self.name = name
        self.env = env or os.environ.copy()
        self.log = tempfile.NamedTemporaryFile(prefix=f"tango-{name.replace('/', '-')}-", suffix=".log", delete=False)
        self.proc = None

    def start(self, wait_device=None):
        self.proc = subprocess.Popen(self.cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=self.env, cwd=REPO_ROOT)
        if wait_device:
            import tango
            wait_for(lambda: tango.DeviceProxy(wait_device).ping() >= 0, f"{wait_device} never answered",
                     proc=self.proc, log=self.log.name)
        return self

    def log_text(self):
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self):
        return stop_process(self.proc)


def register(database, server, cls, *devices):
    import tango
    for d in devices:
        info = tango.DbDevInfo()
        info.name, info._class, info.server = d, cls, server
        database.add_device(info)


def pytest_report_header(config):
    return f"Tango database under test: TANGO_DB_KIND={KIND}"
