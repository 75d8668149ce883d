"""Assemble the simulation service: settings -> work pool, servicer -> ServiceSpec.

Shared by ``python -m simulation_service`` and the tests, so that what is tested is
exactly what runs.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import grpc

from glidepath.common.v1 import model_pb2
from glidepath.rpc.server import ServiceSpec
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service.config import DEFAULT_PORT, SimulationServiceSettings
from simulation_service.optimize.flow import Evaluate, Optimizer
from simulation_service.optimize.interrupt import Interrupt
from simulation_service.optimize.judge import Judgement, judge
from simulation_service.optimize.memo import JudgementCache, judgement_key
from simulation_service.optimize.peers import PeerDeadlines, RegistryPeer, TrainingPeer
from simulation_service.optimize.policies import PolicyCache, warm_up
from simulation_service.optimize.request import OptimizeJob
from simulation_service.service import SERVICE_NAME, SimulationServicer
from simulation_service.work import WorkPool

if TYPE_CHECKING:
    from stable_baselines3.common.policies import ActorCriticPolicy


@dataclass
class SimulationApp:
    """The pieces of one simulation service, for the entry point and the tests."""

    spec: ServiceSpec
    pool: WorkPool
    optimizer: Optimizer


def build_app(settings: SimulationServiceSettings) -> SimulationApp:
    """Build the service; the pool's threads and the peers' channels stop with the server."""
    pool = WorkPool(settings.max_concurrent, settings.max_queued)
    deadlines = PeerDeadlines(settings.peer_deadline_seconds, settings.training_deadline_seconds)
    registry = RegistryPeer(settings.registry_addr, deadlines)
    training = TrainingPeer(settings.training_addr, deadlines)
    optimizer = Optimizer(
        registry, training, PolicyCache(settings.policy_cache), _evaluator(pool, settings)
    )
    servicer = SimulationServicer(settings, pool, optimizer)
    warm_up(settings.torch_threads)

    def stop() -> None:
        pool.shutdown()
        registry.close()
        training.close()

    def register(server: grpc.Server) -> None:
        simulation_pb2_grpc.add_SimulationServiceServicer_to_server(servicer, server)

    spec = ServiceSpec(
        name="simulation_service",
        default_port=DEFAULT_PORT,
        register=register,
        service_names=(SERVICE_NAME,),
        max_workers=settings.server_threads,
        grace_seconds=settings.grace_seconds,
        on_stop=stop,
    )
    return SimulationApp(spec=spec, pool=pool, optimizer=optimizer)


def _evaluator(pool: WorkPool, settings: SimulationServiceSettings) -> Evaluate:
    """Optimize's engine runs go through the same pool (and limits) as Simulate's.

    A judgement already computed for the same model, household and settings is served
    from the cache (``memo``): it is a pure function of them.
    """
    cache = JudgementCache(settings.judgement_cache)

    def evaluate(
        job: OptimizeJob,
        model: model_pb2.ModelMetadata,
        policy: ActorCriticPolicy,
        interrupt: Interrupt,
    ) -> Judgement:
        key = judgement_key(job, model.sha256)
        found = cache.get(key)
        if found is not None:
            return replace(found, evaluation_seconds=0.0, profile_seconds=0.0, cached=True)
        judgement = pool.run(
            lambda stop: judge(
                job.household,
                job.household_hash,
                policy,
                job.settings,
                stop,
                settings.profile_paths,
            ),
            interrupt.token,
        )
        cache.put(key, judgement)
        return judgement

    return evaluate
