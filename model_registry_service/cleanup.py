"""Deleting models by age: once on request (with a dry run) and periodically in the service.

Age is measured from ``created_at`` in the index: when the model was uploaded, or for an
adopted file its modification time when it was adopted.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import datetime, timedelta

from glidepath import log
from glidepath.auth import User
from glidepath.errors import NotFound
from model_registry_service import validation
from model_registry_service.records import ModelRecord
from model_registry_service.storage import ModelStore, utc_now


@dataclass(frozen=True)
class CleanupReport:
    """The models selected, and how many were actually deleted (0 on a dry run)."""

    selected: list[ModelRecord]
    deleted_count: int
    dry_run: bool


def cleanup_models(
    store: ModelStore,
    max_age_days: int,
    *,
    dry_run: bool = False,
    now: datetime | None = None,
    user: User | None = None,
) -> CleanupReport:
    """Delete (or with ``dry_run`` only list) every model stored more than max_age_days
    ago that ``user``'s cleanup covers (``ModelStore.created_before``; None: every model)."""
    validation.check_max_age_days(max_age_days)
    try:
        cutoff = (now or utc_now()) - timedelta(days=max_age_days)
    except OverflowError:  # before year 1: no model can be that old
        selected = []
    else:
        selected = store.created_before(cutoff, user)
    deleted = 0
    if not dry_run:
        for record in selected:
            try:
                store.delete(record.key, user)
                deleted += 1
            except NotFound:
                pass  # removed meanwhile (by hand or another call): already gone
    log.event(
        "cleanup",
        max_age_days=max_age_days,
        dry_run=dry_run,
        selected=len(selected),
        deleted=deleted,
    )
    return CleanupReport(selected, deleted, dry_run)


class PeriodicCleanup:
    """A daemon thread running ``cleanup_models`` every ``interval_seconds``; stoppable.

    A failing pass is logged and retried at the next interval: a cleanup problem must
    never take the registry down.
    """

    def __init__(self, store: ModelStore, max_age_days: int, interval_seconds: float) -> None:
        self._store = store
        self._max_age_days = max_age_days
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="registry-cleanup", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                cleanup_models(self._store, self._max_age_days)
            except Exception as exc:
                log.event("cleanup_failed", level="error", error=repr(exc))
