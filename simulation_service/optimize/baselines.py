"""The rules' half of a judgement, computed while the model it will judge trains.

Why: a judgement runs the trained policy beside every rule of thumb and the optimum on
the request's lives. Everything but the policy is known as soon as the request is: the
household and the lives (seed, paths, batch). Option A (and the ladder's fine-tuning)
then waits seconds for the training service, whose worker is another process; in that
time this service runs the baselines on those lives into the engine's result cache
(``glidepath.engine.result_cache``), so that the judgement after the training simulates
the policy alone. The answer is the very same: the cache's results equal fresh ones bit
for bit, and a judgement that finds none computes them itself.

Bounds: one thread, at most ``MAX_PENDING`` warm-ups waiting (more are skipped: they
are an optimisation, never owed), each stopped when its call is cancelled or runs out
of time, or when the service stops. Adaptive requests are not warmed (their results are
never cached: how many lives they take depends on the policy). A warm-up that fails
(the request's lives are too many, say) is logged and forgotten: the judgement meets the
same problem itself and reports it as usual. A judgement waits for the warm-up of its
own request when it is under way (it would compute the same results itself, later),
cancels it when it has not begun, and never waits for another request's.
"""

from __future__ import annotations

import contextlib
import threading
import time
from concurrent.futures import CancelledError, Future, ThreadPoolExecutor
from dataclasses import replace

from glidepath import errors, log
from glidepath.engine.result_cache import BASELINE_RESULTS
from glidepath.engine.run import simulate
from glidepath.rl.gate import other_strategies
from glidepath.text import one_line
from simulation_service.optimize.interrupt import Interrupt
from simulation_service.optimize.memo import judgement_key
from simulation_service.optimize.request import OptimizeJob
from simulation_service.work import StopToken

MAX_PENDING = 2


class BaselineWarmer:
    """Runs the baselines of a request's judgement in the background, one at a time."""

    def __init__(self) -> None:
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="baseline-warm-up")
        self._lock = threading.Lock()
        self._pending: dict[str, Future[None]] = {}
        self._stopping = threading.Event()
        self.started = 0  # warm-ups accepted, for tests and logs

    def start(self, job: OptimizeJob, interrupt: Interrupt) -> None:
        """Begin computing ``job``'s baselines, unless adaptive, already begun or too busy."""
        if job.settings.target_standard_error is not None or self._stopping.is_set():
            return
        key = _key(job)
        with self._lock:
            if key in self._pending or len(self._pending) >= MAX_PENDING:
                return
            try:
                future = self._executor.submit(self._warm, job, interrupt.token)
            except RuntimeError:  # shut down
                return
            self._pending[key] = future
            self.started += 1
        future.add_done_callback(lambda _: self._forget(key))

    def wait(self, job: OptimizeJob) -> None:
        """Wait for ``job``'s own warm-up when one is under way (its errors are its own)."""
        with self._lock:
            future = self._pending.get(_key(job))
        if future is None or future.cancel():  # not begun: the judgement does it all
            return
        with contextlib.suppress(CancelledError):
            future.result()

    def shutdown(self) -> None:
        self._stopping.set()
        self._executor.shutdown(wait=True, cancel_futures=True)

    def _forget(self, key: str) -> None:
        with self._lock:
            self._pending.pop(key, None)

    def _warm(self, job: OptimizeJob, token: StopToken) -> None:
        def stop() -> bool:
            return self._stopping.is_set() or token()

        if stop():
            return
        household = job.household
        settings = replace(job.settings, keep_path_utilities=True, should_stop=stop)
        began = time.perf_counter()
        try:
            simulate(household, list(other_strategies(household)), settings, cache=BASELINE_RESULTS)
        except errors.Cancelled:
            return
        except Exception as failed:  # an optimisation: the judgement reports its own errors
            log.event(
                "baseline_warm_up_failed",
                level="warning",
                household_hash=job.household_hash,
                detail=one_line(str(failed), 200),
            )
            return
        log.event(
            "baselines_warmed",
            household_hash=job.household_hash,
            seconds=round(time.perf_counter() - began, 3),
        )


def _key(job: OptimizeJob) -> str:
    """What the baselines of a judgement depend on: the household and the settings."""
    return judgement_key(job, "baselines")
