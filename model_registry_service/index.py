"""The metadata index: the port (``ModelIndex``), its queries, and the SQLite back end.

The index is not the truth about which models exist (the directory is, see
``storage``); it records what cannot be read from a file name: checksum, times,
provenance and evaluation. ``size_bytes`` and ``mtime_ns`` remember what the file looked
like when its checksum was taken, so a file changed by hand is noticed.

Two back ends implement the port with the same queries (``SqlIndex``) and the same
numbered migrations (``migrations``). By default the index is SQLite from the standard
library, a file in the model directory: enough for thousands of models, and the
registry stays a single directory to back up. WAL mode lets other processes (the
``model_storage`` functions, an operator's sqlite3 shell) read while the service writes.
With ``REGISTRY_DATABASE_URL`` it is a PostgreSQL database (``postgres_index``), which
several registry replicas over one shared model directory write at once;
:func:`open_model_index` chooses.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from glidepath import log
from glidepath.errors import DataLoss
from glidepath.models import PROFILE_KIND
from glidepath.text import clip
from model_registry_service import migrations
from model_registry_service.migrations import SCHEMA_VERSION
from model_registry_service.naming import INDEX_FILE_NAME, ModelKey
from model_registry_service.records import (
    ModelDetails,
    ModelRecord,
    Origin,
    Quarantine,
    Visibility,
)

_COLUMNS = (
    "model_hash, episodes, size_bytes, sha256, mtime_ns, created_at_us, origin, algorithm, "
    "library_versions_json, evaluation_score, evaluation_json, canonical_parameters_json, "
    "parent_hash, parent_episodes, timesteps, hyperparameters_json, training_seconds, "
    "owner, visibility, declared_score, declared_json, quarantine_reason, quarantined_at_us, "
    "kind, episodes_added, policy_family, policy_layout_version, label, "
    "features_json, features_version"
)
_NEWEST_FIRST = "ORDER BY created_at_us DESC, model_hash ASC, episodes ASC"
# The rows one user may read: shared ones and their own (an empty owner is nobody's).
_READABLE = "(visibility = 'SHARED' OR (owner != '' AND owner = ?))"


@dataclass(frozen=True)
class FileStamp:
    """What a file looked like (size, modification time) when its checksum was taken."""

    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Cursor:
    """Where a newest-first listing stopped: the last row returned."""

    created_at_us: int
    key: ModelKey


@dataclass(frozen=True)
class ListFilter:
    """A listing's filters: a kind (PROFILE also matches rows whose kind is unknown), an
    owner, a direct parent; None lets every value through."""

    kind: str | None = None
    owner: str | None = None
    parent: ModelKey | None = None

    def sql(self) -> tuple[list[str], list[object]]:
        clauses: list[str] = []
        params: list[object] = []
        if self.kind == PROFILE_KIND:
            clauses.append("kind IN (?, '')")
            params.append(self.kind)
        elif self.kind is not None:
            clauses.append("kind = ?")
            params.append(self.kind)
        if self.owner is not None:
            clauses.append("owner = ?")
            params.append(self.owner)
        if self.parent is not None:
            clauses.append("parent_hash = ? AND parent_episodes = ?")
            params += [self.parent.model_hash, self.parent.episodes]
        return clauses, params


def to_micros(moment: datetime) -> int:
    return round(moment.timestamp() * 1_000_000)


def from_micros(micros: int) -> datetime:
    return datetime.fromtimestamp(micros / 1_000_000, tz=UTC)


def _row_values(record: ModelRecord, stamp: FileStamp) -> tuple[Any, ...]:
    d = record.details
    return (
        record.key.model_hash,
        record.key.episodes,
        record.size_bytes,
        record.sha256,
        stamp.mtime_ns,
        to_micros(record.created_at),
        record.origin.value,
        d.algorithm,
        json.dumps(d.library_versions, sort_keys=True),
        d.evaluation_score,
        d.evaluation_json,
        d.canonical_parameters_json,
        d.parent.model_hash if d.parent else None,
        d.parent.episodes if d.parent else None,
        d.timesteps,
        d.hyperparameters_json,
        d.training_seconds,
        record.owner,
        record.visibility.value,
        d.declared_score,
        d.declared_json,
        record.quarantine.reason if record.quarantine else "",
        to_micros(record.quarantine.at) if record.quarantine else None,
        d.kind,
        d.episodes_added,
        d.policy_family,
        d.policy_layout_version,
        d.label,
        json.dumps(list(d.features)) if d.features else "",
        d.features_version,
    )


def _record(row: Row) -> ModelRecord:
    parent = None
    if row["parent_hash"] is not None:
        parent = ModelKey(row["parent_hash"], row["parent_episodes"])
    quarantine = None
    if row["quarantine_reason"]:
        quarantine = Quarantine(row["quarantine_reason"], from_micros(row["quarantined_at_us"]))
    return ModelRecord(
        key=ModelKey(row["model_hash"], row["episodes"]),
        size_bytes=row["size_bytes"],
        sha256=row["sha256"],
        created_at=from_micros(row["created_at_us"]),
        origin=Origin(row["origin"]),
        details=ModelDetails(
            algorithm=row["algorithm"],
            library_versions=json.loads(row["library_versions_json"]),
            evaluation_score=row["evaluation_score"],
            evaluation_json=row["evaluation_json"],
            declared_score=row["declared_score"],
            declared_json=row["declared_json"],
            canonical_parameters_json=row["canonical_parameters_json"],
            parent=parent,
            timesteps=row["timesteps"],
            hyperparameters_json=row["hyperparameters_json"],
            training_seconds=row["training_seconds"],
            kind=row["kind"],
            episodes_added=row["episodes_added"],
            policy_family=row["policy_family"],
            policy_layout_version=row["policy_layout_version"],
            label=row["label"],
            features=tuple(json.loads(row["features_json"])) if row["features_json"] else (),
            features_version=row["features_version"],
        ),
        owner=row["owner"],
        visibility=Visibility(row["visibility"]),
        quarantine=quarantine,
    )


class Row(Protocol):
    """A result row read by column name (``sqlite3.Row``, psycopg's ``dict_row``)."""

    def __getitem__(self, name: str, /) -> Any: ...


class ModelIndex(Protocol):
    """The port the store writes its rows through: one implementation per database.

    ``shared`` says whether other registry processes write the same index (PostgreSQL
    behind several replicas): the store then never assumes it alone works in the model
    directory. ``name_lock`` serialises, across every process sharing the index, the
    changes to one model's name (its file, sidecar and row together); the store takes it
    under its own lock, one name at a time, so it never nests.
    """

    @property
    def shared(self) -> bool: ...

    def describe(self) -> str: ...

    def close(self) -> None: ...

    def name_lock(self, key: ModelKey) -> AbstractContextManager[None]: ...

    def upsert(self, record: ModelRecord, stamp: FileStamp) -> None: ...

    def get(self, key: ModelKey) -> ModelRecord | None: ...

    def stamp(self, key: ModelKey) -> FileStamp | None: ...

    def delete(self, key: ModelKey) -> None: ...

    def stamps(self) -> dict[ModelKey, FileStamp]: ...

    def update_stamp(self, key: ModelKey, stamp: FileStamp) -> None: ...

    def set_created_at(self, key: ModelKey, created_at: datetime) -> None: ...

    def all(self) -> list[ModelRecord]: ...

    def with_features(self, version: int) -> list[ModelRecord]: ...

    def for_hash(self, model_hash: str) -> list[ModelRecord]: ...

    def page(
        self,
        model_hash: str | None,
        after: Cursor | None,
        limit: int,
        reader: str | None = None,
        only: ListFilter | None = None,
    ) -> list[ModelRecord]: ...

    def created_before(
        self, cutoff: datetime, *, reader: str | None = None, owner: str | None = None
    ) -> list[ModelRecord]: ...


class IndexFull(Exception):
    """The index's database could not write: its disk is full."""


# One statement for both back ends (SQLite has had PostgreSQL's upsert since 3.24).
_UPSERT = (
    f"INSERT INTO models ({_COLUMNS}) VALUES ({', '.join('?' * len(_COLUMNS.split(',')))}) "
    "ON CONFLICT (model_hash, episodes) DO UPDATE SET "
    + ", ".join(
        f"{c} = excluded.{c}"
        for c in (c.strip() for c in _COLUMNS.split(","))
        if c not in ("model_hash", "episodes")
    )
)


class SqlIndex:
    """The queries, written once with ``?`` placeholders; every method is one short
    statement. A back end supplies ``_rows`` and ``_execute`` (and its connection)."""

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        raise NotImplementedError

    def _execute(self, sql: str, params: Sequence[object] = ()) -> None:
        raise NotImplementedError

    def upsert(self, record: ModelRecord, stamp: FileStamp) -> None:
        self._execute(_UPSERT, _row_values(record, stamp))

    def get(self, key: ModelKey) -> ModelRecord | None:
        rows = self._rows(
            "SELECT * FROM models WHERE model_hash = ? AND episodes = ?",
            (key.model_hash, key.episodes),
        )
        return _record(rows[0]) if rows else None

    def stamp(self, key: ModelKey) -> FileStamp | None:
        """What the file looked like when its row was written (None: no row)."""
        rows = self._rows(
            "SELECT size_bytes, mtime_ns FROM models WHERE model_hash = ? AND episodes = ?",
            (key.model_hash, key.episodes),
        )
        return FileStamp(rows[0]["size_bytes"], rows[0]["mtime_ns"]) if rows else None

    def delete(self, key: ModelKey) -> None:
        self._execute(
            "DELETE FROM models WHERE model_hash = ? AND episodes = ?",
            (key.model_hash, key.episodes),
        )

    def stamps(self) -> dict[ModelKey, FileStamp]:
        rows = self._rows("SELECT model_hash, episodes, size_bytes, mtime_ns FROM models")
        return {
            ModelKey(r["model_hash"], r["episodes"]): FileStamp(r["size_bytes"], r["mtime_ns"])
            for r in rows
        }

    def update_stamp(self, key: ModelKey, stamp: FileStamp) -> None:
        self._execute(
            "UPDATE models SET size_bytes = ?, mtime_ns = ? WHERE model_hash = ? AND episodes = ?",
            (stamp.size, stamp.mtime_ns, key.model_hash, key.episodes),
        )

    def set_created_at(self, key: ModelKey, created_at: datetime) -> None:
        """Re-date a model (operators, tests and benchmarks; ages drive cleanup and ranking)."""
        self._execute(
            "UPDATE models SET created_at_us = ? WHERE model_hash = ? AND episodes = ?",
            (to_micros(created_at), key.model_hash, key.episodes),
        )

    def all(self) -> list[ModelRecord]:
        return [_record(r) for r in self._rows(f"SELECT * FROM models {_NEWEST_FIRST}")]

    def with_features(self, version: int) -> list[ModelRecord]:
        """Rows with a feature vector of ``version`` (the only ones a near search reads)."""
        rows = self._rows(
            f"SELECT * FROM models WHERE features_version = ? AND features_json != '' "
            f"{_NEWEST_FIRST}",
            (version,),
        )
        return [_record(r) for r in rows]

    def for_hash(self, model_hash: str) -> list[ModelRecord]:
        rows = self._rows(
            f"SELECT * FROM models WHERE model_hash = ? {_NEWEST_FIRST}", (model_hash,)
        )
        return [_record(r) for r in rows]

    def page(
        self,
        model_hash: str | None,
        after: Cursor | None,
        limit: int,
        reader: str | None = None,
        only: ListFilter | None = None,
    ) -> list[ModelRecord]:
        """Up to ``limit`` rows newest first, strictly after ``after`` in that order; with a
        ``reader``, only the shared rows and that user's own; with ``only``, its rows."""
        clauses: list[str] = []
        params: list[object] = []
        if reader is not None:
            clauses.append(_READABLE)
            params.append(reader)
        if only is not None:
            only_clauses, only_params = only.sql()
            clauses += only_clauses
            params += only_params
        if model_hash is not None:
            clauses.append("model_hash = ?")
            params.append(model_hash)
        if after is not None:
            clauses.append(
                "(created_at_us < ? OR (created_at_us = ? AND (model_hash, episodes) > (?, ?)))"
            )
            params += [after.created_at_us, after.created_at_us, after.key.model_hash]
            params.append(after.key.episodes)
        where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
        rows = self._rows(f"SELECT * FROM models {where} {_NEWEST_FIRST} LIMIT ?", (*params, limit))
        return [_record(r) for r in rows]

    def created_before(
        self, cutoff: datetime, *, reader: str | None = None, owner: str | None = None
    ) -> list[ModelRecord]:
        """Rows older than ``cutoff``: all, those ``reader`` may read, or ``owner``'s."""
        where = "created_at_us < ?"
        params: list[object] = [to_micros(cutoff)]
        if reader is not None:
            where += f" AND {_READABLE}"
            params.append(reader)
        if owner is not None:
            where += " AND owner = ?"
            params.append(owner)
        rows = self._rows(f"SELECT * FROM models WHERE {where} {_NEWEST_FIRST}", params)
        return [_record(r) for r in rows]


def migrate_sqlite(db: sqlite3.Connection, where: str, target: int = SCHEMA_VERSION) -> None:
    """Apply the migrations ``db`` lacks (``migrations``), in one write transaction with
    the new ``user_version``: a crash leaves the old index whole. The version is read
    again under the write lock, in case another process migrated meanwhile."""
    if not migrations.pending(_user_version(db), where, target=target):
        return
    db.execute("BEGIN IMMEDIATE")
    try:
        for migration in migrations.pending(_user_version(db), where, target=target):
            for statement in migration.statements:
                db.execute(migrations.SQLITE.render(statement))
        db.execute(f"PRAGMA user_version={int(target)}")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _user_version(db: sqlite3.Connection) -> int:
    version: int = db.execute("PRAGMA user_version").fetchone()[0]
    return version


class SqliteIndex(SqlIndex):
    """The embedded index: a SQLite file in the model directory, one registry writing.

    One connection, guarded by a lock, is shared by the service's threads: every
    statement is short, so serialising them costs less than a connection per thread.
    """

    shared = False

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        try:
            self._db.row_factory = sqlite3.Row
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            migrate_sqlite(self._db, str(path))
        except BaseException:
            self._db.close()
            raise

    def describe(self) -> str:
        return f"sqlite:{self.path}"

    def check(self) -> None:
        """sqlite3.DatabaseError unless SQLite finds every page of the index sound."""
        rows = [row[0] for row in self._db.execute("PRAGMA quick_check").fetchall()]
        if rows != ["ok"]:
            raise sqlite3.DatabaseError(f"quick_check: {'; '.join(map(str, rows[:3]))}")
        self._db.execute("SELECT count(*) FROM models").fetchone()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def close(self) -> None:
        with self._locked() as db:
            db.close()

    def name_lock(self, key: ModelKey) -> AbstractContextManager[None]:
        """Nothing beyond the store's own lock: one registry process writes a SQLite index."""
        return nullcontext()

    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        with self._locked() as db:
            rows: list[Row] = db.execute(sql, params).fetchall()
            return rows

    def _execute(self, sql: str, params: Sequence[object] = ()) -> None:
        with self._locked() as db:
            db.execute(sql, params)

    def upsert(self, record: ModelRecord, stamp: FileStamp) -> None:
        try:
            super().upsert(record, stamp)
        except sqlite3.OperationalError as exc:
            if "full" in str(exc):
                raise IndexFull(str(exc)) from exc
            raise


def open_index(path: Path, *, rebuild: bool) -> SqliteIndex:
    """The index at ``path``, checked page by page. A damaged one (garbage, half a file, a
    bad page) no longer stops the service: with ``rebuild`` (the service that owns the
    directory) it is moved aside under a timestamped name, kept for a post-mortem, and
    a fresh index is started, which the store fills again from the model files and
    their sidecars; without, it is DATA_LOSS naming the fix."""
    try:
        index = SqliteIndex(path)
        try:
            index.check()
        except BaseException:
            index.close()
            raise
        return index
    except sqlite3.DatabaseError as exc:
        why = clip(" ".join(str(exc).split()), 160)
        if not rebuild:
            raise DataLoss(
                f"the model index {path} is damaged ({why}); start the registry service, "
                f"which rebuilds it from the model files"
            ) from None
        moved = _move_aside(path)
        log.event(
            "index_damaged",
            level="error",
            index=str(path),
            moved_to=moved.name,
            why=why,
            action="moved aside; rebuilding from the model files and their sidecars",
        )
        return SqliteIndex(path)


def _move_aside(path: Path) -> Path:
    """Rename the index (and its WAL and shared-memory files) to ``*.damaged-<UTC time>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    moved = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, moved.with_name(moved.name + suffix))
    return moved


def open_model_index(directory: Path, database_url: str | None, *, rebuild: bool) -> ModelIndex:
    """The index a registry over ``directory`` uses: PostgreSQL at ``database_url`` when
    one is given (shared by every replica), else the SQLite file in the directory
    (``rebuild``: see :func:`open_index`)."""
    if database_url:
        from model_registry_service.postgres_index import PostgresIndex

        return PostgresIndex(database_url)
    return open_index(directory / INDEX_FILE_NAME, rebuild=rebuild)
