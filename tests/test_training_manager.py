"""The job manager, driven directly: real worker processes, a real registry.

The trainer here is the CartPole stand-in of ``training_support`` (a real, tiny PPO):
these tests are about the job machinery (queue, dedupe, cancel, worker death, spool),
not about what the RL library learns.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from training_support import (
    CARTPOLE_RUNNER,
    CRASH_SEED,
    STUBBORN_SEED,
    cartpole_warm_up,
    example_household_proto,
    free_port,
)

from glidepath import errors, log
from glidepath.auth import LOCAL
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2
from glidepath.rpc.server import start_server
from glidepath.training.v1 import training_pb2 as pb
from model_registry_service.app import build_spec
from model_registry_service.config import RegistrySettings
from training_service import convert
from training_service.config import TrainingSettings
from training_service.jobs import JobRecord, JobState
from training_service.manager import JobManager, StartRequest
from training_service.registry import RegistryClient
from training_service.workers import WorkerPool

pytestmark = pytest.mark.slow


def _no_parent(ref: model_pb2.ModelRef) -> bytes:
    raise AssertionError("no parent in these tests")


def start_request(episodes: int, *, spending: float = 40000.0, seed: int = 1) -> StartRequest:
    message = pb.StartTrainingRequest(
        household=example_household_proto(spending), episodes=episodes, seed=seed
    )
    return convert.start_request(message, _no_parent)


def wait_for(
    manager: JobManager,
    job_id: str,
    predicate: Callable[[JobRecord], bool],
    timeout: float = 60.0,
) -> tuple[JobRecord, list[JobRecord]]:
    """Watch until ``predicate`` holds; (that record, every record seen)."""
    deadline = time.monotonic() + timeout
    seen: list[JobRecord] = []
    for record in manager.watch(job_id, LOCAL, lambda: time.monotonic() < deadline):
        seen.append(record)
        if predicate(record):
            return record, seen
    raise AssertionError(f"job {job_id} never matched; last seen: {seen[-1] if seen else None}")


@pytest.fixture
def registry_server(registry_start: Callable[..., Any]) -> Any:
    """A registry that does not run the consumers' weights check: the CartPole stand-in
    trainer's models are not glidepath policies (what these tests train is beside the
    point; the job machinery is)."""
    return registry_start(check_models=False)


@pytest.fixture
def make_manager(tmp_path: Path) -> Iterator[Callable[..., JobManager]]:
    managers: list[JobManager] = []

    def make(registry_addr: str, **overrides: Any) -> JobManager:
        options: dict[str, Any] = {
            "data_dir": tmp_path / "training",
            "registry_addr": registry_addr,
            "eval_lives": 5,
            "spool_retry_initial_seconds": 0.2,
            "spool_retry_max_seconds": 0.5,
            "registry_deadline_seconds": 5.0,
        }
        options.update(overrides)
        settings = TrainingSettings(**options)
        client = RegistryClient(registry_addr, deadline_seconds=settings.registry_deadline_seconds)
        manager = JobManager(settings, CARTPOLE_RUNNER, client.upload, warm_up=cartpole_warm_up)
        manager.start()
        managers.append(manager)
        return manager

    yield make
    for manager in managers:
        manager.shutdown()


def test_a_job_trains_evaluates_and_lands_in_the_registry(
    make_manager: Callable[..., JobManager], registry_server: Any
) -> None:
    manager = make_manager(registry_server.address)
    request = start_request(episodes=12, seed=3)
    record, joined = manager.submit(request, LOCAL)
    assert not joined
    assert record.state in (JobState.QUEUED, JobState.RUNNING)
    final, seen = wait_for(manager, record.job_id, lambda r: r.state.final)

    assert final.state == JobState.SUCCEEDED, final.message
    states = [r.state for r in seen]
    order = [JobState.QUEUED, JobState.RUNNING, JobState.EVALUATING, JobState.UPLOADING]
    assert [s for s in order if s in states] == [s for s in dict.fromkeys(states) if s in order]
    assert JobState.UPLOADING in states
    done = [r.episodes_done for r in seen]
    assert done == sorted(done) and done[-1] == 12
    assert final.timesteps > 0 and final.seed == 3

    stored = model_pb2.ModelMetadata.FromString(final.registered_model or b"")
    assert stored.file_name == f"rl_model_{request.model_hash}_12ep.zip"
    assert stored.algorithm == "PPO" and stored.timesteps == final.timesteps
    assert stored.canonical_parameters_json == request.canonical_json
    assert stored.evaluation.held_out_lives == 5
    assert "stable_baselines3" in stored.library_versions
    served = registry_server.stub.GetModel(
        registry_pb2.GetModelRequest(ref=stored.ref), timeout=5
    ).model
    assert served.sha256 == stored.sha256


def test_the_queue_is_bounded_duplicates_join_and_cancel_is_prompt(
    make_manager: Callable[..., JobManager], registry_server: Any
) -> None:
    manager = make_manager(registry_server.address, max_queued=1)
    long_job = start_request(episodes=1_000_000, spending=40000.0)
    first, _ = manager.submit(long_job, LOCAL)
    wait_for(manager, first.job_id, lambda r: r.episodes_done > 0)

    again, joined = manager.submit(
        start_request(episodes=1_000_000, spending=40000.0, seed=9), LOCAL
    )
    assert joined and again.job_id == first.job_id and again.requests == 2

    queued, joined = manager.submit(start_request(episodes=1_000_000, spending=41000.0), LOCAL)
    assert not joined and queued.state == JobState.QUEUED

    with pytest.raises(errors.ResourceExhausted, match="queue is full"):
        manager.submit(start_request(episodes=10, spending=42000.0), LOCAL)

    cancelled, _ = manager.cancel(queued.job_id, LOCAL)
    assert cancelled.state == JobState.CANCELLED
    assert manager.cancel(queued.job_id, LOCAL)[0].state == JobState.CANCELLED  # idempotent

    asked = time.monotonic()
    manager.cancel(first.job_id, LOCAL)
    final, _ = wait_for(manager, first.job_id, lambda r: r.state.final, timeout=60)
    took = time.monotonic() - asked
    assert final.state == JobState.CANCELLED
    assert took < 30, f"cancel took {took:.1f} s"

    # The worker is free again: a new job for the cancelled model starts afresh.
    fresh, joined = manager.submit(start_request(episodes=5, spending=40000.0), LOCAL)
    assert not joined and fresh.job_id != first.job_id
    assert wait_for(manager, fresh.job_id, lambda r: r.state.final)[0].state == JobState.SUCCEEDED
    with pytest.raises(errors.FailedPrecondition, match="already trained"):
        manager.cancel(fresh.job_id, LOCAL)


def test_a_worker_that_dies_or_ignores_a_cancel_is_replaced(
    make_manager: Callable[..., JobManager], registry_server: Any
) -> None:
    manager = make_manager(registry_server.address, cancel_grace_seconds=1.0)
    doomed, _ = manager.submit(start_request(episodes=10, seed=CRASH_SEED), LOCAL)
    final, _ = wait_for(manager, doomed.job_id, lambda r: r.state.final)
    assert final.state == JobState.FAILED
    assert "worker process died" in final.message

    stubborn, _ = manager.submit(start_request(episodes=10, seed=STUBBORN_SEED), LOCAL)
    wait_for(manager, stubborn.job_id, lambda r: r.episodes_done > 0)
    asked = time.monotonic()
    manager.cancel(stubborn.job_id, LOCAL)
    final, _ = wait_for(manager, stubborn.job_id, lambda r: r.state.final)
    assert final.state == JobState.CANCELLED
    assert time.monotonic() - asked < 30  # killed after the 1 s grace, not after 60 s

    after, _ = manager.submit(start_request(episodes=5, spending=43000.0), LOCAL)
    final, _ = wait_for(manager, after.job_id, lambda r: r.state.final)
    assert final.state == JobState.SUCCEEDED, final.message


def test_a_model_waits_in_the_spool_until_the_registry_comes_up(
    make_manager: Callable[..., JobManager], tmp_path: Path
) -> None:
    port = free_port()
    manager = make_manager(f"127.0.0.1:{port}")
    record, _ = manager.submit(start_request(episodes=5, seed=4), LOCAL)
    waiting, _ = wait_for(manager, record.job_id, lambda r: "spool" in r.message)
    assert waiting.state == JobState.UPLOADING
    assert "registry unreachable" in waiting.message
    assert (tmp_path / "training" / "spool" / record.job_id / "model.zip").is_file()

    registry = start_server(
        build_spec(RegistrySettings(models_dir=tmp_path / "models", check_models=False)),
        "127.0.0.1",
        port,
    )
    try:
        final, _ = wait_for(manager, record.job_id, lambda r: r.state.final, timeout=30)
        assert final.state == JobState.SUCCEEDED, final.message
        stored = model_pb2.ModelMetadata.FromString(final.registered_model or b"")
        assert (tmp_path / "models" / stored.file_name).is_file()
        entry = tmp_path / "training" / "spool" / record.job_id
        deadline = time.monotonic() + 10
        while entry.exists() and time.monotonic() < deadline:  # removed just after landing
            time.sleep(0.05)
        assert not entry.exists()
    finally:
        registry.stop(grace=1.0)


def test_list_is_newest_first_and_filters(
    make_manager: Callable[..., JobManager], registry_server: Any
) -> None:
    manager = make_manager(registry_server.address, max_queued=4)
    ids = [
        manager.submit(start_request(10**6, spending=50000.0 + 1000 * i), LOCAL)[0].job_id
        for i in range(3)
    ]
    page, following = manager.list(LOCAL, limit=2)
    assert [r.job_id for r in page] == ids[::-1][:2] and following is not None
    newer, _ = manager.submit(start_request(10**6, spending=60000.0), LOCAL)  # does not shift pages
    rest, following = manager.list(LOCAL, after=following, limit=2)
    assert [r.job_id for r in rest] == ids[:1] and following is None
    ids.append(newer.job_id)
    queued, _ = manager.list(LOCAL, states=frozenset({JobState.QUEUED}))
    assert {r.job_id for r in queued} == set(ids[1:])
    for job_id in ids:
        manager.cancel(job_id, LOCAL)


def test_a_request_just_after_a_cancel_starts_a_new_job(
    make_manager: Callable[..., JobManager], registry_server: Any
) -> None:
    """The job being cancelled keeps running until its worker stops (here: a trainer that
    ignores the cancel for its whole grace); a request for its model in that moment used
    to join it and end CANCELLED with it."""
    manager = make_manager(registry_server.address, cancel_grace_seconds=60.0)
    doomed, _ = manager.submit(start_request(episodes=10, seed=STUBBORN_SEED), LOCAL)
    wait_for(manager, doomed.job_id, lambda r: r.episodes_done > 0)
    stopping, detached = manager.cancel(doomed.job_id, LOCAL)
    assert stopping.state == JobState.RUNNING and not detached  # still stopping

    fresh, joined = manager.submit(start_request(episodes=10, seed=5), LOCAL)
    assert not joined and fresh.job_id != doomed.job_id
    assert fresh.requests == 1 and not fresh.cancel_requested
    assert manager.get(doomed.job_id, LOCAL).state == JobState.RUNNING  # both exist at once
    manager.cancel(fresh.job_id, LOCAL)  # queued behind the stubborn one: gone at once
    assert manager.get(fresh.job_id, LOCAL).state == JobState.CANCELLED


def test_a_job_given_to_a_worker_killed_while_idle_waits_for_its_replacement(
    make_manager: Callable[..., JobManager], registry_server: Any
) -> None:
    """Real worker processes: an idle worker is killed, and a job arrives before the pool
    has noticed. The event reader is held still (it waits for the manager's lock while it
    delivers a busy worker's progress), so the job always arrives in that moment; it used
    to be handed to the dead worker and fail at once with "worker process died"."""
    manager = make_manager(
        registry_server.address, workers=2, max_concurrent=2, cancel_grace_seconds=1.0
    )
    deadline = time.monotonic() + 120
    while manager.ready_workers() < 2:
        assert time.monotonic() < deadline, "the workers never warmed up"
        time.sleep(0.1)
    busy, _ = manager.submit(start_request(episodes=10, seed=STUBBORN_SEED), LOCAL)
    wait_for(manager, busy.job_id, lambda r: r.episodes_done > 0)
    pool = manager._pool
    assert isinstance(pool, WorkerPool)
    idle = next(slot for slot in pool._slots if slot.job_id is None)
    with manager._cond:  # the reader blocks on its next progress delivery
        time.sleep(1.0)  # the stubborn trainer reports every 0.1 s
        idle.process.kill()
        idle.process.join(timeout=10)
        arrived, _ = manager.submit(start_request(episodes=5, spending=44000.0), LOCAL)
    final, _ = wait_for(manager, arrived.job_id, lambda r: r.state.final, timeout=120)
    assert final.state == JobState.SUCCEEDED, final.message
    manager.cancel(busy.job_id, LOCAL)
    wait_for(manager, busy.job_id, lambda r: r.state.final)


def test_a_warm_worker_says_how_long_its_warm_up_took(
    make_manager: Callable[..., JobManager],
    registry_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The ``worker_ready`` line: until it, a job given to the worker waits for its
    imports (``benchmarks/bench_e2e.py`` times option A from it)."""
    stream = io.StringIO()
    monkeypatch.setattr(log, "_stream", stream)
    manager = make_manager(registry_server.address)
    deadline = time.monotonic() + 120
    while manager.ready_workers() < 1:
        assert time.monotonic() < deadline, "the worker never warmed up"
        time.sleep(0.1)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    [ready] = [line for line in lines if line["event"] == "worker_ready"]
    assert ready["worker"] == 0 and ready["seconds"] > 0
