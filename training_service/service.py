"""The gRPC servicer: translates messages and calls the job manager, nothing more.

Two checks live here because they need the registry while the client waits:

- a model that the registry already holds under the requested name, of the same identity
  (the same parent, or like it none), is not trained again (it could never be stored: the
  registry keeps one model per household hash and episode count). A name held by a
  quarantined model, or by a model of another lineage (a fine-tuning whose total equals a
  model trained from scratch, or the reverse), is never overwritten either: the job
  trains one more episode per taken name, so its model's name is free and still tells
  the episodes its weights saw (``docs/models.md``);
- a fine-tuning parent is read for the caller (a private model of another user is
  NOT_FOUND), its size checked before a byte is downloaded, and its weights checked
  (layout, finite weights, finite actions) before a job exists; an unusable parent is
  refused with FAILED_PRECONDITION ``INVALID_MODEL`` and reported to the registry, which
  quarantines it. At most ``MAX_PARENT_FETCHES`` parents are held in memory at once.

Watch streams are bounded: each holds a server thread for as long as it lasts, so without
a bound enough watchers (or clients that never read) would take every thread, and health
checks and every other call would wait behind them. Beyond ``max_watchers`` a new watch is
refused at once with RESOURCE_EXHAUSTED (``GetTraining`` still answers), and one user
holds at most ``max_watches_per_user`` of them (reason ``USER_LIMIT``), so that one user
cannot take every place.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator

import grpc

from glidepath import errors, log
from glidepath.auth import ANONYMOUS, User
from glidepath.common.v1 import model_pb2
from glidepath.models import MAX_EPISODES, ModelKey, model_file_name
from glidepath.rpc.bounds import Bound
from glidepath.rpc.interceptors import takes_user
from glidepath.text import clip
from glidepath.training.v1 import training_pb2 as pb
from glidepath.training.v1 import training_pb2_grpc
from training_service import convert
from training_service.limits import PerUserBound
from training_service.manager import JobManager, StartRequest, bounded
from training_service.registry import RegistryClient

SERVICE_NAME = "glidepath.training.v1.TrainingService"
DEFAULT_MAX_WATCHERS = 24
DEFAULT_MAX_WATCHES_PER_USER = 8
# Parents downloaded and checked at once: each is held in memory while it is checked.
MAX_PARENT_FETCHES = 2
# Names past a quarantined one tried before giving up (each is one GetModel).
MAX_TAKEN_NAMES = 16


class TrainingServicer(training_pb2_grpc.TrainingServiceServicer):  # type: ignore[misc]
    def __init__(
        self,
        manager: JobManager,
        registry: RegistryClient,
        max_watchers: int = DEFAULT_MAX_WATCHERS,
        max_watches_per_user: int = DEFAULT_MAX_WATCHES_PER_USER,
    ) -> None:
        self._manager = manager
        self._registry = registry
        self._watchers = Bound(
            max_watchers,
            f"the training service already streams {max_watchers} watches; retry when one "
            "has ended, or poll GetTraining",
        )
        self._user_watchers = PerUserBound(
            max_watches_per_user,
            f"you already hold {max_watches_per_user} open watches "
            f"(TRAINING_MAX_WATCHES_PER_USER={max_watches_per_user}); close one, or poll "
            "GetTraining",
        )
        self._fetches = Bound(
            MAX_PARENT_FETCHES,
            f"the training service is already fetching {MAX_PARENT_FETCHES} parent models; "
            "retry in a moment",
        )

    @takes_user
    def StartTraining(
        self,
        request: pb.StartTrainingRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> pb.StartTrainingResponse:
        user.require_credential("StartTraining")
        start = convert.start_request(request, lambda ref: self._parent(ref, user))
        start = self._free_name(start)
        record, joined = self._manager.submit(start, user)
        return pb.StartTrainingResponse(
            job=convert.job_to_proto(record, time.time(), user), joined=joined
        )

    def _free_name(self, start: StartRequest) -> StartRequest:
        """The request, trained one more episode per name another model holds (a
        quarantined one, or a usable one of another identity); AlreadyExists when a usable
        model of this request's identity holds the requested name."""
        wanted = start.model.episodes
        total = wanted
        held_by = ""
        for _ in range(MAX_TAKEN_NAMES + 1):
            ref = model_pb2.ModelRef(model_hash=start.model_hash, episodes=total)
            stored = self._registry.stored_model(ref)
            if stored is None:
                break
            if total == wanted:
                if not stored.quarantine_reason and _same_identity(stored, start):
                    raise errors.AlreadyExists(
                        f"the registry already holds {stored.file_name} for this household, "
                        f"episode count and {_lineage(start.parent)}: use it, delete it "
                        "first, or train another episode count"
                    )
                held_by = _held_by(stored)
            total += 1
        else:
            raise errors.FailedPrecondition(
                f"the names of {MAX_TAKEN_NAMES} episode counts from {wanted} on are "
                "taken in the registry; train another episode count"
            )
        if total == wanted:
            return start
        episodes = start.episodes + (total - wanted)
        name = model_file_name(start.model_hash, wanted)
        if episodes > MAX_EPISODES:
            raise errors.FailedPrecondition(
                f"{name} is held by {held_by} and the next free name needs {episodes:,} "
                f"episodes, more than {MAX_EPISODES:,}; train fewer episodes"
            )
        note = (
            f"{name} is held by {held_by}: training {episodes} episodes, so that the "
            "model's name is free"
        )
        log.event("taken_name", model_hash=start.model_hash, episodes=episodes, held_by=held_by)
        return dataclasses.replace(start, episodes=episodes, note=note)

    def _parent(self, ref: model_pb2.ModelRef, user: User) -> bytes:
        """A usable parent's bytes, read for ``user``; the refusals of the module docstring."""
        with self._fetches.taken():
            metadata, model_zip = self._registry.fetch_parent(ref, user.name)
            try:
                _check_parent(model_zip)
            except errors.InvalidArgument as exc:
                problem = clip(exc.violations[0].description if exc.violations else exc.message)
                reported = self._registry.quarantine(metadata, f"unusable as a parent: {problem}")
                raise errors.FailedPrecondition(
                    f"parent model {metadata.file_name} cannot be trained on: {problem}"
                    + ("; the registry quarantines it" if reported else "")
                    + "; choose another parent",
                    reason="INVALID_MODEL",
                ) from None
        return model_zip

    @takes_user
    def WatchTraining(
        self,
        request: pb.WatchTrainingRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> Iterator[pb.WatchTrainingResponse]:
        job_id = convert.job_id(request.job_id)
        name = user.name if bounded(user) else None
        with self._user_watchers.taken(name), self._watchers.taken():
            for record in self._manager.watch(job_id, user, context.is_active):
                yield pb.WatchTrainingResponse(job=convert.job_to_proto(record, time.time(), user))

    @takes_user
    def GetTraining(
        self,
        request: pb.GetTrainingRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> pb.GetTrainingResponse:
        record = self._manager.get(convert.job_id(request.job_id), user)
        return pb.GetTrainingResponse(job=convert.job_to_proto(record, time.time(), user))

    @takes_user
    def ListTrainings(
        self,
        request: pb.ListTrainingsRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> pb.ListTrainingsResponse:
        states, model_hash, cursor, limit = convert.list_query(request)
        records, following = self._manager.list(
            user, states=states, model_hash=model_hash, after=cursor, limit=limit
        )
        now = time.time()
        return pb.ListTrainingsResponse(
            jobs=[convert.job_to_proto(r, now, user) for r in records],
            next_page_token=convert.page_token(following),
        )

    @takes_user
    def CancelTraining(
        self,
        request: pb.CancelTrainingRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> pb.CancelTrainingResponse:
        user.require_credential("CancelTraining")
        record, detached = self._manager.cancel(convert.job_id(request.job_id), user)
        return pb.CancelTrainingResponse(
            job=convert.job_to_proto(record, time.time(), user), detached=detached
        )


def _same_identity(stored: model_pb2.ModelMetadata, start: StartRequest) -> bool:
    """Whether ``stored`` is the model ``start`` would train: a profile model (or one of
    unknown kind) with the same parent, or like it none."""
    if stored.kind == model_pb2.MODEL_KIND_GENERIC:
        return False
    parent = ModelKey(stored.parent.model_hash, stored.parent.episodes)
    return (parent if stored.HasField("parent") else None) == start.parent


def _lineage(parent: ModelKey | None) -> str:
    return f"parent {parent.file_name}" if parent else "no parent (trained from scratch)"


def _held_by(stored: model_pb2.ModelMetadata) -> str:
    """Who holds a name, for the job's message."""
    if stored.quarantine_reason:
        return "a quarantined model"
    if stored.HasField("parent"):
        parent = model_file_name(stored.parent.model_hash, stored.parent.episodes)
        return f"a model fine-tuned from {parent}"
    return "a model trained from scratch"


def _check_parent(model_zip: bytes) -> None:
    """The RL library's parent check (torch is imported by :func:`preload_parent_check`;
    a call that comes first waits for that import to finish)."""
    from glidepath.rl.training import check_parent

    check_parent(model_zip)


def preload_parent_check() -> threading.Thread:
    """Import the RL library in the background at start-up: torch takes seconds to import,
    which the first fine-tuning request would otherwise spend inside its deadline. Costs
    the service process torch's memory; everything else it does stays light."""

    def load() -> None:
        import glidepath.rl.training  # noqa: F401

        log.event("parent_check_ready")

    thread = threading.Thread(target=load, name="rl-import", daemon=True)
    thread.start()
    return thread
