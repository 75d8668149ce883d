"""The gRPC servicer: translates messages, hands the run to the work pool, nothing more.

Optimize's story lives in ``simulation_service.optimize``; here it is only wired to the
call: the call's cancellation and deadline reach the optimisation's ``Interrupt``, and the
caller (``glidepath.auth.User``) is who the peers act for. Simulate, Compare and an Optimize
that only reads (option B without fallback) are open to anyone; an Optimize that may train
and store a model (option A, or option B with fallback_to_training on) needs a credential.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import grpc

from glidepath.auth import ANONYMOUS, User
from glidepath.engine.run import ComparisonResult, simulate
from glidepath.errors import Cancelled
from glidepath.household.canonical import household_hash
from glidepath.rpc.bounds import Bound
from glidepath.rpc.interceptors import takes_user
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service import convert
from simulation_service.config import SimulationServiceSettings
from simulation_service.optimize.flow import Optimizer
from simulation_service.optimize.interrupt import Interrupt
from simulation_service.optimize.request import OptimizeJob, optimize_job
from simulation_service.work import StopToken, WorkPool

SERVICE_NAME = "glidepath.simulation.v1.SimulationService"


class SimulationServicer(simulation_pb2_grpc.SimulationServiceServicer):  # type: ignore[misc]
    def __init__(
        self, settings: SimulationServiceSettings, pool: WorkPool, optimizer: Optimizer
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._optimizer = optimizer
        self._optimizations = Bound(
            settings.optimize_max_concurrent,
            f"the simulation service already runs {settings.optimize_max_concurrent} "
            "optimisations (OPTIMIZE_MAX_CONCURRENT); retry when one has finished",
        )

    def Simulate(
        self, request: pb.SimulateRequest, context: grpc.ServicerContext
    ) -> pb.SimulateResponse:
        job = convert.simulate_job(request, self._settings)
        result = self._run(job, context)
        return convert.simulate_response(result, job, household_hash(job.household))

    def Compare(
        self, request: pb.CompareRequest, context: grpc.ServicerContext
    ) -> pb.CompareResponse:
        job = convert.compare_job(request, self._settings)
        result = self._run(job, context)
        return convert.compare_response(result, job, household_hash(job.household))

    @takes_user
    def Optimize(
        self,
        request: pb.OptimizeRequest,
        context: grpc.ServicerContext,
        user: User = ANONYMOUS,
    ) -> Iterator[pb.OptimizeResponse]:
        job = optimize_job(request, self._settings)
        if may_train(job):
            user.require_credential(
                "Optimize with option A, or option B with fallback_to_training on (it may "
                "train and store a model for you)"
            )
        with self._optimizations.taken():
            yield from self._optimize(job, context, user)

    def _optimize(
        self, job: OptimizeJob, context: grpc.ServicerContext, user: User
    ) -> Iterator[pb.OptimizeResponse]:
        """The optimisation, its Interrupt wired to the call's cancellation and deadline."""
        token = self._pool.token(context.time_remaining())
        interrupt = Interrupt.after(token, context.time_remaining())
        if not context.add_callback(interrupt.cancel):  # the call has already ended
            interrupt.cancel()
        try:
            yield from self._optimizer.run(job, interrupt, user)
        except Cancelled:
            if token.expired():
                context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    "the deadline passed and the optimisation was stopped (a training job "
                    "it started goes on; option B will find its model)",
                )
            raise

    def _run(self, job: convert.Job, context: grpc.ServicerContext) -> ComparisonResult:
        """Run on the pool; the call's cancellation and deadline stop the engine."""
        token = self._pool.token(context.time_remaining())
        if not context.add_callback(token.cancel):  # the call has already ended
            token.cancel()
        try:
            return self._pool.run(lambda stop: _simulate(job, stop), token)
        except Cancelled:
            if token.expired():  # say why, as the client's own timer would
                context.abort(
                    grpc.StatusCode.DEADLINE_EXCEEDED,
                    "the deadline passed and the simulation was stopped; "
                    "allow more time or ask for fewer paths",
                )
            raise


def may_train(job: OptimizeJob) -> bool:
    """Whether the call may train and store a model: option A, or B with fallback on."""
    return not job.use_pretrained or job.fallback_to_training


def _simulate(job: convert.Job, stop: StopToken) -> ComparisonResult:
    return simulate(job.household, job.strategies, replace(job.settings, should_stop=stop))
