"""At most N calls of one kind at once; the next is refused at once, never queued.

A streaming call holds a server thread for as long as its client takes. Without a bound,
a few clients that open streams and go quiet take every thread, and health checks and
every other call wait behind them. With one, the call beyond the bound gets
RESOURCE_EXHAUSTED (reason ``QUEUE_FULL``) in a millisecond and can retry later.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from glidepath.errors import ResourceExhausted


class Bound:
    """``limit`` places; :meth:`taken` holds one for the duration of a ``with`` block.

    ``refusal`` is the one-line message the refused caller reads: say what is full and
    what to do (retry, or poll instead of watching).
    """

    def __init__(self, limit: int, refusal: str, *, reason: str = "QUEUE_FULL") -> None:
        if limit < 1:
            raise ValueError("a bound needs at least one place")
        self.limit = limit
        self._refusal = refusal
        self._reason = reason
        self._semaphore = threading.BoundedSemaphore(limit)

    @contextmanager
    def taken(self) -> Iterator[None]:
        if not self._semaphore.acquire(blocking=False):
            raise ResourceExhausted(self._refusal, reason=self._reason)
        try:
            yield
        finally:
            self._semaphore.release()
