"""Dumping and restoring each kind of database, and the schema revisions this code knows."""
from __future__ import annotations

import contextlib
import glob
import os
import re
import shutil
import sqlite3
import subprocess

from alembic.script import ScriptDirectory
from flask import current_app
from sqlalchemy import text

from ..extensions import db
from .fileformat import BackupError


def database_kind() -> str:
    return db.engine.dialect.name


def _script() -> ScriptDirectory:
    return ScriptDirectory(current_app.extensions["migrate"].directory)


def known_revisions() -> set[str]:
    return {script.revision for script in _script().walk_revisions()}


def code_heads() -> set[str]:
    return set(_script().get_heads())


def _sqlite_path() -> str:
    path = db.engine.url.database
    if path in (None, "", ":memory:"):
        raise BackupError("An in-memory SQLite database cannot be backed up or restored.")
    return path


def _dump_sqlite(dest: str) -> list[str]:
    """One backup step = one read transaction: a consistent snapshot while writers go on."""
    with contextlib.closing(sqlite3.connect(_sqlite_path(), timeout=30)) as source, \
            contextlib.closing(sqlite3.connect(dest)) as target:
        source.backup(target)
        target.execute("PRAGMA journal_mode=DELETE")  # a self-contained file, no -wal beside it
        try:
            return sorted(row[0] for row in target.execute("SELECT version_num FROM alembic_version"))
        except sqlite3.OperationalError:
            raise BackupError("The database has no schema revision: run `flask --app victimcare db upgrade` "
                              "first.") from None


def _restore_sqlite(dump: str) -> None:
    """Through the backup API into the live file: SQLite locks it and other connections see the new
    content; replacing the file under them would leave them (and its -wal file) on the old one."""
    with contextlib.closing(sqlite3.connect(dump)) as source, \
            contextlib.closing(sqlite3.connect(_sqlite_path(), timeout=30)) as target:
        source.backup(target)


def _dump_postgresql(dest: str) -> list[str]:
    revision = sorted(db.session.scalars(text("SELECT version_num FROM alembic_version")))
    db.session.rollback()
    _run_pg("pg_dump", "--format=custom", f"--file={dest}")
    return revision


def _restore_postgresql(dump: str) -> None:
    """One transaction: a failure leaves the database as it was. Objects are owned by the restoring
    user (--no-owner), the one the app connects as."""
    _run_pg("pg_restore", "--clean", "--if-exists", "--single-transaction", "--no-owner", dump)


def _run_pg(tool: str, *args: str) -> None:
    command, env = pg_invocation(db.engine.url, tool, *args)
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    if done.returncode:
        raise BackupError(f"{tool} failed: {done.stderr.strip()}")


def pg_invocation(url, tool: str, *args: str) -> tuple[list[str], dict]:
    """The command line and environment for a client tool on the database at SQLAlchemy ``url``.
    The password goes in the environment, not on the command line, where `ps` shows it."""
    env = dict(os.environ)
    if url.password:
        env["PGPASSWORD"] = str(url.password)
    # URL.set(password=None) would keep the password: None means "unchanged" there
    conninfo = url._replace(password=None).set(drivername="postgresql").render_as_string(hide_password=False)
    return [pg_tool(tool), f"--dbname={conninfo}", *args], env


def pg_tool(name: str) -> str:
    """The newest installed version of a PostgreSQL client tool (pg_dump must not be older than the
    server), else the one on PATH."""
    found = glob.glob(f"/usr/lib/postgresql/*/bin/{name}")
    if found:
        return max(found, key=lambda p: [int(n) for n in re.findall(r"\d+", p.split("/")[4])])
    path = shutil.which(name)
    if not path:
        raise BackupError(f"PostgreSQL's {name} is not installed: install the PostgreSQL client package "
                          "(Debian: postgresql-client).")
    return path


DUMPERS = {"sqlite": _dump_sqlite, "postgresql": _dump_postgresql}
RESTORERS = {"sqlite": _restore_sqlite, "postgresql": _restore_postgresql}
