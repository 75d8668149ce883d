"""The model directory and its index, kept consistent: atomic writes, the directory as truth.

Writing: the bytes go to a temp file in the same directory (``.upload-*.tmp``, a name no
model glob matches), hashed while written, fsynced, checked against the declaration,
validated as an SB3 zip and then as a consumer loads it (``weights``: the trusted
layout, finite weights, finite actions); then, under the store's lock, the model's
sidecar (``sidecar``: what cannot be recomputed, written atomically) is put in place,
the temp file hard-linked to the final name (``os.link`` fails if the name exists, so
nothing is ever overwritten and two uploads of one name end with exactly one file), the
directory fsynced, and the index row written. A failure anywhere removes the temp file
and the sidecar: no partial model is ever visible.

Reading: every lookup first reconciles the directory's names with the index, under the
lock but without reading any file: a correctly named file the index does not know (or
whose size or mtime changed) becomes *pending*; an index row whose file vanished is
dropped. Pending files are adopted outside the lock: hashed, validated like an upload,
and described by their sidecar when it names their bytes (a model whose index was lost
comes back whole), else as a hand-dropped file (origin ADOPTED, no owner, shared,
created_at from its mtime). A lookup adopts only the pending files of its own hash (a
listing of every hash, or a cleanup, all of them: they must be complete); the owner's
background ``Adopter`` does the rest, so thousands of files dropped in at once never make
a lookup of another model wait. A file
that fails is remembered by (size, mtime), logged once and skipped until it changes.

To keep a lookup cheap with thousands of files, the scan is skipped while the
directory's own mtime is unchanged (files added, removed or renamed change it) and old
enough to be trusted at the file system's timestamp granularity; otherwise a light scan
reads names only and stats just the new ones. A deep scan (every file stat-ed) runs
every ``RESCAN_SECONDS`` to notice a file rewritten in place.

With the SQLite index, one process owns a directory for writing (one registry service,
``owner=True``); the module-level functions of ``model_storage`` may run beside it. At
start-up the owner removes every ``.upload-*.tmp`` file: no upload can be in flight
before it serves, so any temp file there was left by a registry that died mid-upload
(SIGKILL, power loss). A non-owner store only removes temp files older than
``STALE_TEMP_SECONDS``, since a younger one may be the running service's upload in
progress. Temp names never match the model pattern, so no listing or lookup ever shows
one either way. The owner also rebuilds a damaged index (``index.open_index``): moved
aside, refilled by adoption.

With a shared index (``ModelIndex.shared``: PostgreSQL behind several replicas over one
directory), every replica is an owner but none is alone: each sweeps only the old temp
files, and each change to a model's name (install, delete, adoption's outcome, a
sidecar rewrite, dropping the row of a vanished file) happens under the index's name
lock as well as the store's own lock, so another replica sees it whole or not at all.
A replica trusts a row another wrote when the file still has the stamp that row
recorded, so it does not hash the other's uploads again.

The directory is reached only here and in ``sidecar``, through a few operations: write
a temp file, give it its final name unless taken (``_link``), open, stat, list, unlink;
the checks (``zipcheck``, ``weights``) read the local temp file before it is named. An
object store (the S3 API: a put conditional on ``If-None-Match: *``, ``GetObject``,
``ListObjectsV2``, ``DeleteObject``) offers each of these, with the ETag as the stamp;
those operations are the seam for one, which is not built.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import dataclasses
import errno
import hashlib
import json
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from glidepath import log
from glidepath.auth import User
from glidepath.errors import (
    AlreadyExists,
    DataLoss,
    FailedPrecondition,
    GlidepathError,
    InvalidArgument,
    NotFound,
    ResourceExhausted,
)
from glidepath.text import clip
from model_registry_service import ranking, sidecar, validation, weights, zipcheck
from model_registry_service.index import (
    Cursor,
    FileStamp,
    IndexFull,
    ListFilter,
    ModelIndex,
    from_micros,
    open_index,
    to_micros,
)
from model_registry_service.naming import (
    INDEX_FILE_NAME,
    TEMP_PREFIX,
    TEMP_SUFFIX,
    ModelKey,
    parse_model_file_name,
)
from model_registry_service.records import (
    ModelRecord,
    Origin,
    Page,
    PutResult,
    Quarantine,
    UploadDeclaration,
    Visibility,
)

# A directory mtime this much older than our last scan can be trusted not to hide a
# later change. File systems with sub-second timestamps (ext4, xfs, btrfs, tmpfs) tick
# at most every 10 ms; those with whole-second mtimes (FAT: 2 s) need a wider window.
RACY_SECONDS_FINE = 0.05
RACY_SECONDS_COARSE = 2.0
RESCAN_SECONDS = 5.0
# Temp files older than this belong to an upload that died, even with a service running.
STALE_TEMP_SECONDS = 3600.0
# How many passed checks are remembered (64 bytes each) before the memory starts over.
MAX_REMEMBERED_PASSES = 100_000
_HASH_BLOCK = 1024 * 1024
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


def utc_now() -> datetime:
    return datetime.now(UTC)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _stamp(st: os.stat_result) -> FileStamp:
    return FileStamp(st.st_size, st.st_mtime_ns)


def _racy_window_ns(mtime_ns: int) -> float:
    """Whole-second mtimes betray a coarse file system clock: trust them only later."""
    coarse = mtime_ns % 1_000_000_000 == 0
    return (RACY_SECONDS_COARSE if coarse else RACY_SECONDS_FINE) * 1e9


def _write_all(fd: int, data: bytes) -> None:
    """os.write until every byte is down (a seam the disk-full test can replace)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()


def _disk_full(directory: Path) -> ResourceExhausted:
    return ResourceExhausted(
        f"the disk holding {directory} is full; the upload was discarded and existing "
        f"models are intact",
        reason="DISK_FULL",
    )


def encode_page_token(model_hash: str | None, cursor: Cursor) -> str:
    payload = {
        "h": model_hash or "",
        "t": cursor.created_at_us,
        "k": [cursor.key.model_hash, cursor.key.episodes],
    }
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode()


def decode_page_token(token: str, model_hash: str | None) -> Cursor:
    """The cursor a token carries; InvalidArgument(page_token) when forged or mismatched."""
    try:
        payload = json.loads(base64.urlsafe_b64decode(token.encode()))
        cursor = Cursor(int(payload["t"]), ModelKey(str(payload["k"][0]), int(payload["k"][1])))
        token_hash = str(payload["h"])
        # A forged cursor must not reach SQLite with integers it cannot hold.
        in_range = _INT64_MIN <= cursor.created_at_us <= _INT64_MAX
        if not (in_range and 0 <= cursor.key.episodes <= _INT64_MAX):
            raise ValueError("cursor out of range")
    except (ValueError, KeyError, IndexError, TypeError, OverflowError, binascii.Error):
        raise InvalidArgument.field("page_token", "not a token this registry returned") from None
    if token_hash != (model_hash or ""):
        raise InvalidArgument.field("page_token", "was returned for a different model_hash filter")
    return cursor


class ModelStore:
    """The model directory plus its index; thread-safe; raises glidepath.errors only."""

    def __init__(
        self,
        directory: Path,
        *,
        max_bytes: int,
        index: ModelIndex | None = None,
        clock: Callable[[], datetime] = utc_now,
        owner: bool = False,
        check_model: Callable[[Path], None] | None = weights.check_model_file,
    ) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._clock = clock
        self._check_model = check_model
        # SHA-256 of bytes that passed the consumer check: the same bytes always give the
        # same verdict, so copies (an operator's hard links) are checked once.
        self._passed: set[str] = set()
        directory.mkdir(parents=True, exist_ok=True)
        # The store closes the index it is given. None: the SQLite file in the directory.
        self.index: ModelIndex = (
            index if index is not None else open_index(directory / INDEX_FILE_NAME, rebuild=owner)
        )
        self._lock = threading.RLock()
        # file name -> what the file looked like when its index row was last confirmed
        self._known: dict[str, FileStamp] = {
            key.file_name: stamp for key, stamp in self.index.stamps().items()
        }
        self._rejected: dict[str, FileStamp] = {}
        # Files seen but not yet adopted (or re-checked), by hash: name -> stamp.
        self._pending: dict[str, dict[str, FileStamp]] = {}
        # Files being adopted right now: name -> set when that adoption is done.
        self._adopting: dict[str, threading.Event] = {}
        self._dir_signature: tuple[int, int] | None = None
        self._scanned_at_ns = 0
        self._deep_scanned_at_ns = 0
        self._adopter: Adopter | None = None
        # Beside other replicas (a shared index), a young temp file may be one's upload.
        self._sweep_stale_temps(everything=owner and not self.index.shared)
        if owner:
            self._adopter = Adopter(self)
            self._adopter.start()

    def close(self) -> None:
        if self._adopter is not None:
            self._adopter.stop()
        self.index.close()

    # -- reconciliation ---------------------------------------------------------------

    def _sweep_stale_temps(self, *, everything: bool) -> None:
        """Remove dead uploads' temp files: all of them for the owner, else the old ones."""
        cutoff = float("inf") if everything else time.time() - STALE_TEMP_SECONDS
        with os.scandir(self.directory) as entries:
            for entry in entries:
                if entry.name.startswith(TEMP_PREFIX) and entry.name.endswith(TEMP_SUFFIX):
                    try:
                        if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                            os.unlink(entry.path)
                            log.event("stale_temp_removed", file=entry.name)
                    except FileNotFoundError:
                        pass

    def refresh(self, *, force: bool = False) -> None:
        """Bring the index in line with the directory's names (see the module docstring);
        new or changed files become pending, adopted by :meth:`settle` or the adopter."""
        with self._lock:
            dir_stat = os.stat(self.directory)
            signature = (dir_stat.st_mtime_ns, dir_stat.st_ino)
            now_ns = time.time_ns()
            deep = force or now_ns - self._deep_scanned_at_ns >= RESCAN_SECONDS * 1e9
            trusted = signature == self._dir_signature and self._scanned_at_ns - signature[
                0
            ] > _racy_window_ns(signature[0])
            if trusted and not deep:
                return
            self._scan(deep)
            self._dir_signature = signature
            self._scanned_at_ns = now_ns
            if deep:
                self._deep_scanned_at_ns = now_ns
            if self._pending and self._adopter is not None:
                self._adopter.wake()

    def _scan(self, deep: bool) -> None:
        """List the model files; stat the new ones, or every one when ``deep``.

        The light scan only reads names (file types come with them), so adding or removing
        files costs about a millisecond per thousand models; the deep scan also notices a
        file rewritten in place. Work is done on names (plain strings) for speed. Nothing
        here reads a file's bytes: that is adoption's work, done outside the lock.
        """
        known = self._known
        seen: set[str] = set()
        to_check: dict[str, FileStamp] = {}
        with os.scandir(self.directory) as entries:
            for entry in entries:
                name = entry.name
                if name not in known and parse_model_file_name(name) is None:
                    continue
                if not entry.is_file(follow_symlinks=False):
                    continue
                seen.add(name)
                if name in known and not deep:
                    continue  # assumed unchanged until the next deep scan
                try:
                    to_check[name] = _stamp(entry.stat(follow_symlinks=False))
                except FileNotFoundError:
                    seen.discard(name)
        for name in known.keys() - seen:
            key = parse_model_file_name(name)
            if key is not None:
                self._forget_vanished(key)
            del known[name]
            log.event("model_vanished", file=name)
        for model_hash in list(self._pending):
            waiting = self._pending[model_hash]
            for name in waiting.keys() - seen:
                del waiting[name]
            if not waiting:
                del self._pending[model_hash]
        for name, file_stamp in to_check.items():
            if known.get(name) == file_stamp or self._rejected.get(name) == file_stamp:
                continue
            if name in self._adopting:  # its adopter re-checks the stamp when done
                continue
            key = parse_model_file_name(name)
            if key is not None:
                self._pending.setdefault(key.model_hash, {})[name] = file_stamp
        if self._rejected:
            self._rejected = {n: s for n, s in self._rejected.items() if n in seen}

    def _forget_vanished(self, key: ModelKey) -> None:
        """Drop the row of a file gone from the listing, unless (a shared index) another
        replica stored that name again meanwhile: looked at under the name lock."""
        with self.index.name_lock(key):
            if not os.path.lexists(self.directory / key.file_name):
                self.index.delete(key)

    def settle(self, model_hash: str | None = None, name: str | None = None) -> int:
        """Adopt the pending files of one file name, one hash, or (both None) all; how
        many this call adopted or rejected. Hashing and validating happen outside the
        store's lock, so lookups of other models go on meanwhile; a file another thread
        is adopting is waited for, never adopted twice."""
        done = 0
        while True:
            claim = self._claim(model_hash, name)
            if claim is None:
                return done
            if isinstance(claim, threading.Event):
                claim.wait()
                continue
            file_name, file_stamp = claim
            try:
                self._absorb(file_name, file_stamp)
                done += 1
            finally:
                with self._lock:
                    self._adopting.pop(file_name).set()

    def settle_one(self) -> int:
        """Adopt one pending file (the adopter's step, so it can stop between files);
        1 when there was one, else 0."""
        claim = self._claim(None, None)
        if claim is None or isinstance(claim, threading.Event):
            return 0
        file_name, file_stamp = claim
        try:
            self._absorb(file_name, file_stamp)
        finally:
            with self._lock:
                self._adopting.pop(file_name).set()
        return 1

    def _claim(
        self, model_hash: str | None, name: str | None
    ) -> tuple[str, FileStamp] | threading.Event | None:
        """The next pending file to adopt (now ours), an adoption to wait for, or None."""
        with self._lock:
            if name is not None:
                key = parse_model_file_name(name)
                waiting = self._pending.get(key.model_hash) if key is not None else None
                if key is not None and waiting is not None and name in waiting:
                    return self._take(key.model_hash, waiting, name)
                return self._adopting.get(name)
            if model_hash is None:
                pools = self._pending.items()
            else:
                pools = (
                    {model_hash: self._pending[model_hash]}.items()
                    if (model_hash in self._pending)
                    else {}.items()
                )
            for h, waiting in pools:
                return self._take(h, waiting, next(iter(waiting)))
            prefix = f"rl_model_{model_hash}_" if model_hash is not None else ""
            return next((e for n, e in self._adopting.items() if n.startswith(prefix)), None)

    def _take(
        self, model_hash: str, waiting: dict[str, FileStamp], name: str
    ) -> tuple[str, FileStamp]:
        """Move ``name`` from pending to being adopted (under the lock)."""
        file_stamp = waiting.pop(name)
        if not waiting:
            del self._pending[model_hash]
        self._adopting[name] = threading.Event()
        return name, file_stamp

    def _absorb(self, name: str, file_stamp: FileStamp) -> None:
        """A file the index does not describe as it is now: adopt, re-stamp or reject it.

        Runs without the store's lock (it reads, hashes and runs the file); only its
        outcome is written under the lock, and only if the file is still as it was."""
        key = parse_model_file_name(name)
        if key is None:
            return
        path = self.directory / name
        existing = self.index.get(key)
        described: ModelRecord | None = None
        if existing is not None and self.index.stamp(key) == file_stamp:
            # Its row was written for this very file (by another replica of a shared index,
            # or before this store started): trusted as the store trusts its own rows.
            digest = existing.sha256
        else:
            try:
                digest = sha256_of(path)
                if existing is None or existing.sha256 != digest:
                    zipcheck.validate_model_zip(path, self.max_bytes)
                    described = sidecar.read(self.directory, key, digest)
                    # A sidecar naming these very bytes was written when they passed the
                    # consumer check on upload: a rebuild need not run thousands again.
                    if described is None:
                        self._run_check(path, digest)
            except GlidepathError as exc:
                self._reject(key, file_stamp, exc.message)
                return
            except FileNotFoundError:
                return
            except OSError as exc:  # unreadable (permissions, I/O error): skipped like a bad file
                self._reject(key, file_stamp, f"cannot be read: {clip(str(exc), 120)}")
                return
        with self._lock, self.index.name_lock(key):
            try:
                if _stamp(os.stat(path)) != file_stamp:
                    # Changed meanwhile: look again at the next scan.
                    self._pending.setdefault(key.model_hash, {})[name] = _stamp(os.stat(path))
                    return
            except FileNotFoundError:
                return
            # Read again under the name lock: another replica may have written it meanwhile.
            current = self.index.get(key)
            if current is not None and current.sha256 == digest:
                if self.index.stamp(key) != file_stamp:
                    self.index.update_stamp(key, file_stamp)
            else:
                record = described or sidecar.read(self.directory, key, digest)
                record = record or ModelRecord(
                    key=key,
                    size_bytes=file_stamp.size,
                    sha256=digest,
                    created_at=from_micros(file_stamp.mtime_ns // 1000),
                    origin=Origin.ADOPTED,
                )
                self.index.upsert(record, file_stamp)
                restored = record.origin is not Origin.ADOPTED or bool(record.owner)
                log.event(
                    "model_restored" if restored else "model_adopted", file=name, sha256=digest
                )
            self._known[name] = file_stamp

    def _run_check(self, path: Path, digest: str) -> None:
        """The consumer check of ``path`` (whose SHA-256 is ``digest``), once per bytes."""
        if self._check_model is None or digest in self._passed:
            return
        self._check_model(path)
        with self._lock:
            if len(self._passed) >= MAX_REMEMBERED_PASSES:
                self._passed.clear()
            self._passed.add(digest)

    def _reject(self, key: ModelKey, file_stamp: FileStamp, why: str) -> None:
        """A file that is not a usable model: skipped (logged once) until it changes."""
        log.event("model_file_ignored", level="warning", file=key.file_name, why=why)
        with self._lock:
            self._rejected[key.file_name] = file_stamp
            if key.file_name in self._known:
                self.index.delete(key)
                del self._known[key.file_name]

    def backfill_sidecars(self) -> int:
        """Write the sidecar of every indexed model that lacks one (models stored before
        sidecars existed), so that a later loss of the index loses nothing; how many."""
        written = 0
        for record in self.index.all():
            path = self.directory / sidecar.sidecar_name(record.key)
            if path.exists():
                continue
            with self._lock, self.index.name_lock(record.key):
                current = self.index.get(record.key)
                gone = not (self.directory / record.file_name).exists()
                if current is None or record.file_name not in self._known or gone or path.exists():
                    continue  # deleted, not confirmed on disk, or written meanwhile
                sidecar.write(self.directory, current)
                written += 1
        if written:
            fsync_dir(self.directory)
            log.event("sidecars_written", models=written)
        return written

    # -- reads ------------------------------------------------------------------------
    # ``viewer`` None is the store itself (cleanup, the module functions); a user sees the
    # shared models and their own, and a model they may not read is simply not there.

    def _visible(self, record: ModelRecord | None, viewer: User | None) -> ModelRecord | None:
        if record is None or viewer is None or viewer.may_read(record.owner, record.shared):
            return record
        return None

    def _current(self, key: ModelKey) -> ModelRecord | None:
        """The index row of ``key`` once the directory has been looked at for it."""
        self.refresh()
        self.settle(name=key.file_name)
        return self.index.get(key)

    def get(self, key: ModelKey, viewer: User | None = None) -> ModelRecord:
        record = self._visible(self._current(key), viewer)
        if record is None:
            raise _not_found(key)
        return record

    def _indexed(self, key: ModelKey, viewer: User | None = None) -> ModelRecord:
        """:meth:`get` without looking at the directory, for use under the lock (after a
        :meth:`_current`): waiting for an adoption there could deadlock with its thread,
        which needs the lock to finish."""
        record = self._visible(self.index.get(key), viewer)
        if record is None:
            raise _not_found(key)
        return record

    def open(self, key: ModelKey, viewer: User | None = None) -> tuple[ModelRecord, BinaryIO]:
        """The record and an open handle: a later delete cannot cut a started download.

        A quarantined model is never served (FAILED_PRECONDITION, MODEL_QUARANTINED)."""
        self._current(key)
        with self._lock:
            record = self._indexed(key, viewer)
            if record.quarantine is not None:
                raise _quarantined(record)
            try:
                handle = (self.directory / key.file_name).open("rb")
            except FileNotFoundError:
                raise _not_found(key) from None
        return record, handle

    def for_hash(self, model_hash: str, viewer: User | None = None) -> list[ModelRecord]:
        self.refresh()
        self.settle(model_hash)
        return [r for r in self.index.for_hash(model_hash) if self._visible(r, viewer) is not None]

    def with_features(self, version: int, viewer: User | None = None) -> list[ModelRecord]:
        """The models ``viewer`` may read that carry a feature vector of ``version``, once
        every pending file is adopted (a near-match search must see all of them)."""
        self.refresh()
        self.settle()
        rows = self.index.with_features(version)
        return [r for r in rows if self._visible(r, viewer) is not None]

    def find_compatible(
        self, model_hash: str, min_episodes: int, viewer: User | None = None
    ) -> ModelRecord:
        return self.compatible(model_hash, min_episodes, viewer, 1)[0]

    def compatible(
        self, model_hash: str, min_episodes: int, viewer: User | None, max_candidates: int
    ) -> list[ModelRecord]:
        """Up to ``max_candidates`` compatible models ``viewer`` may read, best first."""
        validation.check_hash(model_hash)
        validation.check_min_episodes(min_episodes)
        records = self.for_hash(model_hash, viewer)
        return ranking.ranked_compatible(model_hash, records, min_episodes)[:max_candidates]

    def list_page(
        self,
        model_hash: str | None,
        page_size: int,
        page_token: str = "",
        viewer: User | None = None,
        only: ListFilter | None = None,
    ) -> Page:
        """Newest first; the token is a keyset cursor, so pages never repeat or skip a
        model that stays stored while the client pages. A listing of every hash
        adopts every pending file first: it must be complete (and a client may rely on
        it: after one listing, every file dropped in is adopted)."""
        if model_hash is not None:
            validation.check_hash(model_hash)
        limit = validation.check_page_size(page_size)
        after = decode_page_token(page_token, model_hash) if page_token else None
        self.refresh()
        self.settle(model_hash)
        rows = self.index.page(model_hash, after, limit + 1, reader=_reader(viewer), only=only)
        if len(rows) <= limit:
            return Page(rows, "")
        last = rows[limit - 1]
        token = encode_page_token(model_hash, Cursor(to_micros(last.created_at), last.key))
        return Page(rows[:limit], token)

    def created_before(self, cutoff: datetime, user: User | None = None) -> list[ModelRecord]:
        """Models older than ``cutoff`` that ``user``'s cleanup covers: every model for an
        administrator (or the store itself), a user's own, and for an anonymous caller
        (a dry run) the shared ones."""
        self.refresh()
        self.settle()
        if user is None or user.is_admin:
            return self.index.created_before(cutoff)
        if user.anonymous:
            return self.index.created_before(cutoff, reader="")
        return self.index.created_before(cutoff, owner=user.name)

    # -- writes -----------------------------------------------------------------------

    def delete(self, key: ModelKey, user: User | None = None) -> ModelRecord:
        """Remove a model and its sidecar; ``user`` must own it or be an administrator."""
        self._current(key)
        with self._lock, self.index.name_lock(key):
            record = self._indexed(key, user)
            if user is not None:
                user.require_owner(record.owner, key.file_name)
            with contextlib.suppress(FileNotFoundError):
                (self.directory / key.file_name).unlink()
            sidecar.remove(self.directory, key)
            self.index.delete(key)
            self._known.pop(key.file_name, None)
            fsync_dir(self.directory)
        log.event("model_deleted", file=key.file_name)
        return record

    def put(
        self, declaration: UploadDeclaration, chunks: Iterable[bytes], user: User | None = None
    ) -> PutResult:
        """Store the streamed bytes under the declared name, atomically and checked.

        A name is never overwritten, whoever holds it; a model ``user`` may not read is
        reported as a conflict without showing it."""
        validation.check_declaration(declaration, self.max_bytes)
        key = declaration.key
        existing = self._current(key)
        if existing is not None and (
            existing.sha256 != declaration.sha256 or self._visible(existing, user) is None
        ):
            raise self._conflict(key)
        temp = self._receive(declaration, chunks)
        try:
            zipcheck.validate_model_zip(temp, self.max_bytes)
            self._run_check(temp, declaration.sha256)
            return self._commit(temp, declaration, user)
        finally:
            _unlink_quietly(temp)

    def _conflict(self, key: ModelKey) -> AlreadyExists:
        return AlreadyExists(
            f"{key.file_name} is already stored with different bytes; a model is never "
            f"overwritten (delete it first, or upload under another episodes count)",
            reason="MODEL_CONFLICT",
        )

    def _receive(self, declaration: UploadDeclaration, chunks: Iterable[bytes]) -> Path:
        """Write the stream to a temp file, checking size and checksum; its path on success."""
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=self.directory)
        temp = Path(name)
        try:
            try:
                os.fchmod(fd, 0o644)
                digest = hashlib.sha256()
                received = 0
                for chunk in chunks:
                    received += len(chunk)
                    if received > declaration.size_bytes:
                        raise DataLoss(
                            f"received more than the declared {declaration.size_bytes} bytes",
                            reason="CHECKSUM_MISMATCH",
                        )
                    digest.update(chunk)
                    _write_all(fd, chunk)
                os.fsync(fd)
            finally:
                os.close(fd)
            if received == 0:
                raise DataLoss("the upload carried no file bytes", reason="CHECKSUM_MISMATCH")
            if received != declaration.size_bytes:
                raise DataLoss(
                    f"received {received} bytes but {declaration.size_bytes} were declared "
                    f"(truncated upload?)",
                    reason="CHECKSUM_MISMATCH",
                )
            if digest.hexdigest() != declaration.sha256:
                raise DataLoss(
                    f"the received bytes have SHA-256 {digest.hexdigest()}, not the declared "
                    f"{declaration.sha256}",
                    reason="CHECKSUM_MISMATCH",
                )
        except OSError as exc:
            _unlink_quietly(temp)
            if exc.errno in _DISK_FULL:
                raise _disk_full(self.directory) from None
            raise
        except BaseException:
            _unlink_quietly(temp)
            raise
        return temp

    def _commit(self, temp: Path, declaration: UploadDeclaration, user: User | None) -> PutResult:
        """Sidecar first, then the zip's name, then the index row: a stored zip always
        has its sidecar; a crash in between leaves at most a sidecar without a zip,
        which nothing reads (and the next upload of that name replaces)."""
        key = declaration.key
        final = self.directory / key.file_name
        record = ModelRecord(
            key=key,
            size_bytes=declaration.size_bytes,
            sha256=declaration.sha256,
            created_at=self._clock(),
            origin=Origin.UPLOADED,
            details=declaration.details,
            owner=declaration.owner,
            visibility=declaration.visibility,
        )
        try:
            prepared = sidecar.prepare(self.directory, record)
        except OSError as exc:
            if exc.errno in _DISK_FULL:
                raise _disk_full(self.directory) from None
            raise
        taken = False
        try:
            with self._lock, self.index.name_lock(key):
                taken = final.exists() or self._install(temp, final, prepared, record)
        finally:
            _unlink_quietly(prepared)
        if taken:  # answered outside the lock: it may wait for that file's adoption
            return self._existing_answer(declaration, user)
        log.event("model_stored", file=key.file_name, size_bytes=record.size_bytes)
        return PutResult(record, created=True)

    def _install(self, temp: Path, final: Path, prepared: Path, record: ModelRecord) -> bool:
        """Under the lock: sidecar, zip, index row; True when the name was taken."""
        key = record.key
        try:
            sidecar.install(self.directory, prepared, key)
            self._link(temp, final)
        except FileExistsError:  # dropped in by hand this very moment
            sidecar.remove(self.directory, key)
            return True
        except OSError as exc:
            sidecar.remove(self.directory, key)
            if exc.errno in _DISK_FULL:
                raise _disk_full(self.directory) from None
            raise
        try:
            file_stamp = _stamp(os.stat(final))
            fsync_dir(self.directory)
            self.index.upsert(record, file_stamp)
        except BaseException as exc:
            _unlink_quietly(final)
            sidecar.remove(self.directory, key)
            self.index.delete(key)
            if isinstance(exc, IndexFull):
                raise _disk_full(self.directory) from None
            raise
        self._known[key.file_name] = file_stamp
        return False

    @staticmethod
    def _link(temp: Path, final: Path) -> None:
        """Give the temp file its final name unless that name exists (never overwrite)."""
        try:
            os.link(temp, final)
        except OSError as exc:
            if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
                raise
            # No hard links on this file system: check-then-rename, safe under our lock.
            if final.exists():
                raise FileExistsError(errno.EEXIST, "exists", str(final)) from None
            os.replace(temp, final)

    def _existing_answer(self, declaration: UploadDeclaration, user: User | None) -> PutResult:
        """The name was taken meanwhile: idempotent success for the same bytes, else conflict."""
        key = declaration.key
        self.refresh(force=True)
        self.settle(name=key.file_name)
        existing = self._visible(self.index.get(key), user)
        if existing is not None and existing.sha256 == declaration.sha256:
            return PutResult(existing, created=False)
        raise self._conflict(key)

    # -- changes to a stored model's record ---------------------------------------------

    def _change(self, key: ModelKey, change: Callable[[ModelRecord], ModelRecord]) -> ModelRecord:
        """Apply ``change`` to the stored record under the lock; the sidecar is rewritten
        (atomically) before the index row, so the sidecar is never behind the index."""
        self._current(key)
        with self._lock, self.index.name_lock(key):
            record = self._indexed(key)
            updated = change(record)
            if updated != record:
                stamp = self.index.stamp(key)
                if stamp is None:
                    stamp = _stamp(os.stat(self.directory / key.file_name))
                sidecar.write(self.directory, updated)
                fsync_dir(self.directory)
                self.index.upsert(updated, stamp)
            return updated

    def quarantine(self, key: ModelKey, sha256: str, reason: str) -> ModelRecord:
        """Mark the model unusable (kept, listed, never served or ranked); the first
        reason stays. ``sha256`` must be the stored bytes' (FAILED_PRECONDITION)."""

        def change(record: ModelRecord) -> ModelRecord:
            _require_bytes(record, sha256)
            if record.quarantine is not None:
                return record
            return dataclasses.replace(record, quarantine=Quarantine(reason, self._clock()))

        record = self._change(key, change)
        log.event("model_quarantined", file=key.file_name, why=reason)
        return record

    def record_evaluation(
        self, key: ModelKey, sha256: str, score: float, evaluation_json: str
    ) -> ModelRecord:
        """Set the verified evaluation of the stored bytes ``sha256``."""

        def change(record: ModelRecord) -> ModelRecord:
            _require_bytes(record, sha256)
            details = dataclasses.replace(
                record.details, evaluation_score=score, evaluation_json=evaluation_json
            )
            return dataclasses.replace(record, details=details)

        record = self._change(key, change)
        log.event("evaluation_recorded", file=key.file_name, score=score)
        return record

    def set_visibility(self, key: ModelKey, visibility: Visibility, user: User) -> ModelRecord:
        """Make a model private or shared; only its owner or an administrator may."""
        self.get(key, user)  # a model the user cannot read is not there for them

        def change(record: ModelRecord) -> ModelRecord:
            user.require_owner(record.owner, key.file_name)
            return dataclasses.replace(record, visibility=visibility)

        return self._change(key, change)


class Adopter:
    """The owner's background thread adopting files dropped in by hand (or every file,
    after an index rebuild), so that no lookup has to wait for thousands of them: a
    lookup adopts only the files of its own hash, and the rest happens here."""

    def __init__(self, store: ModelStore) -> None:
        self._store = store
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-adopter", daemon=True)

    def start(self) -> None:
        self._thread.start()
        self.wake()  # what the directory holds at start-up

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        try:
            self._store.backfill_sidecars()
        except Exception as exc:  # retried at the next start
            log.event("sidecar_backfill_failed", level="error", error=clip(repr(exc)))
        while not self._stop.is_set():
            self._wake.wait()
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self._adopt_all()
            except Exception as exc:  # never take the registry down; retried on next wake
                log.event("adoption_failed", level="error", error=clip(repr(exc)))

    def _adopt_all(self) -> None:
        store = self._store
        store.refresh()
        started = time.monotonic()
        adopted = 0
        while not self._stop.is_set():
            if store.settle_one() == 0:
                break
            adopted += 1
        if adopted:
            log.event(
                "adoption_finished",
                files=adopted,
                seconds=round(time.monotonic() - started, 2),
            )


def _reader(viewer: User | None) -> str | None:
    """The owner whose private models ``viewer`` may list besides the shared ones; None
    when every model is visible to them."""
    if viewer is None or viewer.may_read("", shared=False):
        return None
    return viewer.name


def _not_found(key: ModelKey) -> NotFound:
    return NotFound(f"no model {key.file_name} is stored", reason="MODEL_NOT_FOUND")


def _quarantined(record: ModelRecord) -> FailedPrecondition:
    why = record.quarantine.reason if record.quarantine else ""
    return FailedPrecondition(
        f"{record.file_name} is quarantined and never served: {why}", reason="MODEL_QUARANTINED"
    )


def _require_bytes(record: ModelRecord, sha256: str) -> None:
    if sha256 != record.sha256:
        raise FailedPrecondition(
            f"{record.file_name} is stored with SHA-256 {record.sha256}, not the "
            f"{clip(sha256, 64)} reported: the report is about other bytes"
        )
