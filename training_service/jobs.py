"""Job records, their states, and the store that keeps them across restarts.

A job's record is what every RPC answers from, so it lives in one place: plain Python
objects here, persisted in SQLite (each write is one transaction: a crash leaves the
previous or the new record, never half of one). Progress figures change many times a
second and are kept in memory only; every state change is written through. On start-up
the store turns the jobs that were QUEUED, RUNNING or EVALUATING when the service died
into FAILED: their worker is gone, and saying so is better than a job that never ends.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from pathlib import Path
from typing import Any

from glidepath.models import ModelKey

RESTARTED_MESSAGE = "training service restarted while the job ran; start the training again"


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


@dataclass
class JobRecord:
    """Everything known about one job. Mutated only under the manager's lock.

    ``evaluation`` and ``registered_model`` are serialized protobuf messages
    (``glidepath.common.v1.ModelEvaluation`` / ``ModelMetadata``): the contract's own
    encoding, stored as-is rather than mirrored field by field.
    """

    job_id: str
    model_hash: str
    episodes: int
    algorithm: str
    seed: int
    created_at: float
    parent: ModelKey | None = None
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
    requests: int = 1
    cancel_requested: bool = False

    @property
    def key(self) -> tuple[str, int, str]:
        """What makes two requests the same model: they join one job (deduplication)."""
        return (self.model_hash, self.episodes, self.algorithm)

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
        data = {k: v for k, v in data.items() if k in known}
        data["state"] = JobState(data["state"])
        data["parent"] = ModelKey(**data["parent"]) if data.get("parent") else None
        for name in ("evaluation", "registered_model"):
            value = data.get(name)
            data[name] = bytes.fromhex(value) if value is not None else None
        return cls(**data)


@dataclass
class JobStore:
    """Job records in one SQLite file; thread-safe, one transaction per write."""

    path: Path
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _db: sqlite3.Connection | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS jobs ("
            " job_id TEXT PRIMARY KEY, created_at REAL NOT NULL, record TEXT NOT NULL)"
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
        """Load every record, failing those whose work died with the previous process."""
        records = self.load_all()
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
