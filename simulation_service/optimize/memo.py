"""Judgements kept by what determines them: the model's bytes, the household, the settings.

Why: a judgement (the engine run of the policy and every baseline, the gate, the
recommended strategy) is a pure function of the model file (its SHA-256), the household
(its exact message) and the simulation settings (paths, seed, percentiles, ...): the engine
is seeded and the policy deterministic. Option B asked twice for the same household and
settings would compute the very same answer again; kept here, the second call costs a
lookup. A new seed, a changed household or another model is a new key, so nothing stale
can be served. Bounded (least recently used goes first), thread-safe.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import astuple

from simulation_service.optimize.judge import Judgement
from simulation_service.optimize.request import OptimizeJob

DEFAULT_CAPACITY = 32


def judgement_key(job: OptimizeJob, model_sha256: str) -> str:
    """The key of everything a judgement depends on (not the call's own options)."""
    digest = hashlib.sha256(model_sha256.encode())
    digest.update(job.household_message.SerializeToString(deterministic=True))
    settings = job.settings
    fields = tuple(v for v in astuple(settings) if not callable(v))
    digest.update(repr(fields).encode())
    return digest.hexdigest()


class JudgementCache:
    """At most ``capacity`` judgements, by ``judgement_key``."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[str, Judgement] = OrderedDict()

    def get(self, key: str) -> Judgement | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, judgement: Judgement) -> None:
        if self._capacity < 1:
            return
        with self._lock:
            self._items[key] = judgement
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)
