"""The command-line client against a real local stack (three service processes).

One stack serves the whole module: the registry holds a real stable-baselines3 upload (the
session's tiny PPO) and old files dropped into its directory by hand, as an operator would;
the simulation service runs the real engine; the training service trains a real policy for
the progress bar. The CLI runs as a separate process each time, as a person would run it.
"""

from __future__ import annotations

import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_support import (
    CLI_TIMEOUT,
    EPHEMERAL_PORTS,
    EXAMPLE,
    ROOT,
    cli_env,
    one_error_line,
    run_cli,
)
from conftest import RegistrySb3Model

from glidepath.cli.inputs import load_household
from glidepath.cli.peers import REGISTRY, TRAINING
from glidepath.cli.progress import ProgressBar, follow, training_progress
from glidepath.cli.stack import LocalStack, local_stack
from glidepath.clients.registry import file_sha256, upload_model
from glidepath.common.v1 import model_pb2
from glidepath.registry.v1 import registry_pb2
from glidepath.rpc.channel import bearer, open_channel
from glidepath.simulation.v1 import simulation_pb2 as sim
from glidepath.training.v1 import training_pb2, training_pb2_grpc

pytestmark = pytest.mark.slow

TOKEN = "cli-test-token"
MODEL_HASH = "0123456789abcdef"
MODEL_EPISODES = 1000
DAY = 24 * 3600.0


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {"REGISTRY_TOKEN": TOKEN, "TRAINING_EVAL_LIVES": "200"}
    data_dir = tmp_path_factory.mktemp("cli_stack")
    with local_stack(data_dir, ports=EPHEMERAL_PORTS, env=env) as running:
        yield running


@pytest.fixture(scope="module")
def stored_model(stack: LocalStack, registry_sb3_model: RegistrySb3Model) -> Path:
    """The session's real SB3 zip, uploaded with an evaluation; returns the local file."""
    evaluation = model_pb2.ModelEvaluation(
        score=41000.0,
        held_out_lives=500,
        best_baseline="merton",
        improvement=350.0,
        improvement_standard_error=90.0,
        passed_gate=True,
        strategies=[
            model_pb2.StrategyScore(strategy="rl_policy", ce_consumption=41000.0),
            model_pb2.StrategyScore(strategy="merton", ce_consumption=40650.0),
        ],
    )
    metadata = registry_pb2.UploadModelMetadata(
        ref=model_pb2.ModelRef(model_hash=MODEL_HASH, episodes=MODEL_EPISODES),
        algorithm="PPO",
        evaluation=evaluation,
        timesteps=256,
    )
    channel = open_channel(stack.address(REGISTRY))
    try:
        upload_model(channel, registry_sb3_model.path, metadata, token=TOKEN, timeout=30)
    finally:
        channel.close()
    return registry_sb3_model.path


def drop_model_file(
    stack: LocalStack, source: Path, model_hash: str, episodes: int, age_days: float
) -> Path:
    """Put a valid model file into the model directory by hand, dated ``age_days`` ago."""
    final = stack.layout.models / f"rl_model_{model_hash}_{episodes}ep.zip"
    temp = stack.layout.data_dir / f"{final.name}.tmp"
    temp.write_bytes(source.read_bytes())
    stamp = time.time() - age_days * DAY
    os.utime(temp, (stamp, stamp))
    os.replace(temp, final)
    return final


# ----------------------------------------------------------------------------- models


def test_models_list_shows_the_uploaded_model_in_a_table(
    stack: LocalStack, stored_model: Path
) -> None:
    result = run_cli("models", "list", env=stack.client_env())
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if MODEL_HASH in line)
    assert "1,000" in row and "PPO" in row and "passed" in row and "uploaded" in row
    assert "hash" in result.stdout.splitlines()[0]


def test_models_list_json_parses_and_filters_by_hash(stack: LocalStack, stored_model: Path) -> None:
    listed = run_cli("models", "list", "--json", env=stack.client_env())
    models = json.loads(listed.stdout)["models"]
    assert {"modelHash": MODEL_HASH, "episodes": MODEL_EPISODES} in [m["ref"] for m in models]
    other = run_cli(
        "models", "list", "--hash", "ffffffffffffffff", "--json", env=stack.client_env()
    )
    assert other.returncode == 0
    assert json.loads(other.stdout).get("models", []) == []


def test_models_show_prints_the_metadata_and_the_evaluation(
    stack: LocalStack, stored_model: Path
) -> None:
    result = run_cli("models", "show", MODEL_HASH, str(MODEL_EPISODES), env=stack.client_env())
    assert result.returncode == 0, result.stderr
    assert f"rl_model_{MODEL_HASH}_{MODEL_EPISODES}ep.zip" in result.stdout
    assert file_sha256(stored_model) in result.stdout
    assert "500 held-out lives: passed the gate" in result.stdout
    assert "policy CE minus merton: +350 ± 90 a year" in result.stdout
    as_json = run_cli(
        "models", "show", MODEL_HASH, str(MODEL_EPISODES), "--json", env=stack.client_env()
    )
    assert json.loads(as_json.stdout)["model"]["sha256"] == file_sha256(stored_model)


def test_models_show_of_an_unknown_model_is_one_not_found_line(stack: LocalStack) -> None:
    result = run_cli("models", "show", MODEL_HASH, "7", env=stack.client_env())
    line = one_error_line(result, 1)
    assert f"rl_model_{MODEL_HASH}_7ep.zip" in line and "NOT_FOUND" in line


def test_cleanup_dry_run_lists_an_old_model_and_deletes_nothing(
    stack: LocalStack, stored_model: Path
) -> None:
    old = drop_model_file(stack, stored_model, "0a0a0a0a0a0a0a0a", 600, age_days=40)
    env = {**stack.client_env(), "REGISTRY_TOKEN": TOKEN}
    result = run_cli("models", "cleanup", "--max-age-days", "30", "--dry-run", env=env)
    assert result.returncode == 0, result.stderr
    assert "Dry run" in result.stdout and old.name in result.stdout
    assert f"rl_model_{MODEL_HASH}_" not in result.stdout
    assert old.exists()
    as_json = run_cli("models", "cleanup", "--dry-run", "--json", env=env)
    refs = json.loads(as_json.stdout)["models"]
    assert {"modelHash": "0a0a0a0a0a0a0a0a", "episodes": 600} in refs


def test_cleanup_deletes_old_models_and_keeps_recent_ones(
    stack: LocalStack, stored_model: Path
) -> None:
    old = drop_model_file(stack, stored_model, "0b0b0b0b0b0b0b0b", 600, age_days=45)
    env = {**stack.client_env(), "REGISTRY_TOKEN": TOKEN}
    result = run_cli("models", "cleanup", "--max-age-days", "30", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Deleted ") and old.name in result.stdout
    assert not old.exists()
    kept = run_cli("models", "show", MODEL_HASH, str(MODEL_EPISODES), env=env)
    assert kept.returncode == 0


def test_delete_without_the_token_is_refused_in_one_line_then_deletes_with_it(
    stack: LocalStack, stored_model: Path
) -> None:
    dropped = drop_model_file(stack, stored_model, "0c0c0c0c0c0c0c0c", 700, age_days=1)
    refused = run_cli("models", "delete", "0c0c0c0c0c0c0c0c", "700", env=stack.client_env())
    line = one_error_line(refused, 1)
    assert "refused" in line and "set GLIDEPATH_TOKEN to your token" in line
    assert dropped.exists()
    env = {**stack.client_env(), "REGISTRY_TOKEN": TOKEN}
    deleted = run_cli("models", "delete", "0c0c0c0c0c0c0c0c", "700", env=env)
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == f"Deleted {dropped.name}."
    assert not dropped.exists()


def test_a_malformed_hash_is_a_usage_error_naming_the_argument(stack: LocalStack) -> None:
    result = run_cli("models", "show", "not-a-hash", "1000", env=stack.client_env())
    line = one_error_line(result, 2)
    assert line.startswith("glidepath: registry rejected the request: HASH: must be 16 ")
    listed = one_error_line(run_cli("models", "list", "--hash", "xyz", env=stack.client_env()), 2)
    assert listed.startswith("glidepath: registry rejected the request: --hash: must be 16 ")


# ----------------------------------------------------------------------------- simulation


def test_simulate_prints_the_metrics_and_writes_a_fan_chart(
    stack: LocalStack, tmp_path: Path
) -> None:
    import matplotlib.image

    png = tmp_path / "simulate.png"
    result = run_cli(
        "simulate", str(EXAMPLE), "--paths", "2000", "--plot", str(png), env=stack.client_env()
    )
    assert result.returncode == 0, result.stderr
    assert "strategy own_plan · 2,000 paths" in result.stdout
    for label in ("Certainty-equivalent consumption", "Success", "Capital goal", "Wealth by age"):
        assert label in result.stdout
    assert f"wrote {png}" in result.stderr
    image = matplotlib.image.imread(png)
    height, width = image.shape[:2]
    assert width >= 800 and height >= 600


def test_compare_prints_every_strategy_asked_for_side_by_side(stack: LocalStack) -> None:
    names = ["merton", "vpw", "four_percent_rule"]
    result = run_cli(
        "compare", str(EXAMPLE), "--strategies", ",".join(names), "--paths", "2000",
        env=stack.client_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.strip().startswith("strategy"))
    # Both certainty equivalents, named; the bequest apart; the words defined below.
    assert "objective CE vs merton" in header and "spending CE" in header
    assert "success" in header and "median bequest" in header
    assert any(line.strip().startswith("exhausted while someone was alive") for line in lines)
    for name in names:
        assert any(line.strip().lstrip("* ").startswith(name) for line in lines), name


def test_compare_json_parses_with_the_optimum_and_the_share_of_it(stack: LocalStack) -> None:
    result = run_cli(
        "compare", str(EXAMPLE), "--strategies", "merton,optimum", "--paths", "1000", "--json",
        env=stack.client_env(),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    response = json.loads(result.stdout)
    assert [r["strategy"] for r in response["results"]] == ["merton", "optimum"]
    assert re.fullmatch("[0-9a-f]{16}", response["householdHash"])
    assert all("shareOfOptimum" in r for r in response["results"])


def test_an_unknown_strategy_is_a_usage_error_naming_the_field(stack: LocalStack) -> None:
    result = run_cli("simulate", str(EXAMPLE), "--strategy", "astrology", env=stack.client_env())
    line = one_error_line(result, 2)
    assert "simulation service rejected the request" in line and "strategy" in line


# ----------------------------------------------------------------------------- progress


def test_the_progress_bar_follows_a_real_training_to_its_end(stack: LocalStack) -> None:
    household = load_household(EXAMPLE)
    channel = open_channel(stack.address(TRAINING))
    stub = training_pb2_grpc.TrainingServiceStub(channel)
    try:
        started = stub.StartTraining(
            training_pb2.StartTrainingRequest(household=household.message, episodes=100, seed=3),
            timeout=10,
            metadata=bearer(TOKEN),
        )
        stream = stub.WatchTraining(
            training_pb2.WatchTrainingRequest(job_id=started.job.job_id),
            timeout=120,
            metadata=bearer(TOKEN),
        )
        shown = io.StringIO()
        last = follow((m.job for m in stream), training_progress, ProgressBar(shown))
    finally:
        channel.close()
    assert last is not None and last.state == training_pb2.TRAINING_STATE_SUCCEEDED
    lines = shown.getvalue().splitlines()
    assert lines[-1].startswith("SUCCEEDED") and "100/100 episodes" in lines[-1]
    assert any(line.startswith("RUNNING") for line in lines)
    assert all("\r" not in line for line in lines)  # plain lines: StringIO is no terminal
    assert len(lines) <= 20  # a line per tenth of the episodes and per state, not per update
    listed = run_cli("models", "list", "--hash", last.model.model_hash, env=stack.client_env())
    row = next(line for line in listed.stdout.splitlines() if last.model.model_hash in line)
    assert row.split()[:2] == [last.model.model_hash, "100"] and "uploaded" in row


def test_a_cleanup_dry_run_needs_no_credential(stack: LocalStack, stored_model: Path) -> None:
    old = drop_model_file(stack, stored_model, "0d0d0d0d0d0d0d0d", 600, age_days=50)
    result = run_cli(
        "models", "cleanup", "--max-age-days", "30", "--dry-run", env=stack.client_env()
    )
    assert result.returncode == 0, result.stderr
    assert old.name in result.stdout and old.exists()


def test_an_empty_cleanup_says_so_and_its_json_keeps_the_zero(stack: LocalStack) -> None:
    env = {**stack.client_env(), "REGISTRY_TOKEN": TOKEN}
    for extra, would in (["--dry-run"], "would be"), ([], "was"):
        argv = ["models", "cleanup", "--max-age-days", "36500", *extra]
        text = run_cli(*argv, env=env)
        assert text.stdout.strip() == f"No model is older than 36500 days: nothing {would} deleted."
        as_json = run_cli(*argv, "--json", env=env)
        assert as_json.returncode == 0, as_json.stderr
        assert json.loads(as_json.stdout) == {"models": [], "deletedCount": 0}


def test_json_writes_every_field_even_when_it_is_zero(stack: LocalStack) -> None:
    argv = ["simulate", str(EXAMPLE), "--paths", "300", "--strategy", "merton", "--json"]
    result = run_cli(*argv, env=stack.client_env())
    assert result.returncode == 0, result.stderr
    written = json.loads(result.stdout)["result"]
    # A field without presence is written even at its zero (a message field only when set).
    always = [f.json_name for f in sim.StrategyResult.DESCRIPTOR.fields if not f.has_presence]
    assert [name for name in always if name not in written] == []


def test_optimize_names_the_flags_the_service_objects_to(stack: LocalStack) -> None:
    result = run_cli(
        "optimize", str(EXAMPLE), "--pretrained", "--episodes", "100", env=stack.client_env()
    )
    line = one_error_line(result, 2)
    assert "--episodes: the fallback training would give a model of 100 episodes, under " in line
    assert "--min-episodes (500)" in line and "min_episodes" not in line


def test_ctrl_c_during_optimize_leaves_the_training_running_and_says_so(
    stack: LocalStack,
) -> None:
    env = cli_env({**stack.client_env(), "GLIDEPATH_TOKEN": TOKEN})
    process = subprocess.Popen(
        [sys.executable, "-m", "glidepath.cli", "optimize", str(EXAMPLE), "--episodes", "20000"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as a terminal delivers it (a suite run in the background ignores SIGINT).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    assert process.stderr is not None
    job_id = ""
    for line in process.stderr:
        if line.startswith("TRAINING_STARTED"):
            job_id = re.search(r"training job (\w+)", line).group(1)  # type: ignore[union-attr]
            break
    process.send_signal(signal.SIGINT)
    _, rest = process.communicate(timeout=CLI_TIMEOUT)
    channel = open_channel(stack.address(TRAINING))
    try:
        stub = training_pb2_grpc.TrainingServiceStub(channel)
        job = stub.GetTraining(
            training_pb2.GetTrainingRequest(job_id=job_id), timeout=10, metadata=bearer(TOKEN)
        ).job
        running = job.state in (
            training_pb2.TRAINING_STATE_QUEUED,
            training_pb2.TRAINING_STATE_RUNNING,
        )
        stub.CancelTraining(
            training_pb2.CancelTrainingRequest(job_id=job_id), timeout=10, metadata=bearer(TOKEN)
        )
    finally:
        channel.close()
    assert process.returncode == 130
    last = rest.strip().splitlines()[-1]
    assert last.startswith(
        f"glidepath: interrupted: the training goes on in the training service (job {job_id})"
    )
    assert running
