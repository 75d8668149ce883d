"""The metadata index: one SQLite table beside the model files.

SQLite from the standard library is enough for thousands of models and keeps the
registry a single directory to back up. WAL mode lets other processes (the
``model_storage`` functions, an operator's sqlite3 shell) read while the service
writes. One connection, guarded by a lock, is shared by the service's threads: every
statement is short, so serialising them costs less than a connection per thread.

The index is not the truth about which models exist (the directory is, see
``storage``); it records what cannot be read from a file name: checksum, times,
provenance and evaluation. ``size_bytes`` and ``mtime_ns`` remember what the file looked
like when its checksum was taken, so a file changed by hand is noticed.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from glidepath import log
from glidepath.errors import DataLoss
from glidepath.models import PROFILE_KIND
from glidepath.text import clip
from model_registry_service.naming import ModelKey
from model_registry_service.records import (
    ModelDetails,
    ModelRecord,
    Origin,
    Quarantine,
    Visibility,
)

# Version 2 added owner, visibility, the declared evaluation and the quarantine; an
# index of version 1 is migrated in place when opened (its rows: owner "", SHARED).
# Version 3 added the model's identity beyond its name (kind, episodes added, policy
# family and layout version); older rows get "" and 0, read as "unknown".
# Version 4 added the label people know the model by and the household's feature vector
# (older rows: "", no features: never a near match).
SCHEMA_VERSION = 4

_SCHEMA = """
CREATE TABLE IF NOT EXISTS models (
    model_hash TEXT NOT NULL,
    episodes INTEGER NOT NULL,
    size_bytes INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    created_at_us INTEGER NOT NULL,
    origin TEXT NOT NULL,
    algorithm TEXT NOT NULL,
    library_versions_json TEXT NOT NULL,
    evaluation_score REAL,
    evaluation_json TEXT NOT NULL,
    canonical_parameters_json TEXT NOT NULL,
    parent_hash TEXT,
    parent_episodes INTEGER,
    timesteps INTEGER NOT NULL,
    hyperparameters_json TEXT NOT NULL,
    training_seconds REAL NOT NULL,
    owner TEXT NOT NULL DEFAULT '',
    visibility TEXT NOT NULL DEFAULT 'SHARED',
    declared_score REAL,
    declared_json TEXT NOT NULL DEFAULT '',
    quarantine_reason TEXT NOT NULL DEFAULT '',
    quarantined_at_us INTEGER,
    kind TEXT NOT NULL DEFAULT '',
    episodes_added INTEGER NOT NULL DEFAULT 0,
    policy_family TEXT NOT NULL DEFAULT '',
    policy_layout_version INTEGER NOT NULL DEFAULT 0,
    label TEXT NOT NULL DEFAULT '',
    features_json TEXT NOT NULL DEFAULT '',
    features_version INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (model_hash, episodes)
);
CREATE INDEX IF NOT EXISTS models_newest_first
    ON models (created_at_us DESC, model_hash, episodes);
"""
# Columns added after version 1, with the definition ALTER TABLE gives them.
_ADDED_COLUMNS = (
    ("owner", "TEXT NOT NULL DEFAULT ''"),
    ("visibility", "TEXT NOT NULL DEFAULT 'SHARED'"),
    ("declared_score", "REAL"),
    ("declared_json", "TEXT NOT NULL DEFAULT ''"),
    ("quarantine_reason", "TEXT NOT NULL DEFAULT ''"),
    ("quarantined_at_us", "INTEGER"),
    ("kind", "TEXT NOT NULL DEFAULT ''"),
    ("episodes_added", "INTEGER NOT NULL DEFAULT 0"),
    ("policy_family", "TEXT NOT NULL DEFAULT ''"),
    ("policy_layout_version", "INTEGER NOT NULL DEFAULT 0"),
    ("label", "TEXT NOT NULL DEFAULT ''"),
    ("features_json", "TEXT NOT NULL DEFAULT ''"),
    ("features_version", "INTEGER NOT NULL DEFAULT 0"),
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


def _record(row: sqlite3.Row) -> ModelRecord:
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


class ModelIndex:
    """Rows keyed by (model_hash, episodes); every method is one short statement."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(
            str(path), check_same_thread=False, isolation_level=None, timeout=10.0
        )
        try:
            self._prepare()
        except BaseException:
            self._db.close()
            raise

    def _prepare(self) -> None:
        path = self.path
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        version = self._db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"{path}: index schema version {version} is newer than this registry "
                f"understands ({SCHEMA_VERSION})"
            )
        self._db.executescript(_SCHEMA)
        if version != SCHEMA_VERSION:
            self._migrate()

    def _migrate(self) -> None:
        """Add the columns an older index lacks (its rows get their defaults), in one
        transaction with the new version number: a crash leaves the old index whole."""
        present = {row["name"] for row in self._db.execute("PRAGMA table_info(models)")}
        self._db.execute("BEGIN IMMEDIATE")
        try:
            for name, definition in _ADDED_COLUMNS:
                if name not in present:
                    self._db.execute(f"ALTER TABLE models ADD COLUMN {name} {definition}")
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

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

    def upsert(self, record: ModelRecord, stamp: FileStamp) -> None:
        placeholders = ", ".join("?" * len(_COLUMNS.split(",")))
        with self._locked() as db:
            db.execute(
                f"INSERT OR REPLACE INTO models ({_COLUMNS}) VALUES ({placeholders})",
                _row_values(record, stamp),
            )

    def get(self, key: ModelKey) -> ModelRecord | None:
        with self._locked() as db:
            row = db.execute(
                "SELECT * FROM models WHERE model_hash = ? AND episodes = ?",
                (key.model_hash, key.episodes),
            ).fetchone()
        return None if row is None else _record(row)

    def delete(self, key: ModelKey) -> None:
        with self._locked() as db:
            db.execute(
                "DELETE FROM models WHERE model_hash = ? AND episodes = ?",
                (key.model_hash, key.episodes),
            )

    def stamps(self) -> dict[ModelKey, FileStamp]:
        with self._locked() as db:
            rows = db.execute("SELECT model_hash, episodes, size_bytes, mtime_ns FROM models")
            return {ModelKey(h, e): FileStamp(size, mtime) for h, e, size, mtime in rows.fetchall()}

    def update_stamp(self, key: ModelKey, stamp: FileStamp) -> None:
        with self._locked() as db:
            db.execute(
                "UPDATE models SET size_bytes = ?, mtime_ns = ? "
                "WHERE model_hash = ? AND episodes = ?",
                (stamp.size, stamp.mtime_ns, key.model_hash, key.episodes),
            )

    def set_created_at(self, key: ModelKey, created_at: datetime) -> None:
        """Re-date a model (operators, tests and benchmarks; ages drive cleanup and ranking)."""
        with self._locked() as db:
            db.execute(
                "UPDATE models SET created_at_us = ? WHERE model_hash = ? AND episodes = ?",
                (to_micros(created_at), key.model_hash, key.episodes),
            )

    def all(self) -> list[ModelRecord]:
        with self._locked() as db:
            rows = db.execute(f"SELECT * FROM models {_NEWEST_FIRST}").fetchall()
        return [_record(r) for r in rows]

    def with_features(self, version: int) -> list[ModelRecord]:
        """Rows with a feature vector of ``version`` (the only ones a near search reads)."""
        with self._locked() as db:
            rows = db.execute(
                f"SELECT * FROM models WHERE features_version = ? AND features_json != '' "
                f"{_NEWEST_FIRST}",
                (version,),
            ).fetchall()
        return [_record(r) for r in rows]

    def for_hash(self, model_hash: str) -> list[ModelRecord]:
        with self._locked() as db:
            rows = db.execute(
                f"SELECT * FROM models WHERE model_hash = ? {_NEWEST_FIRST}", (model_hash,)
            ).fetchall()
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
        with self._locked() as db:
            rows = db.execute(
                f"SELECT * FROM models {where} {_NEWEST_FIRST} LIMIT ?", (*params, limit)
            ).fetchall()
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
        with self._locked() as db:
            rows = db.execute(
                f"SELECT * FROM models WHERE {where} {_NEWEST_FIRST}", params
            ).fetchall()
        return [_record(r) for r in rows]


def open_index(path: Path, *, rebuild: bool) -> ModelIndex:
    """The index at ``path``, checked page by page. A damaged one (garbage, half a file, a
    bad page) no longer stops the service: with ``rebuild`` (the service that owns the
    directory) it is moved aside under a timestamped name, kept for a post-mortem, and
    a fresh index is started, which the store fills again from the model files and
    their sidecars; without, it is DATA_LOSS naming the fix."""
    try:
        index = ModelIndex(path)
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
        return ModelIndex(path)


def _move_aside(path: Path) -> Path:
    """Rename the index (and its WAL and shared-memory files) to ``*.damaged-<UTC time>``."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    moved = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        source = path.with_name(path.name + suffix)
        if source.exists():
            os.replace(source, moved.with_name(moved.name + suffix))
    return moved
