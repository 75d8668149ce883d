"""Fine-tuning and model identity over gRPC: a real registry and a real training service
(the real RL trainer) on loopback ports.

A fine-tuned model is named after every life its weights saw (the parent's included),
records its parent and the episodes it added, and coexists with a model trained from
scratch whose episode count would have been the same: neither de-duplication nor the
registry's one-model-per-name rule lets one lineage take the other's place.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from registry_support import other_layout_zip
from training_support import example_household_proto

from glidepath.common.v1 import model_pb2
from glidepath.household.canonical import canonicalize, household_hash
from glidepath.household.convert import household_from_proto
from glidepath.models import ModelKey
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.server import RunningServer, start_server
from glidepath.rpc.status import error_reason
from glidepath.training.v1 import training_pb2 as pb
from glidepath.training.v1 import training_pb2_grpc
from glidepath.versions import POLICY_LAYOUT_VERSION
from model_registry_service.app import build_spec
from model_registry_service.config import RegistrySettings
from model_registry_service.storage import ModelStore
from training_service.app import build_app
from training_service.config import TrainingSettings
from training_service.service import SERVICE_NAME

pytestmark = pytest.mark.slow

TIMEOUT = 10.0
PARENT_TIMEOUT = 60.0  # the first parent check may wait for torch's background import
FINAL = {pb.TRAINING_STATE_SUCCEEDED, pb.TRAINING_STATE_FAILED, pb.TRAINING_STATE_CANCELLED}


@dataclass
class Stack:
    registry: registry_pb2_grpc.ModelRegistryStub
    training: training_pb2_grpc.TrainingServiceStub


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("training_finetune")
    _store_foreign_layout(root / "models")
    registry: RunningServer = start_server(build_spec(RegistrySettings(models_dir=root / "models")))
    settings = TrainingSettings(
        data_dir=root / "training",
        registry_addr=f"127.0.0.1:{registry.port}",
        max_queued=4,
        max_concurrent=1,  # one job at a time: the second waits, and its message says why
        workers=1,
        eval_lives=50,
        registry_deadline_seconds=10.0,
    )
    training: RunningServer = start_server(build_app(settings).spec)
    channels = [open_channel(f"127.0.0.1:{p}") for p in (registry.port, training.port)]
    wait_until_serving(channels[1], SERVICE_NAME)
    yield Stack(
        registry=registry_pb2_grpc.ModelRegistryStub(channels[0]),
        training=training_pb2_grpc.TrainingServiceStub(channels[1]),
    )
    for channel in channels:
        channel.close()
    training.stop(grace=1.0)
    registry.stop(grace=1.0)


FOREIGN = model_pb2.ModelRef(model_hash="a1b2c3d4e5f60718", episodes=900)


def _store_foreign_layout(models_dir: Path) -> None:
    """A model of another policy layout, as a registry from before the weights check
    stored it (today's refuses it): adopted by a store that does not check weights."""
    models_dir.mkdir(parents=True)
    key = ModelKey(FOREIGN.model_hash, FOREIGN.episodes)
    (models_dir / key.file_name).write_bytes(other_layout_zip())
    store = ModelStore(models_dir, max_bytes=100 * 1024 * 1024, check_model=None)
    try:
        store.get(key)
    finally:
        store.close()


def start(
    stack: Stack,
    spending: float,
    episodes: int,
    seed: int,
    parent: model_pb2.ModelRef | None = None,
) -> pb.StartTrainingResponse:
    request = pb.StartTrainingRequest(
        household=example_household_proto(spending), episodes=episodes, seed=seed
    )
    if parent is not None:
        request.parent.CopyFrom(parent)
    reply: pb.StartTrainingResponse = stack.training.StartTraining(request, timeout=PARENT_TIMEOUT)
    return reply


def finish(stack: Stack, job: pb.TrainingJob) -> pb.TrainingJob:
    last = job
    for message in stack.training.WatchTraining(
        pb.WatchTrainingRequest(job_id=job.job_id), timeout=180
    ):
        last = message.job
    assert last.state in FINAL
    assert last.state == pb.TRAINING_STATE_SUCCEEDED, last.message
    return last


def error_of(call: Any, *args: Any, **kwargs: Any) -> grpc.RpcError:
    try:
        call(*args, **kwargs)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded but should have failed")


def test_a_fine_tuning_counts_its_parents_episodes_and_coexists_with_a_scratch_model(
    stack: Stack,
) -> None:
    spending = 47000.0
    model_hash = household_hash(canonicalize(household_from_proto(example_household_proto(47000))))
    parent = finish(stack, start(stack, spending, 32, seed=1).job).registered_model
    assert parent.ref.episodes == 32 and parent.episodes_added == 32
    assert parent.kind == model_pb2.MODEL_KIND_PROFILE and not parent.HasField("parent")
    assert parent.policy_layout_version == POLICY_LAYOUT_VERSION and parent.policy_family

    # Both want rl_model_{hash}_48ep.zip, at the same time: a fine-tuning of 16 episodes
    # from the 32 and a training of 48 from scratch. They are different models: neither
    # joins the other, and the one asked second trains one more episode so its name is free.
    child_job = start(stack, spending, 16, seed=2, parent=parent.ref)
    scratch_job = start(stack, spending, 48, seed=3)
    assert not child_job.joined and not scratch_job.joined
    assert child_job.job.job_id != scratch_job.job.job_id
    assert child_job.job.model.episodes == 48 and child_job.job.episodes_total == 16
    assert child_job.job.parent == parent.ref
    assert scratch_job.job.model.episodes == 49 and scratch_job.job.episodes_total == 49
    assert "48ep.zip" in scratch_job.job.message
    # Asked again, the training from scratch of 48 is the job already making 49: it joins.
    same = start(stack, spending, 48, seed=7)
    assert same.joined and same.job.job_id == scratch_job.job.job_id

    child_final = finish(stack, child_job.job)
    child = child_final.registered_model
    assert child_final.episodes_done == 16
    assert child.file_name == f"rl_model_{model_hash}_48ep.zip"
    assert child.parent == parent.ref and child.episodes_added == 16
    assert child.kind == model_pb2.MODEL_KIND_PROFILE
    assert child.sha256 != parent.sha256  # trained on: other weights
    scratch = finish(stack, scratch_job.job).registered_model
    assert scratch.file_name == f"rl_model_{model_hash}_49ep.zip"
    assert not scratch.HasField("parent") and scratch.episodes_added == 49

    # The same fine-tuning again is the model already stored ...
    again = error_of(
        stack.training.StartTraining,
        pb.StartTrainingRequest(
            household=example_household_proto(spending), episodes=16, parent=parent.ref
        ),
        timeout=PARENT_TIMEOUT,
    )
    assert again.code() == grpc.StatusCode.ALREADY_EXISTS
    assert child.file_name in (again.details() or "")
    # ... while a training from scratch of 48 is another model: the fine-tuned one holds
    # 48 and the scratch model 49, so it trains 50, the first free name.
    next_scratch = start(stack, spending, 48, seed=4).job
    assert next_scratch.model.episodes == 50, next_scratch.message
    stack.training.CancelTraining(
        pb.CancelTrainingRequest(job_id=next_scratch.job_id), timeout=TIMEOUT
    )

    # The lineage is a tree: the parent has a child, and the child can have its own.
    grandchild = finish(stack, start(stack, spending, 8, seed=5, parent=child.ref).job)
    assert grandchild.registered_model.ref.episodes == 56
    assert grandchild.registered_model.parent == child.ref
    listed = stack.registry.ListModels(
        registry_pb2.ListModelsRequest(model_hash=model_hash), timeout=TIMEOUT
    ).models
    children = {m.file_name: m.parent.episodes for m in listed if m.HasField("parent")}
    assert children == {child.file_name: 32, grandchild.registered_model.file_name: 48}


def test_a_bad_start_model_is_refused_in_one_line(stack: Stack) -> None:
    error = error_of(start, stack, 48000.0, 16, 1, FOREIGN)
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(error) == "INVALID_MODEL"
    details = error.details() or ""
    assert "\n" not in details and "900ep.zip" in details

    missing = model_pb2.ModelRef(model_hash=FOREIGN.model_hash, episodes=901)
    error = error_of(start, stack, 48000.0, 16, 1, missing)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert "\n" not in (error.details() or "") and "901ep.zip" in (error.details() or "")
