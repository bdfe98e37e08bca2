"""Engine set-up that the rules depend on.

SQLite allows one writer at a time, and pysqlite's own deferred BEGIN makes ``SELECT ... FOR UPDATE`` a
no-op and turns a late write into SQLITE_BUSY. So we issue BEGIN ourselves:

* A request that changes data (POST and the like), and all work outside a request (CLI, key rotation,
  backup), starts with ``BEGIN IMMEDIATE``: writers queue for the lock (busy_timeout) and the whole
  transaction, its reads included, runs alone, so no check-then-write rule can be raced.
* A page view (GET, HEAD) starts deferred, so reading takes no lock and views run side by side (WAL).
  At its first write intent (an INSERT, UPDATE or DELETE, a ``SELECT ... FOR UPDATE``, a savepoint;
  in practice the audit row every view appends) the read snapshot is ended and the transaction restarts
  as ``BEGIN IMMEDIATE``; every statement from there on sees the latest committed data (as PostgreSQL's
  READ COMMITTED gives the same code). The audit chain head is read ``FOR UPDATE`` (a plain Core
  SELECT, never an object from the session), so it is read under the lock and the chain cannot fork.

``BEGIN IMMEDIATE`` for every transaction (as before) held the write lock from a view's first read (its
session check) until its end, rendering included: every request in every process queued on it.
"""
from flask import has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

_STATE = "victimcare_sqlite_txn"  # per DBAPI connection: None (no transaction), "read" or "write"
_READS = ("SELECT", "PRAGMA", "EXPLAIN")


def configure_engine(engine: Engine) -> None:
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn):
        conn.info[_STATE] = None
        if _page_view():
            conn.exec_driver_sql("BEGIN")
            conn.info[_STATE] = "read"
        else:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
            conn.info[_STATE] = "write"

    @event.listens_for(engine, "before_cursor_execute")
    def _before_execute(conn, cursor, statement, _parameters, context, _executemany):
        if conn.info.get(_STATE) == "read" and writes(statement, context):
            conn.info[_STATE] = "write"
            cursor.execute("COMMIT")  # ends the read snapshot; nothing was written
            cursor.execute("BEGIN IMMEDIATE")

    @event.listens_for(engine, "commit")
    @event.listens_for(engine, "rollback")
    def _on_end(conn):
        conn.info[_STATE] = None


def _page_view() -> bool:
    return has_request_context() and request.method in ("GET", "HEAD")


def writes(statement: str, context) -> bool:
    """Does this statement write, or announce a write (FOR UPDATE)?"""
    head = statement.lstrip()[:7].upper()
    if head.startswith("WITH"):  # a common table expression: reads unless it ends in a write
        return any(getattr(context, flag, False) for flag in ("isinsert", "isupdate", "isdelete"))
    if not head.startswith(_READS):
        return True  # INSERT, UPDATE, DELETE, SAVEPOINT, DDL, ANALYZE
    compiled = getattr(context, "compiled", None)
    return getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None


def init_app(app) -> None:
    """A page view's commit is its audit row (and now and then the session's last-seen time): the rows
    it read stay as read for the page it renders afterwards, instead of being expired and loaded again
    one query each (a caseload page of 25 people reloaded every one of them). Writes (POST) keep the
    default, so what a request does after saving is read afresh."""
    from .extensions import db

    @app.before_request
    def _keep_rows_for_the_page():
        if request.method in ("GET", "HEAD"):
            db.session().expire_on_commit = False

    @app.teardown_request
    def _default_again(_error=None):
        if db.session.registry.has():  # the session outlives the request where tests share the app context
            db.session().expire_on_commit = True
