"""The gRPC servicer: translates messages and calls the job manager, nothing more.

One check lives here because it needs the registry while the client waits: a model that
the registry already holds under the requested name is not trained again (it could never
be stored: the registry keeps one model per household hash and episode count).

Watch streams are bounded: each holds a server thread for as long as it lasts, so without
a bound enough watchers (or clients that never read) would take every thread, and health
checks and every other call would wait behind them. Beyond ``max_watchers`` a new watch is
refused at once with RESOURCE_EXHAUSTED (``GetTraining`` still answers).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import grpc

from glidepath import errors
from glidepath.common.v1 import model_pb2
from glidepath.rpc.bounds import Bound
from glidepath.training.v1 import training_pb2 as pb
from glidepath.training.v1 import training_pb2_grpc
from training_service import convert
from training_service.manager import JobManager
from training_service.registry import RegistryClient

SERVICE_NAME = "glidepath.training.v1.TrainingService"
DEFAULT_MAX_WATCHERS = 24


class TrainingServicer(training_pb2_grpc.TrainingServiceServicer):  # type: ignore[misc]
    def __init__(
        self,
        manager: JobManager,
        registry: RegistryClient,
        max_watchers: int = DEFAULT_MAX_WATCHERS,
    ) -> None:
        self._manager = manager
        self._registry = registry
        self._watchers = Bound(
            max_watchers,
            f"the training service already streams {max_watchers} watches; retry when one "
            "has ended, or poll GetTraining",
        )

    def StartTraining(
        self, request: pb.StartTrainingRequest, context: grpc.ServicerContext
    ) -> pb.StartTrainingResponse:
        start = convert.start_request(request, self._registry.download)
        ref = model_pb2.ModelRef(model_hash=start.model_hash, episodes=start.episodes)
        stored = self._registry.stored_model(ref)
        if stored is not None:
            raise errors.AlreadyExists(
                f"the registry already holds {stored.file_name} for this household and episode "
                "count: use it, delete it first, or train another episode count"
            )
        record, joined = self._manager.submit(start)
        return pb.StartTrainingResponse(
            job=convert.job_to_proto(record, time.time()), joined=joined
        )

    def WatchTraining(
        self, request: pb.WatchTrainingRequest, context: grpc.ServicerContext
    ) -> Iterator[pb.WatchTrainingResponse]:
        job_id = convert.job_id(request.job_id)
        with self._watchers.taken():
            for record in self._manager.watch(job_id, context.is_active):
                yield pb.WatchTrainingResponse(job=convert.job_to_proto(record, time.time()))

    def GetTraining(
        self, request: pb.GetTrainingRequest, context: grpc.ServicerContext
    ) -> pb.GetTrainingResponse:
        record = self._manager.get(convert.job_id(request.job_id))
        return pb.GetTrainingResponse(job=convert.job_to_proto(record, time.time()))

    def ListTrainings(
        self, request: pb.ListTrainingsRequest, context: grpc.ServicerContext
    ) -> pb.ListTrainingsResponse:
        states, model_hash, cursor, limit = convert.list_query(request)
        records, following = self._manager.list(
            states=states, model_hash=model_hash, after=cursor, limit=limit
        )
        now = time.time()
        return pb.ListTrainingsResponse(
            jobs=[convert.job_to_proto(r, now) for r in records],
            next_page_token=convert.page_token(following),
        )

    def CancelTraining(
        self, request: pb.CancelTrainingRequest, context: grpc.ServicerContext
    ) -> pb.CancelTrainingResponse:
        record = self._manager.cancel(convert.job_id(request.job_id))
        return pb.CancelTrainingResponse(job=convert.job_to_proto(record, time.time()))
