"""One user's share of a bounded resource: at most ``limit`` places each.

The registry's upload bound (``glidepath.rpc.bounds``) keeps a few quiet streams from
taking every server thread; without a share, one user who opens that many uploads locks
every other user out of uploading. With it, a user holds at most half the places and the
next upload of theirs is refused at once (RESOURCE_EXHAUSTED, reason USER_LIMIT) while
others still upload. Services and administrators are not counted: the training service
relays many users' models, the operator is one person, and an open stack has one user.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from glidepath.auth import Role, User
from glidepath.errors import ResourceExhausted


def counted(user: User) -> bool:
    """A user calling directly (not a service, an administrator, or a relayed call)."""
    return user.role is Role.USER and not user.via and not user.anonymous


class UserShares:
    """Places per user name; :meth:`taken` holds one of ``user``'s for a ``with`` block."""

    def __init__(self, limit: int, what: str) -> None:
        if limit < 1:
            raise ValueError("a share needs at least one place")
        self.limit = limit
        self._what = what
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    @contextmanager
    def taken(self, user: User) -> Iterator[None]:
        if not counted(user):
            yield
            return
        with self._lock:
            held = self._held.get(user.name, 0)
            if held >= self.limit:
                raise ResourceExhausted(
                    f"{user.name} already runs {held} {self._what} at once, this user's share "
                    f"of the registry; retry when one has finished",
                    reason="USER_LIMIT",
                )
            self._held[user.name] = held + 1
        try:
            yield
        finally:
            with self._lock:
                left = self._held[user.name] - 1
                if left:
                    self._held[user.name] = left
                else:
                    del self._held[user.name]
