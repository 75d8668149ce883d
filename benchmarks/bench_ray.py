"""Training throughput: the local backend against Ray, with two CPUs each. Prints, never asserts.

A batch of ``--jobs`` real trainings (the example household, ``--episodes`` each, the
service's own payload ``TrainAndEvaluate``) goes to each backend, two at a time; the
clock runs from the first submission to the last job's end. Both backends are warm
first (the local workers' imports done, and two small Ray jobs run so that Ray's worker
processes have imported torch), so the figures compare running jobs, not starting up.

Reported: each backend's wall time and jobs per minute, the throughput ratio (Ray over
local), and Ray's overhead per job, ``(Ray wall - local wall) * CPUS / jobs``: the extra
seconds each job held its CPU for under Ray (scheduling, the mailbox of progress, the
outcome returned through the object store). A Ray head on 127.0.0.1 is started and
stopped here (``ray start --head --num-cpus=2``; ``ray stop --force`` stops every Ray
process of the machine at the end).

Default: 8 jobs of 1,000 episodes (issue 14). ``--jobs 4 --episodes 200``: a smoke run.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
os.environ.setdefault("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "0")

from ray_support import ray_head  # noqa: E402

from glidepath.household.canonical import household_hash  # noqa: E402
from glidepath.rl.households import example_household  # noqa: E402
from training_service.backends import BackendFactory, TrainingBackend  # noqa: E402
from training_service.backends.local import local_backend  # noqa: E402
from training_service.config import TrainingSettings  # noqa: E402
from training_service.pipeline import TrainAndEvaluate, TrainingTask, rl_warm_up  # noqa: E402
from training_service.workers import JobEnded, WorkerEvent  # noqa: E402

CPUS = 2
EVAL_LIVES = 1000


class Batch:
    """Counts the ends of submitted jobs; fails loudly on a job that did not succeed."""

    def __init__(self) -> None:
        self.ended: dict[str, JobEnded] = {}
        self.changed = threading.Condition()

    def on_event(self, event: WorkerEvent) -> None:
        if isinstance(event, JobEnded):
            with self.changed:
                self.ended[event.job_id] = event
                self.changed.notify_all()

    def wait(self, job_ids: list[str], timeout: float = 3600.0) -> None:
        deadline = time.monotonic() + timeout
        with self.changed:
            while not all(j in self.ended for j in job_ids):
                assert time.monotonic() < deadline, "the batch did not finish"
                self.changed.wait(timeout=1.0)
        failed = [self.ended[j] for j in job_ids if self.ended[j].outcome is None]
        assert not failed, failed[0].message or "cancelled"


def tasks(count: int, episodes: int, first_seed: int) -> list[TrainingTask]:
    household = example_household()
    return [
        TrainingTask(
            household=household,
            model_hash=household_hash(household),
            episodes=episodes,
            seed=first_seed + i,
            algorithm="PPO",
            eval_lives=EVAL_LIVES,
        )
        for i in range(count)
    ]


def run_batch(backend: TrainingBackend, batch: Batch, jobs: list[TrainingTask], tag: str) -> float:
    """Submit ``jobs`` two at a time (the manager's TRAINING_MAX_CONCURRENT=2); seconds."""
    ids = [f"{tag}-{i}" for i in range(len(jobs))]
    began = time.perf_counter()
    waiting = list(zip(ids, jobs, strict=True))
    while waiting:
        while waiting and backend.busy_workers() < CPUS:
            job_id, task = waiting[0]
            if not backend.try_assign(job_id, task):
                break
            waiting.pop(0)
        time.sleep(0.05)
    batch.wait(ids)
    return time.perf_counter() - began


def measure(factory: BackendFactory, name: str, jobs: int, episodes: int) -> float:
    batch = Batch()
    backend = factory(batch.on_event)
    backend.start()
    try:
        deadline = time.monotonic() + 300
        while backend.ready_workers() < CPUS:
            assert time.monotonic() < deadline, f"{name}: never ready"
            time.sleep(0.2)
        run_batch(backend, batch, tasks(CPUS, 16, 10_000), f"{name}-warm")
        return run_batch(backend, batch, tasks(jobs, episodes, 1), name)
    finally:
        backend.shutdown()


def settings(ray_address: str | None) -> TrainingSettings:
    return TrainingSettings(
        data_dir=Path("/nonexistent"),
        workers=CPUS,
        max_concurrent=CPUS,
        backend="ray" if ray_address else "local",
        ray_address=ray_address,
    )


def report(name: str, seconds: float, jobs: int) -> None:
    print(f"{name:>6}: {seconds:7.1f} s for {jobs} jobs = {60 * jobs / seconds:6.2f} jobs/min")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--episodes", type=int, default=1000)
    args = parser.parse_args()
    runner = TrainAndEvaluate()
    warm: Callable[[], None] = rl_warm_up

    local = measure(local_backend(settings(None), runner, warm), "local", args.jobs, args.episodes)
    with ray_head(cpus=CPUS) as address:
        from training_service.backends.ray import ray_backend

        on_ray = measure(
            ray_backend(settings(address), runner, warm), "ray", args.jobs, args.episodes
        )
    print(f"{args.jobs} jobs of {args.episodes} episodes, {CPUS} at a time; load {os.getloadavg()}")
    report("local", local, args.jobs)
    report("ray", on_ray, args.jobs)
    print(f"throughput ratio (ray / local): {local / on_ray:.2f}")
    print(f"Ray's overhead per job: {(on_ray - local) * CPUS / args.jobs:+.2f} s")


if __name__ == "__main__":
    main()
