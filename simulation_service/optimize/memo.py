"""Results kept by what determines them: judgements, and the scores of candidate models.

Why: a judgement (the engine run of the policy and every baseline, the gate, the
recommended strategy) is a pure function of the model file (its SHA-256), the household
(its exact message) and the simulation settings (paths, seed, percentiles, ...): the engine
is seeded and the policy deterministic. Option B asked twice for the same household and
settings would compute the very same answer again; kept here, the second call costs a
lookup. A new seed, a changed household or another model is a new key, so nothing stale
can be served.

A candidate's score is likewise a pure function of the model file, the household and the
evaluation lives (their number and the seed derived from the hash), so ranking the
compatible models of a household costs their evaluations once. Both caches are bounded
(least recently used goes first) and thread-safe.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import astuple
from typing import Generic, TypeVar

from glidepath.common.v1 import model_pb2
from simulation_service.optimize.judge import Judgement
from simulation_service.optimize.request import OptimizeJob

DEFAULT_CAPACITY = 32
DEFAULT_SCORE_CAPACITY = 256
T = TypeVar("T")


def judgement_key(job: OptimizeJob, model_sha256: str) -> str:
    """The key of everything a judgement depends on (not the call's own options)."""
    digest = hashlib.sha256(model_sha256.encode())
    digest.update(job.household_message.SerializeToString(deterministic=True))
    settings = job.settings
    fields = tuple(v for v in astuple(settings) if not callable(v))
    digest.update(repr(fields).encode())
    return digest.hexdigest()


def score_key(model_sha256: str, household_hash: str, lives: int, seed: int) -> str:
    """The key of a candidate's score: the file, the household's hash (its canonical
    parameters, which determine the household), the evaluation lives."""
    return f"{model_sha256}/{household_hash}/{lives}/{seed}"


class LruCache(Generic[T]):
    """At most ``capacity`` values by key (0: keep nothing)."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._lock = threading.Lock()
        self._items: OrderedDict[str, T] = OrderedDict()

    def get(self, key: str) -> T | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: str, value: T) -> None:
        if self._capacity < 1:
            return
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)


class JudgementCache(LruCache[Judgement]):
    """Judgements by ``judgement_key``."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        super().__init__(capacity)


class ScoreCache(LruCache[model_pb2.ModelEvaluation]):
    """Candidate evaluations by ``score_key``."""

    def __init__(self, capacity: int = DEFAULT_SCORE_CAPACITY) -> None:
        super().__init__(capacity)
