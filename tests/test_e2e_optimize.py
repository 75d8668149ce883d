"""Options A and B end to end, over three real service processes (``local_stack``).

The registry, the training service and the simulation service run as separate processes
with their data in a temp directory, wired by address as in production. Training budgets
are small (600 episodes, >= the 500 option B asks for; 100 for the 500-episode rule) and
evaluations use 1,000 lives, so the module runs in about a minute or two.
"""

from __future__ import annotations

import itertools
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from cli_support import EPHEMERAL_PORTS, EXAMPLE, run_cli
from e2e_support import EPISODES, failure, household, optimize, request

from glidepath.cli.peers import SIMULATION, TRAINING
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.status import error_reason
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from glidepath.training.v1 import training_pb2, training_pb2_grpc

pytestmark = pytest.mark.slow

BASELINES = {
    "own_plan",
    "four_percent_rule",
    "glide_path",
    "vpw",
    "guardrails",
    "merton",
    "floor_upside",
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {
        "TRAINING_EVAL_LIVES": "500",
        "OPTIMIZE_PROFILE_PATHS": "500",
        "RL_SHIPPED_MODELS_DIR": "",  # no generic model: households far apart stay unknown
    }
    with local_stack(tmp_path_factory.mktemp("e2e"), ports=EPHEMERAL_PORTS, env=env) as running:
        yield running


def simulation(stack: LocalStack) -> str:
    return stack.address(SIMULATION)


def check_answer(result: pb.OptimizeResult) -> None:
    """What every answer must hold, whichever way the model came."""
    names = [r.strategy for r in result.comparison.results]
    assert names[0] == "rl_policy" and set(names) >= BASELINES
    assert "optimum" in names  # the example household has one
    assert all(r.HasField("share_of_optimum") for r in result.comparison.results)
    gate = result.gate
    # The best OTHER strategy: the highest CE among the rules and the optimum.
    others = [r for r in result.comparison.results if r.strategy != "rl_policy"]
    best = max(others, key=lambda r: r.certainty_equivalent.value)
    assert gate.best_baseline == best.strategy and gate.standard_errors_required == 2
    assert gate.passed == (gate.improvement.value > 2 * gate.improvement.standard_error)
    recommended = result.recommended
    assert recommended.is_trained_policy == gate.passed
    assert recommended.strategy == ("rl_policy" if gate.passed else gate.best_baseline)
    assert recommended.strategy in recommended.reason
    assert (
        recommended.reason.count(" wins: ") == 1 and f"{gate.lives:,} lives" in recommended.reason
    )
    years = recommended.years
    assert [y.age for y in years] == list(range(40, 40 + len(years))) and len(years) == 71
    assert all(0.0 <= y.stock_share <= 1.0 for y in years)
    # Under mortality the medians are over the lives still running, fewer with each age.
    running = [y.lives_running for y in years]
    assert running[0] == 1.0 and running[-1] < 0.05
    assert all(a >= b for a, b in itertools.pairwise(running))
    assert all(y.consumption > 0 for y in years if y.lives_running > 0)
    assert any(y.savings > 0 for y in years if not y.retired)
    assert any(y.withdrawal > 0 and 0 < y.withdrawal_rate < 1 for y in years if y.retired)
    assert {t.stage.split(" ")[0] for t in result.timings} >= {"evaluation", "profile"}
    assert result.total_seconds >= sum(t.seconds for t in result.timings) * 0.99


def test_option_a_trains_then_option_b_finds_that_model(stack: LocalStack) -> None:
    trained = optimize(simulation(stack), request(household(), pretrained=False))
    answer_a = trained.answer()
    assert trained.stages[:2] == ["HASHED", "TRAINING_STARTED"]
    assert "TRAINING_PROGRESS" in trained.stages and "LOOKING_UP" not in trained.stages
    last_progress = [e for e in trained.events if e.stage == pb.OPTIMIZE_STAGE_TRAINING_PROGRESS][
        -1
    ]
    assert last_progress.training.episodes_done == last_progress.training.episodes_total
    assert answer_a.source == pb.MODEL_SOURCE_TRAINED_NOW and answer_a.training_job_id
    assert answer_a.model.ref.episodes == EPISODES
    assert answer_a.model.ref.model_hash == answer_a.household_hash
    assert {"training", "download", "load"} <= {t.stage for t in answer_a.timings}
    check_answer(answer_a)

    found = optimize(simulation(stack), request(household(), pretrained=True))
    answer_b = found.answer()
    assert found.stages[:3] == ["HASHED", "LOOKING_UP", "MODEL_FOUND"]
    assert not any(s.startswith("TRAINING") for s in found.stages)
    assert answer_b.source == pb.MODEL_SOURCE_PRETRAINED and not answer_b.training_job_id
    assert answer_b.model.ref == answer_a.model.ref
    assert answer_b.model.sha256 == answer_a.model.sha256
    # The same model on the same scenarios: the same verdict, to the last digit.
    assert answer_b.gate == answer_a.gate
    assert answer_b.recommended == answer_a.recommended
    # Computed once: the same model, household and settings make the same judgement.
    assert "evaluation (cached)" in {t.stage for t in answer_b.timings}
    other_seed = optimize(simulation(stack), request(household(), pretrained=True, seed=7))
    assert "evaluation" in {t.stage for t in other_seed.answer().timings}
    check_answer(other_seed.answer())


def test_option_a_again_uses_the_stored_model(stack: LocalStack) -> None:
    """The registry keeps one model per (hash, episodes): option A says so and uses it."""
    first = optimize(simulation(stack), request(household(), pretrained=False)).answer()
    again = optimize(simulation(stack), request(household(), pretrained=False))
    assert "ALREADY_TRAINED" in again.stages
    answer = again.answer()
    assert answer.source == pb.MODEL_SOURCE_ALREADY_IN_REGISTRY
    assert answer.model.sha256 == first.model.sha256
    check_answer(answer)


def test_option_b_on_an_unknown_household_falls_back_to_training(stack: LocalStack) -> None:
    # Half the example's risk aversion: too far for its model to be a near match.
    stream = optimize(simulation(stack), request(household(risk_aversion=1.5), pretrained=True))
    assert stream.stages[:5] == [
        "HASHED",
        "LOOKING_UP",
        "NEAR_MATCHES",
        "NO_COMPATIBLE_MODEL",
        "TRAINING_STARTED",
    ]
    missing = stream.events[3]
    assert "no model" in missing.message.lower() and "training" in missing.message
    answer = stream.answer()
    assert answer.source == pb.MODEL_SOURCE_TRAINED_NOW
    assert answer.model.ref.episodes == EPISODES
    check_answer(answer)


def test_option_b_without_fallback_is_not_found_with_the_reason(stack: LocalStack) -> None:
    message = request(household(risk_aversion=6.0), pretrained=True, fallback=False)
    error, stream = failure(simulation(stack), message)
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(error) == "NO_MODEL_FOR_HASH"
    assert "fallback_to_training is off" in (error.details() or "")
    assert stream.stages == ["HASHED", "LOOKING_UP", "NEAR_MATCHES", "NO_COMPATIBLE_MODEL"]


def test_the_500_episode_rule_holds_end_to_end(stack: LocalStack) -> None:
    """A 100-episode model exists, yet option B never serves it: NOT_FOUND, or it trains."""
    few = household(risk_aversion=5.0)
    small = optimize(simulation(stack), request(few, pretrained=False, episodes=100)).answer()
    assert small.model.ref.episodes == 100

    error, _ = failure(simulation(stack), request(few, pretrained=True, fallback=False))
    assert error.code() == grpc.StatusCode.NOT_FOUND
    assert error_reason(error) == "BELOW_MIN_EPISODES"

    stream = optimize(simulation(stack), request(few, pretrained=True))
    assert "NO_COMPATIBLE_MODEL" in stream.stages and "TRAINING_STARTED" in stream.stages
    answer = stream.answer()
    assert answer.source == pb.MODEL_SOURCE_TRAINED_NOW
    assert answer.model.ref.episodes == EPISODES >= 500

    # Now a compatible model exists: option B finds it (and never the 100-episode one).
    found = optimize(simulation(stack), request(few, pretrained=True)).answer()
    assert found.source == pb.MODEL_SOURCE_PRETRAINED
    assert found.model.ref.episodes == EPISODES


def test_bad_requests_name_the_field(stack: LocalStack) -> None:
    message = request(household(), pretrained=True, episodes=300)
    error, _ = failure(simulation(stack), message)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "episodes" in (error.details() or "")


def test_a_client_that_cancels_leaves_the_training_job_running(stack: LocalStack) -> None:
    """Others may have joined the job, and its model will serve the next option B."""
    channel = open_channel(simulation(stack))
    stub = simulation_pb2_grpc.SimulationServiceStub(channel)
    message = request(household(risk_aversion=7.0), pretrained=False, episodes=50_000)
    call = stub.Optimize(message, timeout=60)
    job_id = ""
    for response in call:
        if response.event.stage == pb.OPTIMIZE_STAGE_TRAINING_STARTED:
            job_id = response.event.job_id
            break
    call.cancel()
    channel.close()
    training = open_channel(stack.address(TRAINING))
    try:
        jobs = training_pb2_grpc.TrainingServiceStub(training)
        time.sleep(0.5)
        job = jobs.GetTraining(training_pb2.GetTrainingRequest(job_id=job_id), timeout=5).job
        assert job.state in (
            training_pb2.TRAINING_STATE_QUEUED,
            training_pb2.TRAINING_STATE_RUNNING,
        )
        jobs.CancelTraining(training_pb2.CancelTrainingRequest(job_id=job_id), timeout=5)
    finally:
        training.close()


def test_the_command_line_optimize_prints_the_answer_and_draws_it(
    stack: LocalStack, tmp_path: Path
) -> None:
    env = stack.client_env()
    common = ["optimize", str(EXAMPLE), "--pretrained", "--episodes", str(EPISODES)]
    shown = run_cli(*common, "--paths", "1000", "--plot", str(tmp_path / "o.png"), env=env)
    assert shown.returncode == 0, shown.stderr
    assert "Recommended strategy by age" in shown.stdout and "Gate" in shown.stdout
    assert "LOOKING_UP" in shown.stderr and "DONE" in shown.stderr  # the progress lines
    assert (tmp_path / "o.png").stat().st_size > 10_000
    as_json = run_cli(*common, "--paths", "1000", "--json", env=env)
    assert as_json.returncode == 0, as_json.stderr
    answer = json.loads(as_json.stdout)
    assert answer["recommended"]["years"] and answer["model"]["ref"]["episodes"] == EPISODES
    missing = run_cli(
        "optimize",
        str(EXAMPLE),
        "--pretrained",
        "--min-episodes",
        "5000",
        "--no-fallback",
        env=env,
    )
    assert missing.returncode == 1 and "Traceback" not in missing.stderr
    last = missing.stderr.strip().splitlines()[-1]
    assert last.startswith("glidepath: ") and "NOT_FOUND" in last and "5000" in last


# ------------------------------------------------------------------------ peers down


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def lonely_simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str, str]]:
    """A simulation service process whose registry and training service are not there."""
    registry, training = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    port_file = tmp_path_factory.mktemp("lonely") / "port"
    env = {
        **os.environ,
        "REGISTRY_ADDR": registry,
        "TRAINING_ADDR": training,
        "OPTIMIZE_PEER_DEADLINE_SECONDS": "3",
    }
    command = [sys.executable, "-m", "simulation_service", "--port", "0"]
    process = subprocess.Popen(
        [*command, "--port-file", str(port_file)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=Path(__file__).resolve().parent.parent,
    )
    try:
        deadline = time.monotonic() + 60
        while not port_file.exists():
            assert process.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        address = f"127.0.0.1:{int(port_file.read_text())}"
        channel = open_channel(address)
        wait_until_serving(channel, timeout=30)
        channel.close()
        yield address, registry, training
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_registry_down_is_unavailable_naming_the_registry(
    lonely_simulation: tuple[str, str, str],
) -> None:
    address, registry, _ = lonely_simulation
    error, stream = failure(address, request(household(), pretrained=True))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    details = error.details() or ""
    assert "model registry" in details and registry in details
    assert "Traceback" not in details
    assert stream.stages == ["HASHED", "LOOKING_UP"]


def test_training_down_is_unavailable_naming_the_training_service(
    lonely_simulation: tuple[str, str, str],
) -> None:
    address, _, training = lonely_simulation
    error, _ = failure(address, request(household(), pretrained=False))
    assert error.code() == grpc.StatusCode.UNAVAILABLE
    details = error.details() or ""
    assert "training service" in details and training in details
