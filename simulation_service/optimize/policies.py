"""Loaded policies, kept in memory by the SHA-256 of their file: option B's warm path.

Why: downloading and rebuilding a policy costs tens of milliseconds, and the same model
serves every request for its household. The registry's metadata carries the file's
SHA-256, so a lookup that names a file already loaded skips the download altogether; the
same bytes always give the same weights, so the cache can never serve a stale policy.
Bounded (least recently used goes first), thread-safe. Loading never unpickles
(``glidepath.rl.model_io.load_policy``).

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

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy

DEFAULT_CAPACITY = 8


class PolicyCache:
    """At most ``capacity`` loaded policies, by SHA-256 of their model file."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be >= 1")
        self._capacity = capacity
        self._lock = threading.Lock()
        self._policies: OrderedDict[str, ActorCriticPolicy] = OrderedDict()

    def get(self, sha256: str) -> ActorCriticPolicy | None:
        with self._lock:
            policy = self._policies.get(sha256)
            if policy is not None:
                self._policies.move_to_end(sha256)
            return policy

    def load(self, sha256: str, model_zip: bytes) -> ActorCriticPolicy:
        """Rebuild the policy from trusted configuration, load its weights, keep it."""
        policy = self._build(model_zip)
        with self._lock:
            self._policies[sha256] = policy
            self._policies.move_to_end(sha256)
            while len(self._policies) > self._capacity:
                self._policies.popitem(last=False)
        return policy

    def _build(self, model_zip: bytes) -> ActorCriticPolicy:
        from glidepath.rl.model_io import load_policy

        return load_policy(model_zip)

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
