"""Loaded policies, kept in memory by the SHA-256 of their file: option B's warm path.

Why: downloading and rebuilding a policy costs tens of milliseconds, and the same model
serves every request for its household. The registry's metadata carries the file's
SHA-256, so a lookup that names a file already loaded skips the download altogether; the
same bytes always give the same weights, so the cache can never serve a stale policy.
Bounded (least recently used goes first), thread-safe. Loading never unpickles
(``glidepath.rl.model_io.load_policy``).

A policy is kept only once it is known usable, by the very check the registry runs on
every upload (``glidepath.rl.model_io.check_model``): its weights load into the trusted
layout, every tensor is finite, and its actions and values on the sample observations are
finite. Bytes that fail are remembered by
their SHA-256 with the reason (bounded as well), so that a model the registry could not
quarantine is not downloaded and loaded again on every call.

torch and stable-baselines3 cost seconds to import, and the first policy built seconds
more: ``warm_up`` does both on a background thread at start-up so that the first Optimize
does not pay for them, and pins torch to few threads (the service runs several
evaluations at once on a small machine, where torch's default of one thread per core
oversubscribes the CPUs badly).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import TYPE_CHECKING

from glidepath import errors
from glidepath.text import one_line

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy

DEFAULT_CAPACITY = 8
# SHA-256s of model files found unusable, with why: 64 + ~200 bytes each.
REJECTED_CAPACITY = 1024


class UnusableModel(errors.FailedPrecondition):
    """A model file that cannot be used: why, in one line (a server-side problem)."""

    reason = "INVALID_MODEL"


class PolicyCache:
    """At most ``capacity`` loaded policies, by SHA-256 of their model file."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self._lock = threading.Lock()
        self._policies: OrderedDict[str, ActorCriticPolicy] = OrderedDict()
        self._rejected: OrderedDict[str, str] = OrderedDict()

    def get(self, sha256: str) -> ActorCriticPolicy | None:
        with self._lock:
            policy = self._policies.get(sha256)
            if policy is not None:
                self._policies.move_to_end(sha256)
            return policy

    def rejected(self, sha256: str) -> str | None:
        """Why the file with this SHA-256 was found unusable; None when it was not."""
        with self._lock:
            return self._rejected.get(sha256)

    def reject(self, sha256: str, why: str) -> None:
        """Forget the policy of ``sha256`` and remember why it cannot be used."""
        with self._lock:
            self._policies.pop(sha256, None)
            self._rejected[sha256] = why
            self._rejected.move_to_end(sha256)
            while len(self._rejected) > REJECTED_CAPACITY:
                self._rejected.popitem(last=False)

    def load(self, sha256: str, model_zip: bytes) -> ActorCriticPolicy:
        """Rebuild the policy from trusted configuration, load and check its weights, keep
        it; UnusableModel (remembered) when the file cannot be used."""
        try:
            policy = self._build(model_zip)
        except (errors.GlidepathError, RuntimeError, ValueError) as problem:
            message = (
                problem.message if isinstance(problem, errors.GlidepathError) else str(problem)
            )
            why = one_line(message.removeprefix("model: "))
            self.reject(sha256, why)
            raise UnusableModel(why) from None
        with self._lock:
            self._policies[sha256] = policy
            self._policies.move_to_end(sha256)
            while len(self._policies) > self._capacity:
                self._policies.popitem(last=False)
        return policy

    def _build(self, model_zip: bytes) -> ActorCriticPolicy:
        """The checked policy; InvalidArgument (reason INVALID_MODEL) if unusable."""
        from glidepath.rl.model_io import build_policy, check_model

        policy = build_policy()
        check_model(model_zip, policy)
        return policy

    def __len__(self) -> int:
        with self._lock:
            return len(self._policies)


def configure_torch(threads: int) -> None:
    """Import torch and the RL modules, pin torch's threads, build one policy.

    The first policy built in a process costs seconds (torch's lazy initialisation); a
    throwaway one here moves that cost off the first request.
    """
    import torch

    torch.set_num_threads(threads)
    import glidepath.rl.policy_strategy  # noqa: F401
    from glidepath.rl.model_io import build_policy

    build_policy()


def warm_up(threads: int) -> threading.Thread:
    """``configure_torch`` on a daemon thread, so that the service starts at once."""
    thread = threading.Thread(
        target=configure_torch, args=(threads,), name="optimize-warm-up", daemon=True
    )
    thread.start()
    return thread
