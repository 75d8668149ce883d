"""One Optimize call's stop switch: the client's cancel and deadline reach every wait.

An optimisation waits on several things in turn: a registry lookup, a download, a training
job's progress stream, an engine run on the work pool. ``Interrupt`` ties them to the one
call: its ``StopToken`` stops the engine at its next check, the streaming calls it tracks
are cancelled at once, and every outbound call's timeout is cut to what is left of the
caller's deadline. It knows nothing of the servicer: the servicer calls ``cancel`` from the
call's done-callback.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Protocol

from glidepath.errors import Cancelled
from simulation_service.work import StopToken


class Cancellable(Protocol):
    def cancel(self) -> bool: ...


class Interrupt:
    """Cancellation and deadline of one call, shared by every stage of it."""

    def __init__(self, token: StopToken, deadline: float | None = None) -> None:
        self.token = token
        self._deadline = deadline  # time.monotonic() value, or None
        self._lock = threading.Lock()
        self._calls: set[Cancellable] = set()

    @classmethod
    def after(cls, token: StopToken, seconds_left: float | None) -> Interrupt:
        deadline = None if seconds_left is None else time.monotonic() + seconds_left
        return cls(token, deadline)

    def cancel(self) -> None:
        """Stop the engine at its next check and cancel every call in flight."""
        self.token.cancel()
        with self._lock:
            calls = list(self._calls)
        for call in calls:
            call.cancel()

    def stopped(self) -> bool:
        return self.token()

    def raise_if_stopped(self) -> None:
        if self.token():
            raise Cancelled("the optimisation was cancelled or its deadline passed")

    def timeout(self, own: float) -> float:
        """``own`` seconds, or less when the caller's deadline comes first (>= 0.1 s)."""
        self.raise_if_stopped()
        if self._deadline is None:
            return own
        return max(0.1, min(own, self._deadline - time.monotonic()))

    @contextmanager
    def tracking(self, call: Cancellable) -> Iterator[None]:
        """Cancel ``call`` if the optimisation is cancelled while it runs."""
        with self._lock:
            self._calls.add(call)
        if self.token():
            call.cancel()
        try:
            yield
        finally:
            with self._lock:
                self._calls.discard(call)
