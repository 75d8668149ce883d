"""At most N of something per user at once: the per-user counterpart of ``Bound``.

The service-wide bounds keep the service answering; these keep one user from taking all
of a bound's places (for example every watch place, so that every other user's option A
fails). A caller the per-user bounds do not apply to (an administrator, a service calling
for itself) passes ``None`` and is held by the service-wide bound only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from glidepath.errors import ResourceExhausted


class PerUserBound:
    """``limit`` places per user name; beyond, RESOURCE_EXHAUSTED reason USER_LIMIT."""

    def __init__(self, limit: int, refusal: str) -> None:
        if limit < 1:
            raise ValueError("a per-user bound needs at least one place")
        self.limit = limit
        self._refusal = refusal
        self._lock = threading.Lock()
        self._held: dict[str, int] = {}

    @contextmanager
    def taken(self, name: str | None) -> Iterator[None]:
        if name is None:
            yield
            return
        with self._lock:
            held = self._held.get(name, 0)
            if held >= self.limit:
                raise ResourceExhausted(self._refusal, reason="USER_LIMIT")
            self._held[name] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._held[name] - 1
                if left:
                    self._held[name] = left
                else:
                    del self._held[name]

    def held(self, name: str) -> int:
        with self._lock:
            return self._held.get(name, 0)
