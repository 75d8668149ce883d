"""A bounded pool that runs simulations off the RPC threads and stops them on request.

Why: a large simulation takes seconds of CPU. Running it on a gRPC thread would let a
burst of requests take every thread (health checks included) and pile up unbounded
memory. Here at most ``max_concurrent`` simulations run and ``max_queued`` wait; any
further request is refused at once with RESOURCE_EXHAUSTED, which a client can act on
(retry later) instead of timing out.

Stopping: each run gets a :class:`StopToken`, the engine's ``should_stop`` hook. It
turns true when the caller cancels (the service calls :meth:`StopToken.cancel`), when
the caller's deadline passes, or when the service shuts down, and the engine then
raises ``Cancelled`` at its next check (between simulated years), so the slot is freed
within milliseconds instead of when the abandoned work would have finished.

This module knows nothing of gRPC: the servicer wires the call's cancellation and
deadline to the token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

from glidepath import log
from glidepath.errors import Cancelled, ResourceExhausted, Unavailable

T = TypeVar("T")


class StopToken:
    """True once the run should stop: cancelled, past its deadline, or the pool stopping."""

    def __init__(self, deadline: float | None, stopping: threading.Event) -> None:
        self._deadline = deadline  # time.monotonic() value, or None for no deadline
        self._cancelled = threading.Event()
        self._stopping = stopping

    def cancel(self) -> None:
        self._cancelled.set()

    def expired(self) -> bool:
        """Whether the caller's deadline has passed (so a stop is DEADLINE_EXCEEDED)."""
        return self._deadline is not None and time.monotonic() >= self._deadline

    def __call__(self) -> bool:
        return self._cancelled.is_set() or self._stopping.is_set() or self.expired()


@dataclass(frozen=True)
class PoolLoad:
    """How busy the pool is: runs in progress and runs admitted but waiting."""

    running: int
    waiting: int


class WorkPool:
    """Runs at most ``max_concurrent`` jobs, holds at most ``max_queued`` more, refuses the rest."""

    def __init__(self, max_concurrent: int, max_queued: int) -> None:
        if max_concurrent < 1 or max_queued < 0:
            raise ValueError("max_concurrent must be >= 1 and max_queued >= 0")
        self._max_concurrent = max_concurrent
        self._max_queued = max_queued
        self._executor = ThreadPoolExecutor(max_concurrent, thread_name_prefix="simulation-work")
        self._lock = threading.Lock()
        self._admitted = 0
        self._running = 0
        self._stopping = threading.Event()

    def token(self, seconds_left: float | None) -> StopToken:
        """A token for one run whose caller has ``seconds_left`` (None: no deadline)."""
        deadline = None if seconds_left is None else time.monotonic() + seconds_left
        return StopToken(deadline, self._stopping)

    def load(self) -> PoolLoad:
        with self._lock:
            return PoolLoad(self._running, self._admitted - self._running)

    def run(self, work: Callable[[StopToken], T], token: StopToken) -> T:
        """Run ``work(token)`` on a pool thread and wait for it; refuse when full."""
        self._admit()
        try:
            future = self._executor.submit(self._guarded, work, token)
        except RuntimeError:  # the executor has shut down
            self._release()
            raise Unavailable(
                "the simulation service is stopping; retry on another replica"
            ) from None
        future.add_done_callback(self._release_if_dropped)
        try:
            return future.result()
        except CancelledError:
            raise Unavailable("the simulation service stopped before the run started") from None

    def shutdown(self) -> None:
        """Stop every run at its next check, drop waiting ones, and join the threads."""
        self._stopping.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _admit(self) -> None:
        with self._lock:
            if self._stopping.is_set():
                raise Unavailable("the simulation service is stopping; retry on another replica")
            capacity = self._max_concurrent + self._max_queued
            if self._admitted >= capacity:
                running, waiting = self._running, self._admitted - self._running
                raise ResourceExhausted(
                    f"the simulation service is busy: {running} simulations run and {waiting} "
                    f"wait (SIMULATION_MAX_CONCURRENT={self._max_concurrent}, "
                    f"SIMULATION_MAX_QUEUED={self._max_queued}); retry in a few seconds, "
                    "or ask for fewer paths",
                    reason="QUEUE_FULL",
                )
            self._admitted += 1

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def _release_if_dropped(self, future: Future[T]) -> None:
        """A waiting run dropped at shutdown never reaches ``_guarded``: free its place here."""
        if future.cancelled():
            self._release()

    def _guarded(self, work: Callable[[StopToken], T], token: StopToken) -> T:
        with self._lock:
            self._running += 1
        began = time.monotonic()
        try:
            if token():
                raise Cancelled("the call was cancelled or its deadline passed before it started")
            return work(token)
        except Cancelled:
            log.event("simulation_stopped", seconds=round(time.monotonic() - began, 3))
            raise
        finally:
            # Freed before the caller wakes, so its next request finds the place free.
            with self._lock:
                self._running -= 1
                self._admitted -= 1
