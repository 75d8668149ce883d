"""The training service over gRPC, with the real RL trainer and a real registry.

One registry and one training service (with its warm worker) serve the whole module, so
the SB3/torch import is paid once; each test uses its own household (its own hash).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from training_support import example_household_proto

from glidepath.common.v1 import model_pb2
from glidepath.household.canonical import canonical_json, canonicalize
from glidepath.household.convert import household_from_proto
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.server import RunningServer, start_server
from glidepath.rpc.status import bad_fields
from glidepath.training.v1 import training_pb2 as pb
from glidepath.training.v1 import training_pb2_grpc
from model_registry_service.app import build_spec
from model_registry_service.config import RegistrySettings
from training_service.app import build_app
from training_service.config import TrainingSettings
from training_service.service import SERVICE_NAME

pytestmark = pytest.mark.slow

TIMEOUT = 10.0  # seconds: every unary call's deadline
# A fine-tuning request checks its parent with torch, which the service imports in the
# background at start-up: on a loaded machine the first one may wait for that import.
PARENT_TIMEOUT = 60.0
FINAL = {pb.TRAINING_STATE_SUCCEEDED, pb.TRAINING_STATE_FAILED, pb.TRAINING_STATE_CANCELLED}


@dataclass
class Stack:
    registry: registry_pb2_grpc.ModelRegistryStub
    training: training_pb2_grpc.TrainingServiceStub
    models_dir: Path


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("training_service")
    registry = start_server(build_spec(RegistrySettings(models_dir=root / "models")))
    settings = TrainingSettings(
        data_dir=root / "training",
        registry_addr=f"127.0.0.1:{registry.port}",
        max_queued=1,
        eval_lives=50,
        registry_deadline_seconds=10.0,
    )
    app = build_app(settings)
    training: RunningServer = start_server(app.spec)
    channels = [open_channel(f"127.0.0.1:{p}") for p in (registry.port, training.port)]
    wait_until_serving(channels[1], SERVICE_NAME)
    yield Stack(
        registry=registry_pb2_grpc.ModelRegistryStub(channels[0]),
        training=training_pb2_grpc.TrainingServiceStub(channels[1]),
        models_dir=root / "models",
    )
    for channel in channels:
        channel.close()
    training.stop(grace=1.0)
    registry.stop(grace=1.0)


def household(spending: float) -> Any:
    return example_household_proto(spending)


def watch_until(
    stack: Stack, job_id: str, final: bool = True, timeout: float = 120.0
) -> list[pb.TrainingJob]:
    """Every message of a watch, until a final state."""
    seen: list[pb.TrainingJob] = []
    for message in stack.training.WatchTraining(
        pb.WatchTrainingRequest(job_id=job_id), timeout=timeout
    ):
        seen.append(message.job)
    assert seen and (not final or seen[-1].state in FINAL)
    return seen


def rpc_error(call: Any, request: Any) -> grpc.RpcError:
    try:
        call(request, timeout=TIMEOUT)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded but should have failed")


def test_a_training_starts_at_once_streams_progress_and_lands_in_the_registry(
    stack: Stack,
) -> None:
    asked = time.monotonic()
    started = stack.training.StartTraining(
        pb.StartTrainingRequest(household=household(40000), episodes=64, seed=11),
        timeout=TIMEOUT,
    )
    assert time.monotonic() - asked < 5.0  # a job id at once, not a finished training
    job = started.job
    assert not started.joined and len(job.job_id) == 32
    assert job.state in (pb.TRAINING_STATE_QUEUED, pb.TRAINING_STATE_RUNNING)
    assert job.episodes_total == 64 and job.algorithm == "PPO" and job.seed == 11

    seen = watch_until(stack, job.job_id)
    final = seen[-1]
    assert final.state == pb.TRAINING_STATE_SUCCEEDED, final.message
    states = list(dict.fromkeys(m.state for m in seen))
    assert states[-3:] == [
        pb.TRAINING_STATE_EVALUATING,
        pb.TRAINING_STATE_UPLOADING,
        pb.TRAINING_STATE_SUCCEEDED,
    ]
    assert final.episodes_done == 64 and final.timesteps > 0
    assert final.HasField("mean_episode_reward")
    assert final.elapsed_seconds > 0 and final.HasField("finished_at")
    assert not final.HasField("estimated_seconds_left")

    # The final message names the registry's model; the registry serves it.
    stored = final.registered_model
    assert stored.ref == final.model
    assert stored.file_name == f"rl_model_{final.model.model_hash}_64ep.zip"
    assert (stack.models_dir / stored.file_name).is_file()
    found = stack.registry.FindCompatibleModel(
        registry_pb2.FindCompatibleModelRequest(model_hash=final.model.model_hash, min_episodes=1),
        timeout=TIMEOUT,
    ).model
    assert found.sha256 == stored.sha256
    # Its metadata: evaluation on held-out lives, hyperparameters, versions, parameters.
    assert stored.evaluation.held_out_lives == 50 and len(stored.evaluation.strategies) > 1
    assert final.evaluation == stored.evaluation
    assert stored.algorithm == "PPO" and stored.timesteps == final.timesteps
    assert "stable_baselines3" in stored.library_versions and stored.hyperparameters_json
    expected = canonical_json(canonicalize(household_from_proto(household(40000))))
    assert stored.canonical_parameters_json == expected
    assert stored.training_seconds > 0

    got = stack.training.GetTraining(pb.GetTrainingRequest(job_id=job.job_id), timeout=TIMEOUT)
    assert got.job == final
    again = rpc_error(
        stack.training.StartTraining,
        pb.StartTrainingRequest(household=household(40000), episodes=64, seed=12),
    )
    assert again.code() == grpc.StatusCode.ALREADY_EXISTS
    assert stored.file_name in (again.details() or "")
    listed = stack.training.ListTrainings(
        pb.ListTrainingsRequest(states=[pb.TRAINING_STATE_SUCCEEDED]), timeout=TIMEOUT
    )
    assert job.job_id in [j.job_id for j in listed.jobs]


def test_a_watcher_that_disconnects_can_reattach_and_duplicates_join(stack: Stack) -> None:
    request = pb.StartTrainingRequest(household=household(41000), episodes=1024, seed=5)
    job = stack.training.StartTraining(request, timeout=TIMEOUT).job

    again = stack.training.StartTraining(request, timeout=TIMEOUT)
    assert again.joined and again.job.job_id == job.job_id and again.job.requests == 2

    call = stack.training.WatchTraining(pb.WatchTrainingRequest(job_id=job.job_id), timeout=60)
    first = next(call)
    assert first.job.job_id == job.job_id
    call.cancel()  # the client goes away mid-stream

    seen = watch_until(stack, job.job_id)
    assert seen[0].state != pb.TRAINING_STATE_UNSPECIFIED  # the current state first
    assert seen[-1].state == pb.TRAINING_STATE_SUCCEEDED, seen[-1].message
    assert seen[-1].registered_model.ref.episodes == 1024
    done = [m.episodes_done for m in seen]
    assert done == sorted(done)


def test_queue_full_then_cancel_running_and_queued(stack: Stack) -> None:
    running = stack.training.StartTraining(
        pb.StartTrainingRequest(household=household(42000), episodes=500_000), timeout=TIMEOUT
    ).job
    for message in stack.training.WatchTraining(
        pb.WatchTrainingRequest(job_id=running.job_id), timeout=60
    ):
        if message.job.episodes_done > 0:
            assert message.job.state == pb.TRAINING_STATE_RUNNING
            assert message.job.HasField("estimated_seconds_left")
            break
    queued = stack.training.StartTraining(
        pb.StartTrainingRequest(household=household(43000), episodes=100), timeout=TIMEOUT
    ).job
    assert queued.state == pb.TRAINING_STATE_QUEUED
    error = rpc_error(
        stack.training.StartTraining,
        pb.StartTrainingRequest(household=household(44000), episodes=100),
    )
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "queue is full" in (error.details() or "")

    cancelled = stack.training.CancelTraining(
        pb.CancelTrainingRequest(job_id=queued.job_id), timeout=TIMEOUT
    ).job
    assert cancelled.state == pb.TRAINING_STATE_CANCELLED

    asked = time.monotonic()
    stack.training.CancelTraining(pb.CancelTrainingRequest(job_id=running.job_id), timeout=TIMEOUT)
    final = watch_until(stack, running.job_id, timeout=60)[-1]
    took = time.monotonic() - asked
    assert final.state == pb.TRAINING_STATE_CANCELLED
    assert took < 30, f"cancel took {took:.1f} s"
    assert final.episodes_done < final.episodes_total


def test_fine_tuning_from_a_registry_model_names_its_parent(stack: Stack) -> None:
    parent = stack.training.StartTraining(
        pb.StartTrainingRequest(household=household(45000), episodes=64, seed=1), timeout=TIMEOUT
    ).job
    parent_final = watch_until(stack, parent.job_id)[-1]
    assert parent_final.state == pb.TRAINING_STATE_SUCCEEDED, parent_final.message

    child = stack.training.StartTraining(
        pb.StartTrainingRequest(
            household=household(45000), episodes=128, seed=2, parent=parent_final.model
        ),
        timeout=PARENT_TIMEOUT,
    ).job
    assert child.parent == parent_final.model
    final = watch_until(stack, child.job_id)[-1]
    assert final.state == pb.TRAINING_STATE_SUCCEEDED, final.message
    assert final.registered_model.parent == parent_final.model


def test_bad_requests_name_the_field(stack: Stack) -> None:
    start = stack.training.StartTraining
    cases: list[tuple[pb.StartTrainingRequest, str]] = [
        (pb.StartTrainingRequest(episodes=10), "household"),
        (pb.StartTrainingRequest(household=household(40000), episodes=2_000_000), "episodes"),
        (pb.StartTrainingRequest(household=household(40000), algorithm="DQN"), "algorithm"),
        (pb.StartTrainingRequest(household=household(40000), seed=2**40), "seed"),
        (
            pb.StartTrainingRequest(
                household=household(40000), parent=model_pb2.ModelRef(model_hash="XYZ", episodes=1)
            ),
            "parent.model_hash",
        ),
    ]
    bad_household = household(40000)
    bad_household.adults[0].current_age = 70
    cases.append((pb.StartTrainingRequest(household=bad_household), "household.adults[0]"))
    for request, field in cases:
        error = rpc_error(start, request)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, field
        assert any(f.startswith(field) for f in bad_fields(error)), (field, bad_fields(error))

    missing_parent = pb.StartTrainingRequest(
        household=household(40000), parent=model_pb2.ModelRef(model_hash="0" * 16, episodes=9)
    )
    assert rpc_error(start, missing_parent).code() == grpc.StatusCode.NOT_FOUND


def test_unknown_and_malformed_job_ids(stack: Stack) -> None:
    unknown = "0" * 32
    for call, request in [
        (stack.training.GetTraining, pb.GetTrainingRequest(job_id=unknown)),
        (stack.training.CancelTraining, pb.CancelTrainingRequest(job_id=unknown)),
    ]:
        assert rpc_error(call, request).code() == grpc.StatusCode.NOT_FOUND
    with pytest.raises(grpc.RpcError) as caught:
        list(stack.training.WatchTraining(pb.WatchTrainingRequest(job_id=unknown), timeout=5))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    error = rpc_error(stack.training.GetTraining, pb.GetTrainingRequest(job_id="../etc"))
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT and bad_fields(error) == ["job_id"]
    error = rpc_error(stack.training.ListTrainings, pb.ListTrainingsRequest(page_size=10_000))
    assert bad_fields(error) == ["page_size"]
    error = rpc_error(stack.training.ListTrainings, pb.ListTrainingsRequest(page_token="junk"))
    assert bad_fields(error) == ["page_token"]


def test_names_are_matched_whole_and_echoes_are_clipped(stack: Stack) -> None:
    """A trailing newline passes ``re.match`` with ``$``; a 4 MB id echoed whole once made
    the error too large for gRPC's metadata (RESOURCE_EXHAUSTED instead of the answer)."""
    for job_id in ["0" * 32 + "\n", "0" * 32 + "0", "0" * 4_000_000]:
        for call, request in [
            (stack.training.GetTraining, pb.GetTrainingRequest(job_id=job_id)),
            (stack.training.CancelTraining, pb.CancelTrainingRequest(job_id=job_id)),
        ]:
            error = rpc_error(call, request)
            assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
            assert bad_fields(error) == ["job_id"] and len(error.details() or "") < 300
    for model_hash in ["0" * 16 + "\n", "0" * 4_000_000]:
        error = rpc_error(
            stack.training.ListTrainings, pb.ListTrainingsRequest(model_hash=model_hash)
        )
        assert bad_fields(error) == ["model_hash"] and len(error.details() or "") < 300
        parent = model_pb2.ModelRef(model_hash=model_hash, episodes=9)
        error = rpc_error(
            stack.training.StartTraining,
            pb.StartTrainingRequest(household=household(40000), parent=parent),
        )
        assert bad_fields(error) == ["parent.model_hash"] and len(error.details() or "") < 300
    token = "1.0/" + "0" * 32 + "\n"
    error = rpc_error(stack.training.ListTrainings, pb.ListTrainingsRequest(page_token=token))
    assert bad_fields(error) == ["page_token"]
    error = rpc_error(
        stack.training.StartTraining,
        pb.StartTrainingRequest(household=household(40000), algorithm="X" * 4_000_000),
    )
    assert bad_fields(error) == ["algorithm"] and len(error.details() or "") < 300


def test_listing_pages_newest_first(stack: Stack) -> None:
    stack.training.StartTraining(  # at least two jobs exist, whatever ran before
        pb.StartTrainingRequest(household=household(46000), episodes=32), timeout=TIMEOUT
    )
    stack.training.StartTraining(
        pb.StartTrainingRequest(household=household(47000), episodes=32), timeout=TIMEOUT
    )
    first = stack.training.ListTrainings(pb.ListTrainingsRequest(page_size=1), timeout=TIMEOUT)
    assert len(first.jobs) == 1 and first.next_page_token
    second = stack.training.ListTrainings(
        pb.ListTrainingsRequest(page_size=1, page_token=first.next_page_token), timeout=TIMEOUT
    )
    assert len(second.jobs) == 1 and second.jobs[0].job_id != first.jobs[0].job_id
    assert second.jobs[0].created_at.ToNanoseconds() <= first.jobs[0].created_at.ToNanoseconds()
    everything = stack.training.ListTrainings(pb.ListTrainingsRequest(), timeout=TIMEOUT).jobs
    assert [j.job_id for j in everything[:2]] == [first.jobs[0].job_id, second.jobs[0].job_id]
    for job in everything:
        if job.state not in FINAL:
            stack.training.CancelTraining(
                pb.CancelTrainingRequest(job_id=job.job_id), timeout=TIMEOUT
            )
