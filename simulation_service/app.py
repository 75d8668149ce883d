"""Assemble the simulation service: settings -> work pool, servicer -> ServiceSpec.

Shared by ``python -m simulation_service`` and the tests, so that what is tested is
exactly what runs. Callers are authenticated like every glidepath service
(``glidepath.auth``: a users file, one token, or none for a local stack). No method is a
write as such: Optimize needs a credential only when it may train and store a model,
which the servicer decides from the request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import grpc

from glidepath.auth import build_authenticator
from glidepath.common.v1 import model_pb2
from glidepath.engine.run import DEFAULT_BATCH_PATHS
from glidepath.engine.state import FlowTiming
from glidepath.household.canonical import canonicalize
from glidepath.rpc.server import ServiceSpec
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service.config import DEFAULT_PORT, SimulationServiceSettings
from simulation_service.optimize.baselines import BaselineWarmer
from simulation_service.optimize.flow import Evaluate, Optimizer, Score, Scored
from simulation_service.optimize.interrupt import Interrupt
from simulation_service.optimize.judge import Judgement, judge
from simulation_service.optimize.memo import JudgementCache, ScoreCache, judgement_key, score_key
from simulation_service.optimize.peers import (
    Credentials,
    PeerDeadlines,
    RegistryPeer,
    TrainingPeer,
)
from simulation_service.optimize.policies import PolicyCache, warm_up
from simulation_service.optimize.request import OptimizeJob
from simulation_service.optimize.scoring import score_policy, trusted_evaluation
from simulation_service.service import SERVICE_NAME, SimulationServicer
from simulation_service.work import WorkPool

# How long a stopping service waits for torch's import on the warm-up thread to finish.
WARM_UP_JOIN_SECONDS = 60.0

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
    authenticator = build_authenticator(settings.token, settings.users_file)
    pool = WorkPool(settings.max_concurrent, settings.max_queued)
    deadlines = PeerDeadlines(settings.peer_deadline_seconds, settings.training_deadline_seconds)
    credentials = Credentials(settings.service_token)
    registry = RegistryPeer(
        settings.registry_addr, deadlines, credentials, settings.max_model_bytes
    )
    training = TrainingPeer(settings.training_addr, deadlines, credentials)
    scores = ScoreCache()
    warmer = BaselineWarmer()
    optimizer = Optimizer(
        registry,
        training,
        PolicyCache(settings.policy_cache),
        _evaluator(pool, settings, scores, warmer),
        _scorer(pool, settings, scores),
        candidates=settings.optimize_candidates,
        warm=warmer.start,
    )
    servicer = SimulationServicer(settings, pool, optimizer)
    warming = warm_up(settings.torch_threads)

    def stop() -> None:
        warmer.shutdown()
        pool.shutdown()
        registry.close()
        training.close()
        # An interpreter that exits while a thread is still importing torch can abort
        # (SIGABRT): a SIGTERM just after start must still end with exit code 0.
        warming.join(timeout=WARM_UP_JOIN_SECONDS)

    def register(server: grpc.Server) -> None:
        simulation_pb2_grpc.add_SimulationServiceServicer_to_server(servicer, server)

    spec = ServiceSpec(
        name="simulation_service",
        default_port=DEFAULT_PORT,
        register=register,
        service_names=(SERVICE_NAME,),
        authenticator=authenticator,
        max_workers=settings.server_threads,
        grace_seconds=settings.grace_seconds,
        on_stop=stop,
    )
    return SimulationApp(spec=spec, pool=pool, optimizer=optimizer)


def _evaluator(
    pool: WorkPool,
    settings: SimulationServiceSettings,
    scores: ScoreCache,
    warmer: BaselineWarmer | None = None,
) -> Evaluate:
    """Optimize's engine runs go through the same pool (and limits) as Simulate's.

    A judgement already computed for the same model, household and settings is served
    from the cache (``memo``): it is a pure function of them. A judgement on the very
    lives and household a candidate is scored on (the hash's evaluation lives, the
    canonical household) is that score too: kept in ``scores``, it is not run again.
    The baselines the ``warmer`` began for the same request while its model trained are
    waited for, then served from the engine's cache (``baselines``).
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
        if warmer is not None:
            warmer.wait(job)
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
        if judgement.evaluation is not None and _scores_on_its_lives(job, settings.score_lives):
            seed = judgement.evaluation.seed
            scores.put(
                score_key(model.sha256, job.household_hash, settings.score_lives, seed),
                judgement.evaluation,
            )
        return judgement

    return evaluate


def _scores_on_its_lives(job: OptimizeJob, lives: int) -> bool:
    """True when the job's judgement runs exactly what scoring the model runs: the hash's
    evaluation lives and the canonical household (``scoring.score_policy``)."""
    from glidepath.rl.evaluation import evaluation_seed_for_hash

    run = job.settings
    return (
        run.target_standard_error is None
        and run.paths == lives
        and run.seed == evaluation_seed_for_hash(job.household_hash)
        and run.batch_paths == DEFAULT_BATCH_PATHS
        and run.timing == FlowTiming.MONTHLY
        and canonicalize(job.household) == job.household
    )


def _scorer(pool: WorkPool, settings: SimulationServiceSettings, cache: ScoreCache) -> Score:
    """Candidates are scored on the pool too, on the hash's evaluation lives; each score
    is kept by the model's SHA-256, the hash and the lives (``memo``). A model whose
    verified evaluation is that very score (``scoring.trusted_evaluation``: the training
    service's, or an earlier scoring's) is not scored again."""

    def score(
        job: OptimizeJob,
        model: model_pb2.ModelMetadata,
        policy: ActorCriticPolicy,
        interrupt: Interrupt,
    ) -> Scored:
        from glidepath.rl.evaluation import evaluation_seed_for_hash

        seed = evaluation_seed_for_hash(job.household_hash)
        key = score_key(model.sha256, job.household_hash, settings.score_lives, seed)
        found = cache.get(key)
        if found is not None:
            return Scored(found, cached=True)
        stored = trusted_evaluation(
            model, job.household, job.household_hash, settings.score_lives, seed
        )
        if stored is not None:
            cache.put(key, stored)
            return Scored(stored, cached=True)
        evaluation = pool.run(
            lambda stop: score_policy(job.household, policy, settings.score_lives, seed),
            interrupt.token,
        )
        cache.put(key, evaluation)
        return Scored(evaluation)

    return score
