"""The client's own behaviour, no service needed: bad input, rendering, the chart, the bar.

A bad household file must fail before any call, with one line naming the file and the
field, exit code 2; so must a bad command line. (The chart: ``test_cli_charts.py``.)
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import pytest
from cli_support import EXAMPLE, one_error_line, run_cli

from glidepath.cli import peers
from glidepath.cli.progress import Progress, ProgressBar, describe, duration
from glidepath.cli.render import money, money_estimate, percent_estimate, table
from glidepath.simulation.v1 import simulation_pb2 as sim
from model_registry_service.config import DEFAULT_PORT as REGISTRY_PORT
from simulation_service.config import DEFAULT_PORT as SIMULATION_PORT
from training_service.config import DEFAULT_PORT as TRAINING_PORT
from web_service.config import DEFAULT_PORT as WEB_PORT

# Nothing listens here: a call that reached the network would fail with another message.
NOWHERE = {"SIMULATION_ADDR": "127.0.0.1:9", "REGISTRY_ADDR": "127.0.0.1:9"}


def test_an_invalid_household_file_is_one_line_naming_the_field_and_exit_2(
    tmp_path: Path,
) -> None:
    bad = tmp_path / "household.json"
    text = EXAMPLE.read_text().replace('"retirementAge": 65', '"retirementAge": 30')
    bad.write_text(text)
    line = one_error_line(run_cli("simulate", str(bad), env=NOWHERE), 2)
    assert str(bad) in line and "adults[0].retirementAge" in line


def test_a_household_file_without_current_age_is_refused_naming_it(tmp_path: Path) -> None:
    """It used to simulate a life from age 0 and exit 0."""
    bad = tmp_path / "household.json"
    bad.write_text(EXAMPLE.read_text().replace('"currentAge": 40,', ""))
    line = one_error_line(run_cli("simulate", str(bad), env=NOWHERE), 2)
    assert "adults[0].currentAge: is required" in line


def test_a_missing_or_malformed_file_is_exit_2(tmp_path: Path) -> None:
    missing = one_error_line(run_cli("compare", str(tmp_path / "nope.json"), env=NOWHERE), 2)
    assert "cannot read household file" in missing and "No such file" in missing
    broken = tmp_path / "broken.json"
    broken.write_text('{"adults": [ {"currentAge": "forty"} ]}')
    line = one_error_line(run_cli("simulate", str(broken), env=NOWHERE), 2)
    assert "is not a valid household" in line and "currentAge" in line


@pytest.mark.parametrize(
    "argv",
    [
        ["simulate"],
        ["simulate", str(EXAMPLE), "--paths", "0"],
        ["compare", str(EXAMPLE), "--strategies", "merton,,vpw"],
        ["models", "cleanup", "--max-age-days", "-3"],
        ["frobnicate"],
        # Past what the wire carries (uint32 counts, uint64 seeds, TCP ports).
        ["models", "cleanup", "--max-age-days", "99999999999"],
        ["simulate", str(EXAMPLE), "--paths", "4294967296"],
        ["simulate", str(EXAMPLE), "--seed", "18446744073709551616"],
        ["optimize", str(EXAMPLE), "--episodes", "99999999999"],
        ["optimize", str(EXAMPLE), "--min-episodes", "99999999999"],
        ["compare", str(EXAMPLE), "--seed", "9" * 5000],
        # (a data directory that cannot exist: were the port let through, nothing starts)
        ["up", "--registry-port", "65536", "--data-dir", "/proc/glidepath"],
    ],
)
def test_a_bad_command_line_is_exit_2_without_a_traceback(argv: list[str]) -> None:
    result = run_cli(*argv, env=NOWHERE)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr and "usage: glidepath" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("glidepath") and len(result.stderr) < 2000


def test_the_default_addresses_are_the_services_default_ports() -> None:
    assert peers.SIMULATION.default_port == SIMULATION_PORT
    assert peers.TRAINING.default_port == TRAINING_PORT
    assert peers.REGISTRY.default_port == REGISTRY_PORT
    assert peers.WEB.default_port == WEB_PORT
    assert peers.REGISTRY.address({}) == f"127.0.0.1:{REGISTRY_PORT}"
    assert peers.REGISTRY.address({"REGISTRY_ADDR": "registry:6000"}) == "registry:6000"


def test_money_and_probabilities_read_as_people_write_them() -> None:
    assert money(1234567.4) == "1,234,567"
    assert money(math.nan) == "—"
    assert money_estimate(sim.Estimate(value=45120.2, standard_error=85.4)) == "45,120 ± 85"
    assert money_estimate(sim.Estimate(value=45120.2, standard_error=math.nan)) == "45,120"
    assert percent_estimate(sim.Estimate(value=0.8734, standard_error=0.0041)) == "87.3 % ± 0.4"
    assert percent_estimate(sim.Estimate(value=0.999, standard_error=0.0002)) == "99.9 % ± 0.02"


def test_tables_align_names_left_and_figures_right() -> None:
    lines = table(["strategy", "CE"], [["merton", "49,276"], ["vpw", "3"]]).splitlines()
    assert lines == ["  strategy      CE", "  merton    49,276", "  vpw            3"]


def test_the_bar_redraws_in_place_on_a_terminal_and_ends_the_line() -> None:
    shown = io.StringIO()
    with ProgressBar(shown, interactive=True) as bar:
        for done in range(0, 1001, 100):
            bar.update(Progress("RUNNING", done, 1000, done * 50, -0.25, done / 100, 3.0))
    text = shown.getvalue()
    assert text.count("\r") == 11 and text.endswith("\n") and text.count("\n") == 1
    assert "1,000/1,000 episodes" in text


def test_plain_lines_are_a_few_per_job_not_one_per_update() -> None:
    shown = io.StringIO()
    with ProgressBar(shown, interactive=False) as bar:
        bar.update(Progress("QUEUED"))
        for done in range(1001):
            bar.update(Progress("RUNNING", done, 1000, done * 50, -0.2, done / 100, 1.0))
        bar.update(Progress("SUCCEEDED", 1000, 1000, 50000, -0.2, 10.0, final=True))
    lines = shown.getvalue().splitlines()
    assert lines[0].startswith("QUEUED") and lines[-1].startswith("SUCCEEDED")
    assert 10 <= len(lines) <= 14


def test_a_progress_line_carries_every_figure() -> None:
    line = describe(Progress("RUNNING", 450, 1000, 22500, -0.2134, 3.2, 4.4, "warming up"))
    for part in (
        "RUNNING",
        "450/1,000 episodes",
        "22,500 steps",
        "gain over the rule -21.3 % of a year's spending (exploring)",
        "0:03 elapsed",
    ):
        assert part in line
    assert "ETA 0:04" in line and line.endswith("warming up")
    assert duration(3723) == "1:02:03"
