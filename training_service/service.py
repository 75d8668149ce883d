"""The gRPC servicer: translates messages and calls the job manager, nothing more.

Two checks live here because they need the registry while the client waits:

- a model that the registry already holds under the requested name is not trained again
  (it could never be stored: the registry keeps one model per household hash and episode
  count). A name held by a quarantined model is never overwritten either: the job trains
  one more episode per taken name, so its model's name is free and still tells the
  episodes trained;
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
from glidepath.models import MAX_EPISODES, model_file_name
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
        """The request, trained one more episode per name a quarantined model holds;
        AlreadyExists when a usable model holds the requested name."""
        episodes = start.episodes
        for _ in range(MAX_TAKEN_NAMES + 1):
            ref = model_pb2.ModelRef(model_hash=start.model_hash, episodes=episodes)
            stored = self._registry.stored_model(ref)
            if stored is None:
                break
            if episodes == start.episodes and not stored.quarantine_reason:
                raise errors.AlreadyExists(
                    f"the registry already holds {stored.file_name} for this household and "
                    "episode count: use it, delete it first, or train another episode count"
                )
            episodes += 1
        else:
            raise errors.FailedPrecondition(
                f"the names of {MAX_TAKEN_NAMES} episode counts from {start.episodes} on are "
                "taken in the registry; train another episode count"
            )
        if episodes == start.episodes:
            return start
        if episodes > MAX_EPISODES:
            raise errors.FailedPrecondition(
                f"{model_file_name(start.model_hash, start.episodes)} is held by a quarantined "
                f"model and the next free name needs {episodes:,} episodes, more than "
                f"{MAX_EPISODES:,}; train fewer episodes"
            )
        note = (
            f"{model_file_name(start.model_hash, start.episodes)} is held by a quarantined "
            f"model: training {episodes} episodes, so that the model's name is free"
        )
        log.event("quarantined_name", model_hash=start.model_hash, episodes=episodes)
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
