"""Built-in strategies' results kept by everything that determines them: computed once.

Why: judging a trained policy runs it beside every rule of thumb and the optimum on the
same lives (``glidepath.rl.evaluation``, ``simulation_service.optimize.judge``). For one
household and one set of lives the rules' results never change: the near matches and
the generic model judged for one request, the candidates ranked on a hash's evaluation
lives, a Compare followed by an Optimize, or a second training of the same household all
meet the very same baselines. Kept here, each is simulated once and every later run only
simulates the candidate.

What the key holds (anything that changes a strategy's figures is in it, so a cached
result equals a fresh one bit for bit):

- the household, every field exactly (a digest of its ``repr``, floats written to the
  last digit; not the canonical hash, which rounds amounts, so two households of one
  hash may still differ in the last cent);
- the strategy's built-in name (an instance such as a trained policy is never cached);
- the lives: seed, number of paths, batch size (the block layout of the scenarios) and
  the flow timing;
- the percentiles reported.

Adaptive runs (``target_standard_error`` set) are never cached: how many lives they run
depends on every strategy of the run, the candidate's included, so a baseline's result
on them is not a function of the key. ``simulate`` skips the cache for them.

The cache is bounded by the lives it holds (per-path utilities cost 8 bytes each; the
summaries are small), least recently used first out, and thread-safe: the simulation
service judges on several threads. Results are frozen dataclasses and their arrays are
made read-only when kept, so one object can be handed to every caller.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

from glidepath.household.model import Household

from .metrics import StrategyMetrics
from .state import FlowTiming

#: Per-path values held at most (about 8 bytes each): 400 runs of 10,000 lives.
DEFAULT_MAX_PATHS = 4_000_000


def household_digest(household: Household) -> str:
    """A digest of every field of ``household`` (exact values, not rounded ones)."""
    return hashlib.sha256(repr(household).encode()).hexdigest()


def result_key(
    digest: str,
    strategy: str,
    *,
    seed: int,
    paths: int,
    batch_paths: int,
    timing: FlowTiming,
    percentiles: Sequence[float],
) -> str:
    """The key of one built-in strategy's result on one household's lives."""
    fields = (digest, strategy, seed, paths, batch_paths, timing.value, tuple(percentiles))
    return repr(fields)


class StrategyResults:
    """Built-in strategies' results (with their per-path utilities), by ``result_key``."""

    def __init__(self, max_paths: int = DEFAULT_MAX_PATHS) -> None:
        self._max_paths = max_paths
        self._lock = threading.Lock()
        self._items: OrderedDict[str, StrategyMetrics] = OrderedDict()
        self._paths = 0
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> StrategyMetrics | None:
        with self._lock:
            found = self._items.get(key)
            if found is None:
                self.misses += 1
                return None
            self.hits += 1
            self._items.move_to_end(key)
            return found

    def put(self, key: str, result: StrategyMetrics) -> None:
        """Keep ``result``; it must carry its path utilities (the paired comparisons)."""
        assert result.path_utilities is not None
        if result.n_paths > self._max_paths:
            return
        result.path_utilities.setflags(write=False)  # shared by every caller from now on
        with self._lock:
            previous = self._items.pop(key, None)
            if previous is not None:
                self._paths -= previous.n_paths
            self._items[key] = result
            self._paths += result.n_paths
            while self._paths > self._max_paths:
                _, dropped = self._items.popitem(last=False)
                self._paths -= dropped.n_paths

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._paths = 0


#: The process's cache, used by the evaluations (``glidepath.rl.evaluation``, the
#: simulation service's judgement); ``simulate`` uses none unless one is passed.
BASELINE_RESULTS = StrategyResults()
