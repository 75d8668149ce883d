"""Trained models waiting to reach the registry, on disk, retried until they land.

Every trained model goes through the spool: it is written here first (atomically: a
scratch folder, fsync, one rename), then uploaded; the entry is deleted only once the
registry has it. So a registry that is down, slow or full, or a service that dies in the
middle of an upload, loses nothing: a background thread retries with exponential
backoff (``initial`` doubling up to ``maximum`` seconds), and a restarted service
resumes every entry it finds. A model the registry refuses for good (a different model
already stored under its name, an invalid file) is moved to ``rejected/`` for an
operator, never deleted.

Layout: ``<dir>/<job_id>/model.zip``, ``<dir>/<job_id>/metadata.binpb`` (a serialized
``glidepath.registry.v1.UploadModelMetadata``) and ``<dir>/<job_id>/owner`` (the user the
model is uploaded for, UTF-8; absent in entries written before jobs had owners: uploaded
as the service itself); ``<dir>/rejected/<job_id>/`` likewise. The owner lives beside
the model, not only in the job store, so a lost job store loses no model's owner.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import traceback
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from glidepath import log
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2
from training_service.registry import UploadFailed

MODEL_FILE = "model.zip"
METADATA_FILE = "metadata.binpb"
OWNER_FILE = "owner"
REJECTED_DIR = "rejected"
INCOMING_PREFIX = ".incoming-"

# (model file, its metadata, the owner it is uploaded for: "" = the service) -> stored.
Upload = Callable[[Path, registry_pb2.UploadModelMetadata, str], model_pb2.ModelMetadata]


def _write_synced(path: Path, data: bytes) -> None:
    with path.open("wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class _Retry:
    next_attempt: float
    delay: float


@dataclass
class Spool:
    """The spool folder and its retry thread; callbacks run on that thread."""

    directory: Path
    upload: Upload
    on_landed: Callable[[str, model_pb2.ModelMetadata], None]
    on_waiting: Callable[[str, str], None]
    on_rejected: Callable[[str, str], None]
    initial_delay: float = 1.0
    max_delay: float = 60.0
    _retries: dict[str, _Retry] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _wake: threading.Event = field(default_factory=threading.Event)
    _stopping: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def __post_init__(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for leftover in self.directory.glob(f"{INCOMING_PREFIX}*"):
            shutil.rmtree(leftover, ignore_errors=True)  # a write that never completed

    def job_ids(self) -> list[str]:
        """Jobs whose model waits in the spool."""
        return sorted(
            p.name
            for p in self.directory.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name != REJECTED_DIR
        )

    def has(self, job_id: str) -> bool:
        return (self.directory / job_id / METADATA_FILE).is_file()

    def put(
        self,
        job_id: str,
        model_zip: bytes,
        metadata: registry_pb2.UploadModelMetadata,
        *,
        owner: str = "",
    ) -> None:
        """Keep a trained model safely on disk, then have it uploaded for ``owner`` as soon
        as possible."""
        scratch = self.directory / f"{INCOMING_PREFIX}{job_id}-{uuid.uuid4().hex[:8]}"
        scratch.mkdir()
        try:
            _write_synced(scratch / MODEL_FILE, model_zip)
            _write_synced(scratch / METADATA_FILE, metadata.SerializeToString(deterministic=True))
            if owner:
                _write_synced(scratch / OWNER_FILE, owner.encode())
            _fsync_dir(scratch)
            os.replace(scratch, self.directory / job_id)
            _fsync_dir(self.directory)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        self._schedule(job_id, time.monotonic(), self.initial_delay)

    def start(self) -> None:
        """Resume every entry left by a previous run, then serve new ones."""
        now = time.monotonic()
        for job_id in self.job_ids():
            self._schedule(job_id, now, self.initial_delay)
        self._thread = threading.Thread(target=self._run, name="spool", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _schedule(self, job_id: str, when: float, delay: float) -> None:
        with self._lock:
            self._retries[job_id] = _Retry(next_attempt=when, delay=delay)
        self._wake.set()

    def _due(self) -> tuple[list[str], float]:
        """Entries due now, and how long to sleep until the next one."""
        now = time.monotonic()
        with self._lock:
            due = [j for j, r in self._retries.items() if r.next_attempt <= now]
            later = [r.next_attempt - now for r in self._retries.values() if r.next_attempt > now]
        return sorted(due), min(later, default=3600.0)

    def _run(self) -> None:
        while not self._stopping.is_set():
            due, sleep = self._due()
            for job_id in due:
                if self._stopping.is_set():
                    return
                self._attempt(job_id)
            if not due:
                self._wake.wait(timeout=sleep)
                self._wake.clear()

    def _attempt(self, job_id: str) -> None:
        entry = self.directory / job_id
        try:
            metadata = registry_pb2.UploadModelMetadata.FromString(
                (entry / METADATA_FILE).read_bytes()
            )
            owner_file = entry / OWNER_FILE
            owner = owner_file.read_text(encoding="utf-8") if owner_file.is_file() else ""
            stored = self.upload(entry / MODEL_FILE, metadata, owner)
        except UploadFailed as exc:
            if exc.transient:
                self._back_off(job_id, exc.message)
            else:
                self._reject(job_id, exc.message)
            return
        except Exception as exc:  # a bug or an unreadable entry: keep it, retry later
            log.event("spool_error", level="error", job=job_id, traceback=traceback.format_exc())
            self._back_off(job_id, f"{type(exc).__name__}: {exc}")
            return
        with self._lock:
            self._retries.pop(job_id, None)
        self._notify(self.on_landed, job_id, stored)
        shutil.rmtree(entry, ignore_errors=True)
        log.event("spool_landed", job=job_id, file=stored.file_name)

    def _back_off(self, job_id: str, reason: str) -> None:
        with self._lock:
            retry = self._retries.get(job_id)
            delay = retry.delay if retry else self.initial_delay
            self._retries[job_id] = _Retry(
                next_attempt=time.monotonic() + delay, delay=min(delay * 2, self.max_delay)
            )
        message = f"registry unreachable, model kept in spool, retrying in {delay:.3g} s ({reason})"
        log.event("spool_retry", level="warning", job=job_id, delay_s=delay, reason=reason)
        self._notify(self.on_waiting, job_id, message)

    def _reject(self, job_id: str, reason: str) -> None:
        with self._lock:
            self._retries.pop(job_id, None)
        rejected = self.directory / REJECTED_DIR
        rejected.mkdir(exist_ok=True)
        target = rejected / job_id
        shutil.rmtree(target, ignore_errors=True)
        os.replace(self.directory / job_id, target)
        log.event("spool_rejected", level="error", job=job_id, reason=reason)
        self._notify(self.on_rejected, job_id, f"{reason} (model kept at {target})")

    @staticmethod
    def _notify(callback: Callable[..., None], *args: object) -> None:
        try:
            callback(*args)
        except Exception:
            log.event("spool_callback_error", level="error", traceback=traceback.format_exc())
