"""Flags in the CLI's own words: a flag that would be ignored is an error, a service's
objection names the flag that set the field, and Ctrl-C during ``optimize`` says that
the training goes on and its model will be saved."""

from __future__ import annotations

import pytest
from cli_support import EXAMPLE, one_error_line, run_cli

from glidepath.cli.flag_words import in_flag_words
from glidepath.cli.optimize import interrupted_line
from glidepath.cli.rungs import OptimizeProgress
from glidepath.engine.strategies import unknown_strategy
from glidepath.simulation.v1 import simulation_pb2 as sim

NOWHERE = {"SIMULATION_ADDR": "127.0.0.1:9"}


@pytest.mark.parametrize(
    ("argv", "flag"),
    [
        (["optimize", str(EXAMPLE), "--min-episodes", "600"], "--min-episodes"),
        (["optimize", str(EXAMPLE), "--no-fallback"], "--no-fallback"),
    ],
)
def test_an_option_b_flag_without_pretrained_is_an_error(argv: list[str], flag: str) -> None:
    line = one_error_line(run_cli(*argv, env=NOWHERE), 2)
    assert line == f"glidepath: {flag} is an option B flag: it needs --pretrained"


def test_plot_strategy_without_plot_is_an_error_before_any_call() -> None:
    result = run_cli("compare", str(EXAMPLE), "--plot-strategy", "merton", env=NOWHERE)
    line = one_error_line(result, 2)
    assert line == "glidepath: --plot-strategy NAME chooses what --plot draws: give --plot PATH too"


@pytest.mark.parametrize(
    ("service", "flags"),
    [
        (
            "no compatible pre-trained model: none stored (fallback_to_training is off; turn "
            "it on, or run option A)",
            "no compatible pre-trained model: none stored (--no-fallback was given; leave it "
            "out, or run without --pretrained)",
        ),
        (
            "simulation service rejected the request: fine_tune_episodes: at most 1,000,000, "
            "got 2,000,000",
            "simulation service rejected the request: --fine-tune: at most 1,000,000, got "
            "2,000,000",
        ),
        (
            "episodes: under min_episodes (500), which option B would never use; "
            "settings.paths: too many [fields: episodes, settings.paths]",
            "--episodes: under --min-episodes (500), which option B would never use; "
            "--paths: too many [fields: --episodes, --paths]",
        ),
        (
            "rejected the request: strategies[1]: unknown strategy 'foo'",
            "rejected the request: --strategies (name 2): unknown strategy 'foo'",
        ),
        ("rejected the request: strategy: unknown", "rejected the request: --strategy: unknown"),
        (
            "ref.model_hash: must be 16 lowercase hexadecimal characters; ref.episodes: >= 1",
            "HASH: must be 16 lowercase hexadecimal characters; EPISODES: >= 1",
        ),
        ("model_hash: must be 16 lowercase", "--hash: must be 16 lowercase"),
        # A path or a file name is left as it is.
        (
            "cannot read /tmp/min_episodes/rl_model_hash.zip",
            "cannot read /tmp/min_episodes/rl_model_hash.zip",
        ),
        # "episodes" and "strategy" in prose stay words.
        ("a model of 100 episodes", "a model of 100 episodes"),
        ("the best strategy: merton", "the best strategy: merton"),
    ],
)
def test_a_service_message_names_flags_not_request_fields(service: str, flags: str) -> None:
    assert in_flag_words(service) == flags


def _event(stage: sim.OptimizeStage.ValueType, job_id: str = "") -> sim.OptimizeResponse:
    return sim.OptimizeResponse(event=sim.OptimizeEvent(stage=stage, job_id=job_id))


def test_ctrl_c_during_a_training_says_the_training_goes_on_and_its_model_is_kept() -> None:
    progress = OptimizeProgress()
    progress(_event(sim.OPTIMIZE_STAGE_HASHED))
    assert interrupted_line(progress) == "interrupted (no training had started)"
    progress(_event(sim.OPTIMIZE_STAGE_TRAINING_STARTED, "job-1"))
    line = interrupted_line(progress)
    assert "the training goes on in the training service (job job-1)" in line
    assert "its model will be saved in the registry" in line
    assert "run the same command again to join it or use the saved model" in line


def test_an_unknown_strategy_is_answered_with_the_name_meant() -> None:
    message = unknown_strategy("merten")
    assert message.startswith("unknown strategy 'merten'; did you mean 'merton'? (known: own_plan")
    assert "did you mean" not in unknown_strategy("zzzz")


def test_an_unknown_flag_is_reported_with_the_usage_of_its_command() -> None:
    result = run_cli("models", "cleanup", "--older-than-days", "1", env=NOWHERE)
    assert result.returncode == 2
    assert result.stderr.startswith("usage: glidepath models cleanup [-h] [--max-age-days N]")
    assert result.stderr.strip().endswith(
        "glidepath models cleanup: error: unrecognized arguments: --older-than-days 1"
    )
