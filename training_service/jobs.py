"""Job records, their states, and the store that keeps them across restarts.

A job's record is what every RPC answers from, so it lives in one place: plain Python
objects here, persisted in SQLite (each write is one transaction: a crash leaves the
previous or the new record, never half of one). Progress figures change many times a
second and are kept in memory only; every state change is written through. On start-up
the store turns the jobs that were QUEUED, RUNNING or EVALUATING when the service died
into FAILED: their worker is gone, and saying so is better than a job that never ends.

A store found damaged when the service starts (not a database, half a file, a bad page,
a record that does not parse) does not stop the service: the file is moved aside under a
timestamped name (kept for an operator), a fresh store starts, and the fresh store
remembers that the history before it was lost, so that an unknown job id can say so.
Models are never in the store (they live in the registry and the spool), so nothing
trained is lost with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from glidepath import log
from glidepath.models import ModelKey

RESTARTED_MESSAGE = "training service restarted while the job ran; start the training again"
# Suffix of a damaged store moved aside: jobs.sqlite3.damaged-20261201T221500Z.
DAMAGED_SUFFIX = ".damaged-"


class JobState(Enum):
    """Where a job is in its life; values are the proto enum's suffixes."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    EVALUATING = "EVALUATING"
    UPLOADING = "UPLOADING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def final(self) -> bool:
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
# States whose work dies with the process: reported FAILED after a restart. UPLOADING
# survives: its model waits in the spool, which is resumed.
LOST_ON_RESTART = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.EVALUATING})


# A model's identity as de-duplication sees it: (hash, episodes, algorithm, parent's
# file name or "" from scratch). A fine-tuning never joins a training from scratch, nor
# a fine-tuning of another parent, even when their names would coincide.
JobKey = tuple[str, int, str, str]


def job_key(model: ModelKey, algorithm: str, parent: ModelKey | None) -> JobKey:
    return (model.model_hash, model.episodes, algorithm, parent.file_name if parent else "")


@dataclass
class JobRecord:
    """Everything known about one job. Mutated only under the manager's lock.

    ``evaluation`` and ``registered_model`` are serialized protobuf messages
    (``glidepath.common.v1.ModelEvaluation`` / ``ModelMetadata``): the contract's own
    encoding, stored as-is rather than mirrored field by field.
    """

    job_id: str
    model_hash: str
    episodes: int  # lives this job trains (for a fine-tuning, those it adds)
    algorithm: str
    seed: int
    created_at: float
    parent: ModelKey | None = None
    # The model's {episodes}: every life its weights saw, the parent's included
    # (glidepath.models.fine_tuned_episodes); 0 in records written before fine-tunings
    # were named so, whose models were named after ``episodes``.
    model_episodes: int = 0
    state: JobState = JobState.QUEUED
    started_at: float | None = None
    finished_at: float | None = None
    episodes_done: int = 0
    timesteps: int = 0
    mean_episode_reward: float | None = None
    training_seconds: float = 0.0
    estimated_seconds_left: float | None = None
    message: str = ""
    evaluation: bytes | None = None
    registered_model: bytes | None = None
    # Who asked for the job, one name per request that started or joined it (a name twice
    # when one user asked twice); a cancel detaches a user's requests while others remain.
    requesters: list[str] = field(default_factory=list)
    cancel_requested: bool = False

    @property
    def model(self) -> ModelKey:
        """The model this job produces: its registry key and file name."""
        return ModelKey(self.model_hash, self.model_episodes or self.episodes)

    @property
    def key(self) -> JobKey:
        """What makes two requests the same model: they join one job (deduplication)."""
        return job_key(self.model, self.algorithm, self.parent)

    @property
    def requests(self) -> int:
        return len(self.requesters)

    @property
    def owner(self) -> str:
        """The user the job trains for: its first requester still attached."""
        return self.requesters[0] if self.requesters else ""

    def elapsed_seconds(self, now: float) -> float:
        """Wall-clock seconds since the job started running; frozen once final."""
        if self.started_at is None:
            return 0.0
        end = self.finished_at if self.finished_at is not None else now
        return max(0.0, end - self.started_at)

    def to_json(self) -> str:
        data: dict[str, Any] = asdict(self)
        data["state"] = self.state.value
        data["parent"] = asdict(self.parent) if self.parent else None
        for name in ("evaluation", "registered_model"):
            value = getattr(self, name)
            data[name] = value.hex() if value is not None else None
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> JobRecord:
        data = json.loads(text)
        known = {f.name for f in fields(cls)}
        if "requesters" not in data:  # written before jobs had owners: one unnamed requester
            data["requesters"] = [""] * int(data.get("requests", 1))
        data = {k: v for k, v in data.items() if k in known}
        data["state"] = JobState(data["state"])
        data["parent"] = ModelKey(**data["parent"]) if data.get("parent") else None
        for name in ("evaluation", "registered_model"):
            value = data.get(name)
            data[name] = bytes.fromhex(value) if value is not None else None
        return cls(**data)


class StoreDamaged(Exception):
    """The job store's file cannot be read as a store of job records."""


@dataclass
class JobStore:
    """Job records in one SQLite file; thread-safe, one transaction per write.

    Opening checks the whole file (``PRAGMA quick_check`` and every record parsed); a
    damaged file is moved aside and a fresh store started (:attr:`history_lost` then
    says when, and :attr:`damaged_copy` where the old file went).
    """

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _db: sqlite3.Connection | None = field(default=None, repr=False)
    _records: list[JobRecord] = field(default_factory=list, repr=False)
    damaged_copy: Path | None = None
    history_lost: str = ""

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db, self._records = self._open()
        except StoreDamaged as exc:
            self._close_quietly()
            self.damaged_copy = self._move_aside()
            log.event(
                "job_store_damaged",
                level="error",
                message=(
                    f"job store {self.path} is damaged ({exc}); moved it to "
                    f"{self.damaged_copy} and started a fresh one: earlier jobs are unknown, "
                    "trained models are in the registry and the spool"
                ),
            )
            self._db, self._records = self._open()
            self._set_meta("history_lost", _utc_stamp(time.time(), readable=True))
        self.history_lost = self._meta("history_lost")

    def _open(self) -> tuple[sqlite3.Connection, list[JobRecord]]:
        """A connection to a sound store and its records; StoreDamaged otherwise."""
        try:
            db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        except sqlite3.DatabaseError as exc:
            raise StoreDamaged(str(exc)) from None
        self._db = db
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS jobs ("
                " job_id TEXT PRIMARY KEY, created_at REAL NOT NULL, record TEXT NOT NULL)"
            )
            db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")
            check = db.execute("PRAGMA quick_check").fetchall()
            if [tuple(row) for row in check] != [("ok",)]:
                raise StoreDamaged(f"integrity check: {str(check[0][0])[:120]}")
            rows = db.execute("SELECT record FROM jobs ORDER BY created_at, job_id").fetchall()
            records = [JobRecord.from_json(row[0]) for row in rows]
        except StoreDamaged:
            raise
        except (sqlite3.DatabaseError, ValueError, KeyError, TypeError) as exc:
            raise StoreDamaged(f"{type(exc).__name__}: {str(exc)[:120]}") from None
        return db, records

    def _close_quietly(self) -> None:
        if self._db is not None:
            with contextlib.suppress(sqlite3.Error):
                self._db.close()
            self._db = None

    def _move_aside(self) -> Path:
        """Rename the damaged file (and its WAL and shared-memory files) out of the way."""
        stamp = _utc_stamp(time.time())
        target = self.path.with_name(f"{self.path.name}{DAMAGED_SUFFIX}{stamp}")
        number = 1
        while target.exists():
            number += 1
            target = self.path.with_name(f"{self.path.name}{DAMAGED_SUFFIX}{stamp}-{number}")
        for suffix in ("-wal", "-shm"):
            companion = self.path.with_name(self.path.name + suffix)
            if companion.exists():
                os.replace(companion, target.with_name(target.name + suffix))
        os.replace(self.path, target)
        return target

    def _meta(self, name: str) -> str:
        with self._lock:
            row = self.db.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return str(row[0]) if row else ""

    def _set_meta(self, name: str, value: str) -> None:
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", (name, value)
            )

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise RuntimeError("job store is closed")
        return self._db

    def save(self, record: JobRecord) -> None:
        with self._lock:
            self.db.execute(
                "INSERT OR REPLACE INTO jobs (job_id, created_at, record) VALUES (?, ?, ?)",
                (record.job_id, record.created_at, record.to_json()),
            )

    def delete(self, job_ids: list[str]) -> None:
        with self._lock:
            self.db.executemany("DELETE FROM jobs WHERE job_id = ?", [(j,) for j in job_ids])

    def load_all(self) -> list[JobRecord]:
        """Every record, oldest first."""
        with self._lock:
            rows = self.db.execute("SELECT record FROM jobs ORDER BY created_at, job_id").fetchall()
        return [JobRecord.from_json(row[0]) for row in rows]

    def recover(self, now: float) -> list[JobRecord]:
        """The records read at opening, failing those whose work died with the previous
        process."""
        records, self._records = self._records, []
        for record in records:
            if record.state in LOST_ON_RESTART:
                record.state = JobState.FAILED
                record.message = RESTARTED_MESSAGE
                record.finished_at = now
                record.estimated_seconds_left = None
                self.save(record)
        return records

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None


def _utc_stamp(seconds: float, *, readable: bool = False) -> str:
    layout = "%Y-%m-%d %H:%M:%S UTC" if readable else "%Y%m%dT%H%M%SZ"
    return time.strftime(layout, time.gmtime(seconds))
