"""The index in PostgreSQL (psycopg 3), for several registry replicas over one directory.

The queries are the SQLite back end's (``index.SqlIndex``, placeholders rewritten) and
so are the numbered migrations (``migrations``), applied under an advisory lock so that
replicas starting together migrate once. The model files stay in the model directory,
which the replicas share; the database holds what the SQLite file held.

What changes with several writers is the name lock (``ModelIndex.name_lock``): one
model's file, sidecar and row change together under a PostgreSQL advisory lock keyed by
its file name, held on a connection of its own, so that a replica never sees another's
half-made change: two uploads of one name end with one file, one sidecar and one row,
and a cleanup on one replica never races another's adoption into leaving a row or a
sidecar behind. A replica that dies holding it loses its connection, and PostgreSQL
frees the lock. Waiting for it is bounded (``NAME_LOCK_TIMEOUT``).

Statements go through one connection per replica, guarded by a lock, as with SQLite:
each is short. Either connection, lost under it (the server restarted, or an operator
ended the session), is replaced once and the statement retried; every statement here
may be repeated without harm.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict
from psycopg.rows import DictRow, dict_row

from glidepath.errors import Unavailable
from glidepath.text import clip
from model_registry_service import migrations
from model_registry_service.index import IndexFull, Row, SqlIndex
from model_registry_service.migrations import SCHEMA_VERSION
from model_registry_service.naming import ModelKey

Connection = psycopg.Connection[DictRow]

# Advisory lock keys are two 32-bit integers: a namespace of ours, then the object.
_MIGRATION_LOCK = (0x676C6470, 0)  # "gldp"
_NAME_LOCK_NAMESPACE = 0x676C6471
NAME_LOCK_TIMEOUT = "30s"
CONNECT_TIMEOUT_SECONDS = 10


def where(url: str) -> str:
    """``user@host:port/database`` of a URL, without its password (for logs and errors)."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "(an unreadable database URL)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


def connect(url: str) -> Connection:
    """An autocommit connection returning rows as dicts; Unavailable when it cannot be had."""
    try:
        return psycopg.connect(
            url, autocommit=True, row_factory=dict_row, connect_timeout=CONNECT_TIMEOUT_SECONDS
        )
    except psycopg.Error as exc:
        why = clip(" ".join(str(exc).split()), 200)
        raise Unavailable(
            f"cannot reach the model index at postgresql://{where(url)} ({why})",
            reason="UNAVAILABLE",
        ) from None


def migrate_postgres(db: Connection, name: str, target: int = SCHEMA_VERSION) -> None:
    """Apply the migrations the database lacks, each recorded in ``index_migrations``,
    all in one transaction under the migration lock (DDL is transactional here)."""
    with db.transaction():
        db.execute("SELECT pg_advisory_xact_lock(%s, %s)", _MIGRATION_LOCK)
        db.execute(
            "CREATE TABLE IF NOT EXISTS index_migrations ("
            "version INTEGER PRIMARY KEY, what TEXT NOT NULL, "
            "applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        row = db.execute("SELECT coalesce(max(version), 0) AS v FROM index_migrations").fetchone()
        current = int(row["v"]) if row is not None else 0
        for migration in migrations.pending(current, name, target=target):
            for statement in migration.statements:
                db.execute(migrations.POSTGRESQL.render(statement))
            db.execute(
                "INSERT INTO index_migrations (version, what) VALUES (%s, %s)",
                (migration.version, migration.what),
            )


def _lost(db: Connection, exc: psycopg.OperationalError) -> bool:
    """Whether ``exc`` means the connection is gone (not that the statement failed)."""
    shutdown = (psycopg.errors.AdminShutdown, psycopg.errors.CrashShutdown)
    return db.closed or db.broken or isinstance(exc, shutdown)


def _name_lock_id(key: ModelKey) -> int:
    """The file name as a signed 32-bit integer (a collision only serialises two names)."""
    return int.from_bytes(hashlib.sha256(key.file_name.encode()).digest()[:4], "big", signed=True)


class PostgresIndex(SqlIndex):
    """The index in a PostgreSQL database shared by every registry replica."""

    shared = True

    def __init__(self, url: str) -> None:
        self._url = url
        self._where = where(url)
        self._lock = threading.Lock()
        self._name_mutex = threading.Lock()
        self._name_db: Connection | None = None
        self._db = connect(url)
        try:
            migrate_postgres(self._db, f"postgresql://{self._where}")
        except BaseException:
            self._db.close()
            raise

    def describe(self) -> str:
        return f"postgresql://{self._where}"

    def close(self) -> None:
        with self._lock:
            self._db.close()
        with self._name_mutex:
            if self._name_db is not None:
                self._name_db.close()

    def _run(self, sql: str, params: Sequence[object]) -> psycopg.Cursor[DictRow]:
        """Under ``_lock``: the statement, on a fresh connection once if this one broke."""
        query = sql.replace("?", "%s")
        try:
            return self._db.execute(query, params)
        except psycopg.OperationalError as exc:
            if not _lost(self._db, exc):
                raise
            self._db.close()
            self._db = connect(self._url)
            return self._db.execute(query, params)

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._lock:
            rows: list[Any] = self._run(sql, params).fetchall()
            return rows

    def _execute(self, sql: str, params: Sequence[object] = ()) -> None:
        with self._lock:
            try:
                self._run(sql, params)
            except psycopg.errors.DiskFull as exc:
                raise IndexFull(str(exc)) from exc

    def _name_connection(self) -> Connection:
        """Under ``_name_mutex``: the connection that holds name locks (made on first use)."""
        if self._name_db is None or self._name_db.closed or self._name_db.broken:
            self._name_db = connect(self._url)
            self._name_db.execute(f"SET lock_timeout = '{NAME_LOCK_TIMEOUT}'")
        return self._name_db

    def _take_name_lock(self, ids: tuple[int, int]) -> Connection:
        """Under ``_name_mutex``: the lock, on a fresh connection once if this one broke."""
        db = self._name_connection()
        try:
            db.execute("SELECT pg_advisory_lock(%s, %s)", ids)
        except psycopg.OperationalError as exc:
            if not _lost(db, exc):
                raise
            db.close()
            db = self._name_connection()
            db.execute("SELECT pg_advisory_lock(%s, %s)", ids)
        return db

    @contextmanager
    def name_lock(self, key: ModelKey) -> Iterator[None]:
        """Hold the advisory lock of ``key``'s name across every replica (never nested)."""
        ids = (_NAME_LOCK_NAMESPACE, _name_lock_id(key))
        with self._name_mutex:
            try:
                db = self._take_name_lock(ids)
            except psycopg.errors.LockNotAvailable:
                raise Unavailable(
                    f"{key.file_name} is being changed by another registry replica for more "
                    f"than {NAME_LOCK_TIMEOUT}; try again",
                    reason="UNAVAILABLE",
                ) from None
            try:
                yield
            finally:
                try:
                    db.execute("SELECT pg_advisory_unlock(%s, %s)", ids)
                except psycopg.Error:
                    db.close()  # closing the session frees its locks
