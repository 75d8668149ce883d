"""Optimize's orchestration on its own: fake peers, a fake evaluation, real request rules."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import grpc
import pytest
from simulation_support import example_household

from glidepath import errors
from glidepath.auth import ANONYMOUS, User
from glidepath.common.v1 import household_pb2, model_pb2
from glidepath.models import ModelKey
from glidepath.rl.policy_strategy import UnusablePolicy
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.training.v1 import training_pb2
from simulation_service.config import SimulationServiceSettings
from simulation_service.optimize.flow import Optimizer, Scored
from simulation_service.optimize.interrupt import Interrupt
from simulation_service.optimize.judge import Judgement
from simulation_service.optimize.memo import JudgementCache, judgement_key
from simulation_service.optimize.peers import Credentials, StartedJob, peer_error
from simulation_service.optimize.policies import PolicyCache
from simulation_service.optimize.request import OptimizeJob, optimize_job
from simulation_service.work import StopToken

SHA = "ab" * 32
START = "0123456789abcdef"  # a start model's hash (another household's)


def metadata(model_hash: str, episodes: int, sha256: str = SHA) -> model_pb2.ModelMetadata:
    ref = model_pb2.ModelRef(model_hash=model_hash, episodes=episodes)
    return model_pb2.ModelMetadata(
        ref=ref, file_name=f"rl_model_{model_hash}_{episodes}ep.zip", sha256=sha256
    )


class FakeRegistry:
    """Models by rank; a model whose sha256 starts with "bad" downloads as unusable bytes."""

    address = "registry.test:1"
    max_model_bytes = 1000

    def __init__(self, *stored: model_pb2.ModelMetadata, reason: str = "") -> None:
        self.stored = list(stored)
        self.reason = reason or "NO_MODEL_FOR_HASH"
        self.downloads = 0
        self.quarantined_shas: list[str] = []
        self.recorded: list[str] = []

    def find(
        self, model_hash: str, min_episodes: int, most: int, caller: User, i: Interrupt
    ) -> list[model_pb2.ModelMetadata]:
        found = [m for m in self.stored if m.ref.episodes >= min_episodes]
        found = [m for m in found if m.sha256 not in self.quarantined_shas]
        if not found:
            raise errors.NotFound(f"no model for hash {model_hash}", reason=self.reason)
        return found[:most]

    def find_near(self, *args: Any) -> list[tuple[model_pb2.ModelMetadata, float]]:
        return []

    def quarantined(
        self, model_hash: str, min_episodes: int, caller: User, i: Interrupt
    ) -> list[model_pb2.ModelMetadata]:
        return [m for m in self.stored if m.sha256 in self.quarantined_shas]

    def get(self, ref: model_pb2.ModelRef, caller: User, i: Interrupt) -> model_pb2.ModelMetadata:
        return next(m for m in self.stored if m.ref == ref)

    def download(self, model: model_pb2.ModelMetadata, caller: User, i: Interrupt) -> bytes:
        self.downloads += 1
        return model.sha256.encode()

    def quarantine(self, model: model_pb2.ModelMetadata, why: str, i: Interrupt) -> Any:
        self.quarantined_shas.append(model.sha256)
        return model

    def record_evaluation(
        self, model: model_pb2.ModelMetadata, evaluation: model_pb2.ModelEvaluation, i: Interrupt
    ) -> Any:
        self.recorded.append(model.sha256)
        return model


class FakeTraining:
    address = "training.test:2"

    def __init__(self, final: int, *, joined: bool = False, exists: bool = False) -> None:
        self.final = final
        self.joined = joined
        self.exists = exists
        self.started: list[int] = []
        self.parents: list[ModelKey | None] = []

    def start(
        self,
        household: household_pb2.Household,
        episodes: int,
        seed: int | None,
        caller: User,
        i: Interrupt,
        parent: ModelKey | None = None,
    ) -> StartedJob:
        self.parents.append(parent)
        if self.exists:
            self.exists = False  # the next start trains under a free name
            raise errors.AlreadyExists("the registry already holds it")
        self.started.append(episodes)
        return StartedJob(self._job(training_pb2.TRAINING_STATE_QUEUED, episodes, 0), self.joined)

    def watch(
        self, job_id: str, caller: User, interrupt: Interrupt
    ) -> Iterator[training_pb2.TrainingJob]:
        total = self.started[-1]
        yield self._job(training_pb2.TRAINING_STATE_RUNNING, total, total // 2)
        final = self._job(self.final, total, total)
        final.message = (
            "the worker died" if self.final == training_pb2.TRAINING_STATE_FAILED else ""
        )
        yield final

    def _job(self, state: int, total: int, done: int) -> training_pb2.TrainingJob:
        job = training_pb2.TrainingJob(
            job_id="f" * 32,
            state=state,  # type: ignore[arg-type]
            episodes_total=total,
            episodes_done=done,
            model=model_pb2.ModelRef(model_hash="0" * 16, episodes=total),
        )
        if state == training_pb2.TRAINING_STATE_SUCCEEDED:
            job.registered_model.CopyFrom(metadata("0" * 16, total, sha256="cd" * 32))
        return job


class FakePolicies(PolicyCache):
    def _build(self, model_zip: bytes) -> Any:
        if model_zip.startswith(b"bad"):
            raise UnusablePolicy("the policy's actions are NaN\n\x1b[31mon samples\x1b[0m")
        return object()


def fake_evaluate(
    job: OptimizeJob, model: model_pb2.ModelMetadata, policy: Any, interrupt: Interrupt
) -> Judgement:
    gate = pb.GateVerdict(best_baseline="merton", standard_errors_required=2, lives=10)
    recommended = pb.RecommendedStrategy(strategy="merton", reason="the best baseline")
    return Judgement(pb.CompareResponse(), gate, recommended, 0.5, 0.1)


def fake_score(
    job: OptimizeJob, model: model_pb2.ModelMetadata, policy: Any, interrupt: Interrupt
) -> Scored:
    """Scores by the sha256's first byte: "ff..." beats "ab..."."""
    score = float(int(model.sha256[:2], 16))
    return Scored(model_pb2.ModelEvaluation(score=score, held_out_lives=9))


def make_optimizer(registry: FakeRegistry, training: FakeTraining) -> Optimizer:
    return Optimizer(registry, training, FakePolicies(), fake_evaluate, fake_score)


def new_interrupt() -> Interrupt:
    return Interrupt(StopToken(None, threading.Event()))


def job(**fields: Any) -> OptimizeJob:
    request = pb.OptimizeRequest(household=example_household(), **fields)
    return optimize_job(request, SimulationServiceSettings())


def run(optimizer: Optimizer, j: OptimizeJob) -> tuple[list[str], pb.OptimizeResult | None]:
    stages: list[str] = []
    result = None
    for message in optimizer.run(j, new_interrupt()):
        if message.WhichOneof("content") == "event":
            stages.append(
                pb.OptimizeStage.Name(message.event.stage).removeprefix("OPTIMIZE_STAGE_")
            )
        else:
            result = message.result
    return stages, result


def test_request_defaults_follow_the_note() -> None:
    j = job(use_pretrained=True)
    assert (j.episodes, j.min_episodes, j.fallback_to_training) == (1000, 500, True)
    assert job(use_pretrained=True, min_episodes=2000).episodes == 2000
    assert job(use_pretrained=True, fallback_to_training=False).fallback_to_training is False


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"min_episodes": 0}, "min_episodes"),
        ({"episodes": 2_000_000}, "episodes"),
        ({"use_pretrained": True, "episodes": 100}, "episodes"),
        ({"training_seed": 2**40}, "training_seed"),
        ({"settings": pb.SimulationSettings(paths=0)}, "settings.paths"),
        (
            {
                "use_pretrained": True,
                "start_model": model_pb2.ModelRef(model_hash=START, episodes=9),
            },
            "start_model",
        ),
        (
            {"start_model": model_pb2.ModelRef(model_hash="XYZ", episodes=9)},
            "start_model.model_hash",
        ),
        ({"start_model": model_pb2.ModelRef(model_hash=START, episodes=0)}, "start_model.episodes"),
    ],
)
def test_bad_requests_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(errors.InvalidArgument) as raised:
        job(**fields)
    assert field in [v.field for v in raised.value.violations]


def test_a_missing_household_is_a_field_error() -> None:
    with pytest.raises(errors.InvalidArgument) as raised:
        optimize_job(pb.OptimizeRequest(), SimulationServiceSettings())
    assert [v.field for v in raised.value.violations] == ["household"]


def test_option_b_with_a_loaded_policy_skips_the_download() -> None:
    j = job(use_pretrained=True)
    registry = FakeRegistry(metadata(j.household_hash, 1000))
    optimizer = make_optimizer(registry, FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED))
    stages, result = run(optimizer, j)
    assert stages == ["HASHED", "LOOKING_UP", "MODEL_FOUND", "DOWNLOADING", "LOADING", "EVALUATING"]
    assert result is not None and result.source == pb.MODEL_SOURCE_PRETRAINED
    stages, _ = run(optimizer, j)
    assert stages == ["HASHED", "LOOKING_UP", "MODEL_FOUND", "LOADING", "EVALUATING"]
    assert registry.downloads == 1


def test_option_a_relays_progress_and_answers_with_the_trained_model() -> None:
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED)
    optimizer = make_optimizer(FakeRegistry(), training)
    stages, result = run(optimizer, job(episodes=700))
    assert stages[:4] == ["HASHED", "TRAINING_STARTED", "TRAINING_PROGRESS", "TRAINING_PROGRESS"]
    assert training.started == [700]
    assert result is not None and result.source == pb.MODEL_SOURCE_TRAINED_NOW
    assert result.model.ref.episodes == 700 and result.training_job_id == "f" * 32
    assert [t.stage for t in result.timings] == [
        "training",
        "download",
        "load",
        "evaluation",
        "profile",
    ]


def test_a_joined_job_is_named_as_such() -> None:
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED, joined=True)
    stages, result = run(make_optimizer(FakeRegistry(), training), job())
    assert "TRAINING_JOINED" in stages
    assert result is not None and result.source == pb.MODEL_SOURCE_JOINED_RUNNING_JOB


def test_option_a_on_a_stored_model_uses_it() -> None:
    j = job()
    registry = FakeRegistry(metadata(j.household_hash, 1000))
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED, exists=True)
    stages, result = run(make_optimizer(registry, training), j)
    assert stages[:2] == ["HASHED", "ALREADY_TRAINED"]
    assert result is not None and result.source == pb.MODEL_SOURCE_ALREADY_IN_REGISTRY


def test_option_a_fine_tunes_a_start_model_and_finds_it_under_the_total() -> None:
    start = model_pb2.ModelRef(model_hash=START, episodes=1000)
    j = job(episodes=200, start_model=start)
    assert j.start_model is not None and j.model_episodes == 1200
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED, exists=True)
    registry = FakeRegistry(metadata(j.household_hash, 1200))
    stages, result = run(make_optimizer(registry, training), j)
    assert training.parents[0] == ModelKey(START, 1000)
    assert stages[:2] == ["HASHED", "ALREADY_TRAINED"]
    assert result is not None and result.model.ref.episodes == 1200


@pytest.mark.parametrize(
    ("state", "error"),
    [
        (training_pb2.TRAINING_STATE_FAILED, errors.FailedPrecondition),
        (training_pb2.TRAINING_STATE_CANCELLED, errors.Cancelled),
        (training_pb2.TRAINING_STATE_UPLOADING, errors.Unavailable),
    ],
)
def test_a_training_that_does_not_succeed_is_a_clear_error(state: int, error: type) -> None:
    optimizer = make_optimizer(FakeRegistry(), FakeTraining(state))
    with pytest.raises(error) as raised:
        run(optimizer, job())
    assert "f" * 32 in str(raised.value)


def test_without_fallback_not_found_keeps_the_registrys_reason() -> None:
    registry = FakeRegistry(reason="BELOW_MIN_EPISODES")
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED)
    optimizer = make_optimizer(registry, training)
    with pytest.raises(errors.NotFound) as raised:
        run(optimizer, job(use_pretrained=True, fallback_to_training=False))
    assert raised.value.reason == "BELOW_MIN_EPISODES"
    assert training.started == []


class FakeCall:
    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> bool:
        self.cancelled = True
        return True


def test_cancelling_stops_the_engine_and_every_call_in_flight() -> None:
    interrupt = new_interrupt()
    call = FakeCall()
    with interrupt.tracking(call):
        interrupt.cancel()
    assert call.cancelled and interrupt.token()
    with pytest.raises(errors.Cancelled):
        interrupt.timeout(5.0)


def test_timeouts_never_outlast_the_callers_deadline() -> None:
    interrupt = Interrupt.after(StopToken(None, threading.Event()), 2.0)
    assert 1.0 < interrupt.timeout(30.0) <= 2.0
    assert new_interrupt().timeout(30.0) == 30.0


class FakeRpcError(grpc.RpcError):  # type: ignore[misc]
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[()]:
        return ()


@pytest.mark.parametrize(
    ("code", "error"),
    [
        (grpc.StatusCode.UNAVAILABLE, errors.Unavailable),
        (grpc.StatusCode.DEADLINE_EXCEEDED, errors.Unavailable),
        (grpc.StatusCode.NOT_FOUND, errors.NotFound),
        (grpc.StatusCode.ALREADY_EXISTS, errors.AlreadyExists),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, errors.ResourceExhausted),
        (grpc.StatusCode.INTERNAL, errors.FailedPrecondition),
    ],
)
def test_peer_errors_name_the_peer(code: grpc.StatusCode, error: type) -> None:
    mapped = peer_error(FakeRpcError(code, "boom"), "the model registry", "10.0.0.1:50053")
    assert isinstance(mapped, error)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INTERNAL):
        assert "the model registry at 10.0.0.1:50053" in mapped.message


def test_the_policy_cache_is_bounded() -> None:
    cache = FakePolicies(capacity=2)
    first = cache.load("a", b"")
    cache.load("b", b"")
    assert cache.get("a") is first  # "a" is now the most recent
    cache.load("c", b"")
    assert cache.get("b") is None and cache.get("a") is first and len(cache) == 2


def test_a_judgement_is_kept_by_model_household_and_settings() -> None:
    base = job(use_pretrained=True)
    key = judgement_key(base, SHA)
    assert judgement_key(job(episodes=2000), SHA) == key  # the call's own options do not count
    assert judgement_key(base, "cd" * 32) != key
    assert judgement_key(job(settings=pb.SimulationSettings(seed=1)), SHA) != key
    assert judgement_key(job(settings=pb.SimulationSettings(paths=500)), SHA) != key
    other = example_household()
    other.risk_aversion = 4
    assert (
        judgement_key(
            optimize_job(pb.OptimizeRequest(household=other), SimulationServiceSettings()), SHA
        )
        != key
    )
    cache = JudgementCache(capacity=1)
    judgement = fake_evaluate(base, metadata("0" * 16, 1), None, new_interrupt())
    cache.put("a", judgement)
    cache.put("b", judgement)
    assert cache.get("a") is None and cache.get("b") is judgement


# -- unusable candidates, scoring, quarantine ------------------------------------------


def events(optimizer: Optimizer, j: OptimizeJob) -> tuple[list[pb.OptimizeEvent], Any]:
    out: list[pb.OptimizeEvent] = []
    result = None
    for message in optimizer.run(j, new_interrupt()):
        if message.WhichOneof("content") == "event":
            out.append(message.event)
        else:
            result = message.result
    return out, result


def named(stage: int, found: list[pb.OptimizeEvent]) -> list[str]:
    return [e.message for e in found if e.stage == stage]


def test_an_unusable_candidate_is_quarantined_and_the_best_usable_one_served() -> None:
    j = job(use_pretrained=True)
    bad = metadata(j.household_hash, 3000, sha256="bad" + "0" * 61)
    low = metadata(j.household_hash, 2000, sha256="ab" * 32)
    high = metadata(j.household_hash, 1000, sha256="ff" * 32)
    high.evaluation.score = 1.0  # already verified: scored, not recorded again
    registry = FakeRegistry(bad, low, high)
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED)
    found, result = events(make_optimizer(registry, training), j)
    unusable = named(pb.OPTIMIZE_STAGE_MODEL_UNUSABLE, found)
    assert len(unusable) == 1
    assert unusable[0].startswith(f"model {bad.file_name} is unusable (")
    assert "quarantined in the registry" in unusable[0]
    assert unusable[0].endswith("trying the next compatible model")
    assert "\n" not in unusable[0] and "\x1b" not in unusable[0]
    assert registry.quarantined_shas == [bad.sha256]
    assert len(named(pb.OPTIMIZE_STAGE_SCORING, found)) == 2
    assert result is not None and result.model.sha256 == high.sha256
    assert registry.recorded == [low.sha256]
    assert training.started == []


def test_without_fallback_only_unusable_models_is_failed_precondition() -> None:
    j = job(use_pretrained=True, fallback_to_training=False)
    registry = FakeRegistry(metadata(j.household_hash, 1000, sha256="bad" + "1" * 61))
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED)
    with pytest.raises(errors.FailedPrecondition) as raised:
        run(make_optimizer(registry, training), j)
    assert raised.value.reason == "INVALID_MODEL"
    assert "fallback_to_training is off" in raised.value.message
    assert "\n" not in raised.value.message
    assert training.started == []


def test_with_fallback_only_unusable_models_trains() -> None:
    j = job(use_pretrained=True)
    registry = FakeRegistry(metadata(j.household_hash, 1000, sha256="bad" + "2" * 61))
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED)
    stages, result = run(make_optimizer(registry, training), j)
    assert stages[:5] == [
        "HASHED",
        "LOOKING_UP",
        "MODEL_FOUND",
        "DOWNLOADING",
        "LOADING",
    ]
    assert stages[5:9] == [
        "MODEL_UNUSABLE",
        "NEAR_MATCHES",
        "NO_COMPATIBLE_MODEL",
        "TRAINING_STARTED",
    ]
    assert result is not None and result.source == pb.MODEL_SOURCE_TRAINED_NOW


def test_option_a_with_an_unusable_stored_model_trains() -> None:
    j = job()
    registry = FakeRegistry(metadata(j.household_hash, 1000, sha256="bad" + "3" * 61))
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED, exists=True)
    stages, result = run(make_optimizer(registry, training), j)
    assert stages[:2] == ["HASHED", "ALREADY_TRAINED"]
    assert "MODEL_UNUSABLE" in stages and "TRAINING_STARTED" in stages
    assert registry.quarantined_shas == ["bad" + "3" * 61]
    assert result is not None and result.source == pb.MODEL_SOURCE_TRAINED_NOW


def test_option_a_with_a_quarantined_stored_model_trains_without_downloading() -> None:
    j = job()
    stored = metadata(j.household_hash, 1000)
    stored.quarantine_reason = "actions are NaN"
    registry = FakeRegistry(stored)
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED, exists=True)
    stages, result = run(make_optimizer(registry, training), j)
    assert stages[:3] == ["HASHED", "ALREADY_TRAINED", "MODEL_UNUSABLE"]
    assert registry.downloads == 1  # the trained model's, never the quarantined one
    assert result is not None and result.source == pb.MODEL_SOURCE_TRAINED_NOW


def test_actions_that_turn_non_finite_in_the_evaluation_move_on() -> None:
    j = job(use_pretrained=True)
    first = metadata(j.household_hash, 2000, sha256="ee" * 32)
    second = metadata(j.household_hash, 1000, sha256="dd" * 32)
    registry = FakeRegistry(first, second)

    def judged(job_: OptimizeJob, model: Any, policy: Any, i: Interrupt) -> Judgement:
        if model.sha256 == first.sha256:
            raise UnusablePolicy("the policy's actions are NaN during the evaluation")
        return fake_evaluate(job_, model, policy, i)

    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED)
    optimizer = Optimizer(registry, training, FakePolicies(), judged, fake_score)
    found, result = events(optimizer, j)
    assert registry.quarantined_shas == [first.sha256]
    assert result is not None and result.model.sha256 == second.sha256
    assert [e.stage for e in found][-3:] == [
        pb.OPTIMIZE_STAGE_EVALUATING,
        pb.OPTIMIZE_STAGE_MODEL_UNUSABLE,
        pb.OPTIMIZE_STAGE_EVALUATING,
    ]


def test_peer_calls_carry_the_service_token_and_the_caller() -> None:
    credentials = Credentials("svc-token")
    assert credentials.acting_for(User("alice")) == (
        ("authorization", "Bearer svc-token"),
        ("glidepath-on-behalf-of", "alice"),
    )
    assert credentials.acting_for(ANONYMOUS) == ()  # reads what everyone may read
    assert credentials.own() == (("authorization", "Bearer svc-token"),)
    assert Credentials(None).acting_for(User("alice")) == (("glidepath-on-behalf-of", "alice"),)


@pytest.mark.parametrize(
    "code", [grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED]
)
def test_a_peer_refusing_the_credential_names_the_setting(code: grpc.StatusCode) -> None:
    mapped = peer_error(FakeRpcError(code, "no\n\x1b[1mway\x1b[0m"), "the training service", "t:1")
    assert isinstance(mapped, errors.FailedPrecondition)
    assert mapped.reason == "PEER_REFUSED_CREDENTIAL"
    assert "GLIDEPATH_SERVICE_TOKEN" in mapped.message and "\n" not in mapped.message
    assert "\x1b" not in mapped.message


class LadderRegistry(FakeRegistry):
    """No exact model; the default family's generic model under the family hash."""

    def __init__(self, generic: model_pb2.ModelMetadata) -> None:
        super().__init__(generic)
        self.generic = generic

    def find(
        self, model_hash: str, min_episodes: int, most: int, caller: User, i: Interrupt
    ) -> list[model_pb2.ModelMetadata]:
        if model_hash != self.generic.ref.model_hash:
            raise errors.NotFound(f"no model for hash {model_hash}", reason=self.reason)
        return [self.generic]


def gated(passed: bool, beats_rules: bool = False) -> Any:
    def judged(j: OptimizeJob, model: Any, policy: Any, i: Interrupt) -> Judgement:
        judgement = fake_evaluate(j, model, policy, i)
        judgement.gate.passed = passed and model.sha256 != "cd" * 32
        rules = pb.GateVerdict(best_baseline="vpw", passed=beats_rules, lives=10)
        return replace(judgement, versus_rules=rules)

    return judged


def ladder(
    passed: bool, beats_rules: bool = False, **fields: Any
) -> tuple[list[str], Any, FakeTraining]:
    from glidepath.rl.family import family_hash, load_family

    generic = metadata(family_hash(load_family()), 1000, sha256="ee" * 32)
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED)
    optimizer = Optimizer(
        LadderRegistry(generic), training, FakePolicies(), gated(passed, beats_rules), fake_score
    )
    stages, result = run(optimizer, job(use_pretrained=True, **fields))
    return stages, result, training


def test_the_generic_model_serves_when_it_passes_the_gate() -> None:
    stages, result, training = ladder(True)
    assert stages[:3] == ["HASHED", "LOOKING_UP", "NEAR_MATCHES"]
    assert "ZERO_SHOT" in stages and "FINE_TUNING" not in stages
    assert result is not None and result.source == pb.MODEL_SOURCE_GENERIC
    assert training.started == []


def test_a_candidate_that_beats_every_rule_serves_though_the_optimum_wins() -> None:
    stages, result, training = ladder(False, beats_rules=True)
    assert "FINE_TUNING" not in stages and training.started == []
    assert result is not None and result.source == pb.MODEL_SOURCE_GENERIC


def test_without_fallback_a_candidate_not_good_enough_is_never_fine_tuned() -> None:
    with pytest.raises(errors.NotFound) as raised:
        ladder(False, fine_tune_episodes=50, fallback_to_training=False)
    assert "not good enough" in raised.value.message


def test_a_generic_model_failing_the_gate_is_fine_tuned() -> None:
    stages, result, training = ladder(False, fine_tune_episodes=50)
    assert stages.index("ZERO_SHOT") < stages.index("FINE_TUNING")
    assert stages.index("FINE_TUNING") < stages.index("TRAINING_STARTED")
    assert training.started == [50] and training.parents[0] is not None
    assert result is not None and result.source == pb.MODEL_SOURCE_FINE_TUNED_NOW


def test_zero_fine_tune_episodes_skips_to_training_from_scratch() -> None:
    stages, result, training = ladder(False, fine_tune_episodes=0)
    assert "FINE_TUNING" not in stages and "NO_COMPATIBLE_MODEL" in stages
    assert training.parents == [None]
    assert result is not None and result.source == pb.MODEL_SOURCE_TRAINED_NOW


def test_fine_tune_episodes_is_checked() -> None:
    with pytest.raises(errors.InvalidArgument) as raised:
        job(use_pretrained=True, fine_tune_episodes=1_000_001)
    assert "fine_tune_episodes" in str(raised.value)


def test_the_judgements_baselines_begin_when_a_training_starts_and_only_then() -> None:
    """Option A warms the judgement's baselines once, as its training starts; option B
    on a stored model trains nothing and warms nothing."""
    warmed: list[OptimizeJob] = []
    training = FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED)
    optimizer = Optimizer(
        FakeRegistry(),
        training,
        FakePolicies(),
        fake_evaluate,
        fake_score,
        warm=lambda j, _: warmed.append(j),
    )
    trained = job(episodes=700)
    run(optimizer, trained)
    assert warmed == [trained]
    registry = FakeRegistry(metadata(trained.household_hash, 1000))
    optimizer = Optimizer(
        registry,
        training,
        FakePolicies(),
        fake_evaluate,
        fake_score,
        warm=lambda j, _: warmed.append(j),
    )
    run(optimizer, job(use_pretrained=True))
    assert warmed == [trained]


def test_the_ladder_warms_the_baselines_before_its_candidates_are_judged() -> None:
    from glidepath.rl.family import family_hash, load_family

    order: list[str] = []
    judge_it = gated(True)

    def judged(*args: Any) -> Judgement:
        order.append("judged")
        return judge_it(*args)  # type: ignore[no-any-return]

    generic = metadata(family_hash(load_family()), 1000, sha256="ee" * 32)
    optimizer = Optimizer(
        LadderRegistry(generic),
        FakeTraining(training_pb2.TRAINING_STATE_SUCCEEDED),
        FakePolicies(),
        judged,
        fake_score,
        warm=lambda j, _: order.append("warmed"),
    )
    _, result = run(optimizer, job(use_pretrained=True))
    assert result is not None and result.source == pb.MODEL_SOURCE_GENERIC
    assert order == ["warmed", "judged"]
