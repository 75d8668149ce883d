"""The training service with users: credentials, owners, per-user bounds, parents.

A registry and a training service (real RL trainer, one warm worker) share one users
file: alice and bob (users), root (admin) and trainer (the service credential the
training service presents to the registry). Each test uses its own households.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from training_support import example_household_proto

from glidepath import log
from glidepath.auth import ON_BEHALF_OF_METADATA, Role, add_user
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2, registry_pb2_grpc
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.server import RunningServer, start_server
from glidepath.rpc.status import error_reason
from glidepath.training.v1 import training_pb2 as pb
from glidepath.training.v1 import training_pb2_grpc
from model_registry_service.app import build_spec
from model_registry_service.config import RegistrySettings
from training_service.app import build_app
from training_service.config import TrainingSettings
from training_service.service import SERVICE_NAME

pytestmark = pytest.mark.slow

TIMEOUT = 10.0
FINAL = {pb.TRAINING_STATE_SUCCEEDED, pb.TRAINING_STATE_FAILED, pb.TRAINING_STATE_CANCELLED}
MAX_MODEL_BYTES = 1_000_000  # the training service's limit in this stack


@dataclass
class Stack:
    training: training_pb2_grpc.TrainingServiceStub
    registry_channel: grpc.Channel
    models_dir: Path
    tokens: dict[str, str]

    @property
    def registry(self) -> registry_pb2_grpc.ModelRegistryStub:
        return registry_pb2_grpc.ModelRegistryStub(self.registry_channel)

    def stored(self, who: str, ref: model_pb2.ModelRef) -> model_pb2.ModelMetadata:
        reply: registry_pb2.GetModelResponse = self.registry.GetModel(
            registry_pb2.GetModelRequest(ref=ref), timeout=TIMEOUT, metadata=self.as_(who)
        )
        return reply.model

    def as_(self, who: str | None, for_user: str | None = None) -> tuple[tuple[str, str], ...]:
        """Call metadata for ``who`` (None: no credential), acting for ``for_user``."""
        metadata: tuple[tuple[str, str], ...] = ()
        if who is not None:
            metadata = (("authorization", f"Bearer {self.tokens[who]}"),)
        if for_user is not None:
            metadata = (*metadata, (ON_BEHALF_OF_METADATA, for_user))
        return metadata


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("training_users")
    users = root / "users.json"
    tokens = {
        "alice": add_user(users, "alice"),
        "bob": add_user(users, "bob"),
        "root": add_user(users, "root", Role.ADMIN),
        "trainer": add_user(users, "trainer", Role.SERVICE),
    }
    _store_unchecked_parents(root / "models")
    registry: RunningServer = start_server(
        build_spec(RegistrySettings(models_dir=root / "models", users_file=users))
    )
    settings = TrainingSettings(
        data_dir=root / "training",
        registry_addr=f"127.0.0.1:{registry.port}",
        users_file=users,
        service_token=tokens["trainer"],
        max_queued=4,
        max_queued_per_user=1,
        max_episodes_per_user=600_000,
        max_watches_per_user=2,
        max_model_bytes=MAX_MODEL_BYTES,
        eval_lives=50,
        registry_deadline_seconds=10.0,
    )
    training: RunningServer = start_server(build_app(settings).spec)
    channels = [open_channel(f"127.0.0.1:{p}") for p in (registry.port, training.port)]
    wait_until_serving(channels[1], SERVICE_NAME)
    yield Stack(
        training=training_pb2_grpc.TrainingServiceStub(channels[1]),
        registry_channel=channels[0],
        models_dir=root / "models",
        tokens=tokens,
    )
    for channel in channels:
        channel.close()
    training.stop(grace=1.0)
    registry.stop(grace=1.0)


def rpc_error(call: Any, request: Any, metadata: Any, timeout: float = TIMEOUT) -> grpc.RpcError:
    try:
        call(request, timeout=timeout, metadata=metadata)
    except grpc.RpcError as exc:
        return exc
    raise AssertionError("the call succeeded but should have failed")


def start(stack: Stack, who: str, spending: float, episodes: int, **kw: Any) -> Any:
    request = pb.StartTrainingRequest(
        household=example_household_proto(spending), episodes=episodes, **kw
    )
    return stack.training.StartTraining(request, timeout=TIMEOUT, metadata=stack.as_(who))


def get(stack: Stack, who: str | None, job_id: str, for_user: str | None = None) -> pb.TrainingJob:
    reply: pb.GetTrainingResponse = stack.training.GetTraining(
        pb.GetTrainingRequest(job_id=job_id), timeout=TIMEOUT, metadata=stack.as_(who, for_user)
    )
    return reply.job


def listed(stack: Stack, who: str | None) -> set[str]:
    reply = stack.training.ListTrainings(
        pb.ListTrainingsRequest(page_size=500), timeout=TIMEOUT, metadata=stack.as_(who)
    )
    return {job.job_id for job in reply.jobs}


def cancel(stack: Stack, who: str, job_id: str) -> pb.CancelTrainingResponse:
    reply: pb.CancelTrainingResponse = stack.training.CancelTraining(
        pb.CancelTrainingRequest(job_id=job_id), timeout=TIMEOUT, metadata=stack.as_(who)
    )
    return reply


def watch_to_the_end(stack: Stack, who: str, job_id: str) -> pb.TrainingJob:
    last: pb.TrainingJob | None = None
    for message in stack.training.WatchTraining(
        pb.WatchTrainingRequest(job_id=job_id), timeout=180, metadata=stack.as_(who)
    ):
        last = message.job
    assert last is not None and last.state in FINAL, last
    return last


def test_writes_need_a_credential_and_each_user_sees_and_cancels_only_their_jobs(
    stack: Stack,
) -> None:
    for call, request in [
        (
            stack.training.StartTraining,
            pb.StartTrainingRequest(household=example_household_proto()),
        ),
        (stack.training.CancelTraining, pb.CancelTrainingRequest(job_id="0" * 32)),
    ]:
        refused = rpc_error(call, request, ())
        assert refused.code() == grpc.StatusCode.UNAUTHENTICATED

    job = start(stack, "alice", 52000, 500_000).job
    assert job.owner == "alice"
    unknown = rpc_error(stack.training.GetTraining, pb.GetTrainingRequest(job_id="0" * 32), ())
    # Another user's job answers exactly as an unknown id does, naming no household.
    for who in ("bob", None):
        for call, request in [
            (stack.training.GetTraining, pb.GetTrainingRequest(job_id=job.job_id)),
            (stack.training.CancelTraining, pb.CancelTrainingRequest(job_id=job.job_id)),
        ]:
            if who is None and call == stack.training.CancelTraining:
                continue  # refused earlier, for want of a credential
            hidden = rpc_error(call, request, stack.as_(who))
            assert hidden.code() == grpc.StatusCode.NOT_FOUND
            assert error_reason(hidden) == error_reason(unknown) == "JOB_NOT_FOUND"
            assert job.model.model_hash not in (hidden.details() or "")
        with pytest.raises(grpc.RpcError) as watched:
            next(
                stack.training.WatchTraining(
                    pb.WatchTrainingRequest(job_id=job.job_id),
                    timeout=TIMEOUT,
                    metadata=stack.as_(who),
                )
            )
        assert watched.value.code() == grpc.StatusCode.NOT_FOUND
        assert job.job_id not in listed(stack, who)
    assert job.job_id in listed(stack, "alice") and job.job_id in listed(stack, "root")
    assert get(stack, "root", job.job_id).owner == "alice"
    # A service relaying a user's call acts as that user, with that user's view.
    assert get(stack, "trainer", job.job_id, for_user="alice").owner == "alice"
    relayed = rpc_error(
        stack.training.GetTraining,
        pb.GetTrainingRequest(job_id=job.job_id),
        stack.as_("trainer", for_user="bob"),
    )
    assert relayed.code() == grpc.StatusCode.NOT_FOUND

    # bob asks for the same model: he joins alice's job, without learning who she is.
    joined = start(stack, "bob", 52000, 500_000)
    assert joined.joined and joined.job.job_id == job.job_id
    assert joined.job.requests == 2 and joined.job.owner == ""
    # alice cancels: she is detached, the job goes on for bob, who now owns it.
    mine = cancel(stack, "alice", job.job_id)
    assert mine.detached and mine.job.requests == 1
    assert mine.job.state in (pb.TRAINING_STATE_QUEUED, pb.TRAINING_STATE_RUNNING)
    assert (
        rpc_error(
            stack.training.GetTraining, pb.GetTrainingRequest(job_id=job.job_id), stack.as_("alice")
        ).code()
        == grpc.StatusCode.NOT_FOUND
    )
    after = get(stack, "bob", job.job_id)
    assert after.owner == "bob" and after.state != pb.TRAINING_STATE_CANCELLED
    # bob cancels: nobody is left, the job itself stops.
    last = cancel(stack, "bob", job.job_id)
    assert not last.detached
    assert watch_to_the_end(stack, "bob", job.job_id).state == pb.TRAINING_STATE_CANCELLED


def test_one_user_cannot_hold_the_queue_the_episodes_or_the_watches(stack: Stack) -> None:
    running = start(stack, "alice", 53000, 500_000).job
    waiting = start(stack, "alice", 54000, 50_000).job
    assert waiting.state == pb.TRAINING_STATE_QUEUED
    more = rpc_error(
        stack.training.StartTraining,
        pb.StartTrainingRequest(household=example_household_proto(55000), episodes=10),
        stack.as_("alice"),
    )
    assert more.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert error_reason(more) == "USER_LIMIT"
    assert "TRAINING_MAX_QUEUED_PER_USER" in (more.details() or "")
    assert "\n" not in (more.details() or "")
    # bob's first job would hold more episodes than one user may.
    big = rpc_error(
        stack.training.StartTraining,
        pb.StartTrainingRequest(household=example_household_proto(56000), episodes=700_000),
        stack.as_("bob"),
    )
    assert big.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and error_reason(big) == "USER_LIMIT"
    assert "TRAINING_MAX_EPISODES_PER_USER" in (big.details() or "")
    # The queue itself has room: bob's smaller job waits; the operator is not bound.
    bobs = start(stack, "bob", 56000, 100).job
    assert bobs.state == pb.TRAINING_STATE_QUEUED

    calls = []  # kept: a call object that is dropped cancels its call
    try:
        for _ in range(2):
            call = stack.training.WatchTraining(
                pb.WatchTrainingRequest(job_id=running.job_id),
                timeout=60,
                metadata=stack.as_("alice"),
            )
            calls.append(call)
            assert next(call).job.job_id == running.job_id
        with pytest.raises(grpc.RpcError) as refused:
            next(
                stack.training.WatchTraining(
                    pb.WatchTrainingRequest(job_id=running.job_id),
                    timeout=TIMEOUT,
                    metadata=stack.as_("alice"),
                )
            )
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert error_reason(refused.value) == "USER_LIMIT"
        assert "TRAINING_MAX_WATCHES_PER_USER" in (refused.value.details() or "")
        for who, job_id in (("bob", bobs.job_id), ("root", running.job_id)):
            call = stack.training.WatchTraining(
                pb.WatchTrainingRequest(job_id=job_id), timeout=60, metadata=stack.as_(who)
            )
            calls.append(call)
            assert next(call).job.job_id == job_id
    finally:
        for call in calls:
            call.cancel()
    # The watches ended: alice's places come back (the server notices within moments).
    deadline = time.monotonic() + 30
    while True:
        try:
            again = stack.training.WatchTraining(
                pb.WatchTrainingRequest(job_id=running.job_id),
                timeout=TIMEOUT,
                metadata=stack.as_("alice"),
            )
            assert next(again).job.job_id == running.job_id
            again.cancel()
            break
        except grpc.RpcError as exc:
            assert error_reason(exc) == "USER_LIMIT" and time.monotonic() < deadline, exc
            time.sleep(0.1)
    # Joining adds no work and is never refused: alice (at her bounds) joins bob's job.
    joined = start(stack, "alice", 56000, 100)
    assert joined.joined and joined.job.job_id == bobs.job_id and joined.job.requests == 2
    # An administrator's cancel stops a job for everyone who asked for it.
    stopped = cancel(stack, "root", bobs.job_id)
    assert not stopped.detached and stopped.job.state == pb.TRAINING_STATE_CANCELLED
    for who, job_id in (("alice", waiting.job_id), ("alice", running.job_id)):
        cancel(stack, who, job_id)
    assert watch_to_the_end(stack, "alice", running.job_id).state == pb.TRAINING_STATE_CANCELLED


PARENT_HASH = "5" * 16
# episodes -> (doctored parent, what the refusal names)
UNUSABLE = {101: ("scale", "non-finite actions"), 102: ("nan", "NaN"), 103: ("foreign", "layout")}
OVERSIZED_EPISODES = 104


def _store_unchecked_parents(models_dir: Path) -> None:
    """Unusable parents stored as a registry from before the weights check stored them
    (today's registry refuses them on upload and adoption): a store that does not check
    adopts them into the index, and the registry started afterwards serves them."""
    from glidepath.models import ModelKey
    from model_registry_service.storage import ModelStore

    models_dir.mkdir(parents=True, exist_ok=True)
    kinds = {
        "scale": _policy_zip(scale=3.4e38),
        "nan": _policy_zip(nan=True),
        "foreign": _policy_zip(foreign=True),
    }
    for episodes, (kind, _) in UNUSABLE.items():
        (models_dir / f"rl_model_{PARENT_HASH}_{episodes}ep.zip").write_bytes(kinds[kind])
    oversized = io.BytesIO()
    with zipfile.ZipFile(oversized, "w") as archive:
        archive.writestr("data", "{}")
        archive.writestr("policy.pth", b"\0" * (MAX_MODEL_BYTES + 1))
    name = f"rl_model_{PARENT_HASH}_{OVERSIZED_EPISODES}ep.zip"
    (models_dir / name).write_bytes(oversized.getvalue())
    store = ModelStore(models_dir, max_bytes=100 * 1024 * 1024, check_model=None)
    try:
        for episodes in [*UNUSABLE, OVERSIZED_EPISODES]:
            store.get(ModelKey(PARENT_HASH, episodes))
    finally:
        store.close()


def _policy_zip(scale: float | None = None, nan: bool = False, foreign: bool = False) -> bytes:
    """An SB3-shaped zip (``data`` and ``policy.pth``) of the trusted layout's weights,
    doctored: scaled (finite weights, non-finite actions), NaN, or of another layout."""
    import torch

    from glidepath.rl.model_io import build_policy

    weights = build_policy().state_dict()
    if foreign:
        weights = {"mlp.0.weight": torch.zeros(3, 3)}
    for name, tensor in weights.items():
        if nan and name.endswith("weight"):
            tensor.fill_(float("nan"))
        elif scale is not None:
            tensor.copy_(torch.sign(torch.randn_like(tensor)) * scale)
    buffer = io.BytesIO()
    torch.save(weights, buffer)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("data", "{}")
        archive.writestr("policy.pth", buffer.getvalue())
    return out.getvalue()


def test_unusable_or_oversized_parents_are_refused_before_any_training(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Parents stored before the registry checked weights (``_store_unchecked_parents``):
    a parent of huge finite weights used to train 9.5 s before failing."""
    parent_hash = PARENT_HASH
    before = listed(stack, "alice")

    for episodes, (_, problem) in UNUSABLE.items():
        refused = rpc_error(
            stack.training.StartTraining,
            pb.StartTrainingRequest(
                household=example_household_proto(57000),
                episodes=32,
                parent=model_pb2.ModelRef(model_hash=parent_hash, episodes=episodes),
            ),
            stack.as_("alice"),
            timeout=60.0,  # the first parent check may wait for torch's import to finish
        )
        assert refused.code() == grpc.StatusCode.FAILED_PRECONDITION, refused.details()
        assert error_reason(refused) == "INVALID_MODEL"
        details = refused.details() or ""
        assert problem in details and "\n" not in details and len(details) < 500, details
        # Reported with the service's credential: the registry keeps it, quarantined.
        assert "the registry quarantines it" in details
        held = stack.stored("root", model_pb2.ModelRef(model_hash=parent_hash, episodes=episodes))
        assert held.quarantine_reason and held.HasField("quarantined_at")

    requests = io.StringIO()  # both servers' request lines, from here on
    monkeypatch.setattr(log, "_stream", requests)
    too_large = rpc_error(
        stack.training.StartTraining,
        pb.StartTrainingRequest(
            household=example_household_proto(57000),
            episodes=32,
            parent=model_pb2.ModelRef(model_hash=parent_hash, episodes=OVERSIZED_EPISODES),
        ),
        stack.as_("alice"),
    )
    assert too_large.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error_reason(too_large) == "TOO_LARGE"
    assert "RL_MODELS_MAX_BYTES" in (too_large.details() or "")
    seen = requests.getvalue()
    assert "ModelRegistry/GetModel" in seen and "ModelRegistry/DownloadModel" not in seen
    assert listed(stack, "alice") == before  # no job was ever created


def test_models_reach_the_registry_for_their_owner_scored_on_the_lives_of_their_hash(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two trainings of one household (other seeds, other episode counts) are scored on
    the same evaluation lives, those of the hash, and uploaded with the service's own
    credential acting for the user who asked."""
    from glidepath.rl.evaluation import evaluation_seed_for_hash

    requests = io.StringIO()
    monkeypatch.setattr(log, "_stream", requests)
    finals = []
    for episodes, seed in ((32, 1), (33, 2)):
        job = start(stack, "alice", 58000, episodes, seed=seed).job
        final = watch_to_the_end(stack, "alice", job.job_id)
        assert final.state == pb.TRAINING_STATE_SUCCEEDED, final.message
        finals.append(final)
    expected = evaluation_seed_for_hash(finals[0].model.model_hash)
    for final in finals:
        assert final.evaluation.seed == expected
        assert final.registered_model.evaluation.seed == expected
        # The registry recorded alice as the owner, and the score as verified (it ranks).
        stored = stack.stored("alice", final.model)
        assert stored.owner == "alice" and final.registered_model.owner == "alice"
        assert stored.evaluation == final.evaluation
        assert not stored.HasField("declared_evaluation")
    uploads = [
        line
        for line in requests.getvalue().splitlines()
        if "ModelRegistry/UploadModel" in line and '"code":"OK"' in line
    ]
    assert len(uploads) == 2
    assert all('"user":"alice"' in line and '"via":"trainer"' in line for line in uploads)


def test_a_private_parent_is_its_owners_alone(stack: Stack) -> None:
    job = start(stack, "alice", 60000, 32, seed=3).job
    final = watch_to_the_end(stack, "alice", job.job_id)
    assert final.state == pb.TRAINING_STATE_SUCCEEDED, final.message
    stack.registry.SetModelVisibility(
        registry_pb2.SetModelVisibilityRequest(
            ref=final.model, visibility=model_pb2.MODEL_VISIBILITY_PRIVATE
        ),
        timeout=TIMEOUT,
        metadata=stack.as_("alice"),
    )
    hidden = rpc_error(
        stack.training.StartTraining,
        pb.StartTrainingRequest(
            household=example_household_proto(60000), episodes=64, parent=final.model
        ),
        stack.as_("bob"),
        timeout=60.0,
    )
    assert hidden.code() == grpc.StatusCode.NOT_FOUND and error_reason(hidden) == "MODEL_NOT_FOUND"
    mine = stack.training.StartTraining(
        pb.StartTrainingRequest(
            household=example_household_proto(60000), episodes=64, parent=final.model
        ),
        timeout=60.0,
        metadata=stack.as_("alice"),
    ).job
    assert mine.parent == final.model
    cancel(stack, "alice", mine.job_id)


def test_a_name_held_by_a_quarantined_model_trains_one_more_episode_per_taken_name(
    stack: Stack,
) -> None:
    """The registry never overwrites a model; the quarantined one stays, listed."""
    trained = []
    for episodes in (32, 33):
        job = start(stack, "alice", 61000, episodes, seed=episodes).job
        final = watch_to_the_end(stack, "alice", job.job_id)
        assert final.state == pb.TRAINING_STATE_SUCCEEDED, final.message
        trained.append(final)
    bad = trained[0].registered_model
    stack.registry.QuarantineModel(
        registry_pb2.QuarantineModelRequest(
            ref=bad.ref, sha256=bad.sha256, reason="test: unusable"
        ),
        timeout=TIMEOUT,
        metadata=stack.as_("trainer"),
    )
    # A usable model's name is still refused ...
    taken = rpc_error(
        stack.training.StartTraining,
        pb.StartTrainingRequest(household=example_household_proto(61000), episodes=33),
        stack.as_("bob"),
    )
    assert taken.code() == grpc.StatusCode.ALREADY_EXISTS
    # ... a quarantined one's is skipped, with the usable 33 after it: 34 episodes.
    again = start(stack, "bob", 61000, 32, seed=9).job
    assert again.episodes_total == 34 and again.model.episodes == 34
    final = watch_to_the_end(stack, "bob", again.job_id)
    assert final.state == pb.TRAINING_STATE_SUCCEEDED, final.message
    assert final.episodes_done == 34
    assert final.registered_model.file_name.endswith("_34ep.zip")
    assert final.registered_model.owner == "bob"
    kept = stack.stored("root", bad.ref)
    assert kept.sha256 == bad.sha256 and kept.quarantine_reason
