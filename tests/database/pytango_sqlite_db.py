"""Run PyTango's sqlite DataBaseds without the Starter notification.

    PYTANGO_DATABASE_NAME=tango.db python pytango_sqlite_db.py --host 127.0.0.1 --port N 2

On every DbExportDevice the stock sqlite backend calls UpdateServersInfo on a Starter device
(tango/admin/<host>), looked up through this same single-threaded database: each server
start then stalls for seconds. The tests have no Starter, so the backend is built with
fire_to_starter=False; everything else is PyTango's own code.
"""
import sys

from tango.databaseds import database
from tango.databaseds.db_access import sqlite3 as backend


def _get_db(personal_name="2"):
    return backend.Sqlite3Database(personal_name, fire_to_starter=False)


backend.get_db = _get_db

if __name__ == "__main__":
    database.main(sys.argv[1:])
