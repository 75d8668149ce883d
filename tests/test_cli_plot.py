"""``--plot PATH``: checked before anything is computed, and "wrote PATH" names a real file.

A path the chart cannot go to (an unsupported extension, a directory that is missing or
cannot be written to) is one line naming the flag, exit 2, before any call: the tests
point the client at an address where nothing listens, so a check made after the call
would read "cannot connect" instead. An existing directory gets a file named after the
household file and the command inside it. The writes run against a real simulation
service process.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import matplotlib.image
import pytest
from cli_support import EXAMPLE, one_error_line, run_cli
from process_support import ServiceProcess
from training_support import free_port

NOWHERE = {"SIMULATION_ADDR": "127.0.0.1:9"}
COMMANDS = ["simulate", "compare", "optimize"]


@pytest.fixture(scope="module")
def simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """A simulation service process; the client environment that points at it."""
    env = {"REGISTRY_ADDR": f"127.0.0.1:{free_port()}", "TRAINING_ADDR": f"127.0.0.1:{free_port()}"}
    service = ServiceProcess("simulation_service", tmp_path_factory.mktemp("plot_sim"), env)
    try:
        yield {"SIMULATION_ADDR": service.address}
    finally:
        service.stop()


@pytest.mark.parametrize("command", COMMANDS)
def test_an_unsupported_extension_is_refused_before_any_call(command: str, tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    line = one_error_line(run_cli(command, str(EXAMPLE), "--plot", str(target), env=NOWHERE), 2)
    assert (
        line == f"glidepath: --plot {target}: unsupported format .txt (supported: .png, .svg, .pdf)"
    )
    assert not target.exists()


@pytest.mark.parametrize("command", COMMANDS)
def test_a_name_without_extension_is_refused_before_any_call(command: str, tmp_path: Path) -> None:
    target = tmp_path / "chart"
    line = one_error_line(run_cli(command, str(EXAMPLE), "--plot", str(target), env=NOWHERE), 2)
    assert line == (
        f"glidepath: --plot {target}: the file name has no extension (supported: .png, .svg, .pdf)"
    )


@pytest.mark.parametrize("command", COMMANDS)
def test_a_directory_that_does_not_exist_is_refused_before_any_call(
    command: str, tmp_path: Path
) -> None:
    target = tmp_path / "missing" / "out.png"
    line = one_error_line(run_cli(command, str(EXAMPLE), "--plot", str(target), env=NOWHERE), 2)
    assert line == f"glidepath: --plot {target}: the directory {target.parent} does not exist"


def test_a_directory_that_cannot_be_written_to_is_refused_before_any_call() -> None:
    # /proc takes no new files, even from root (a chmod would not stop root).
    line = one_error_line(
        run_cli("simulate", str(EXAMPLE), "--plot", "/proc/x.png", env=NOWHERE), 2
    )
    assert line.startswith("glidepath: --plot /proc/x.png: cannot write in /proc: ")


def test_a_target_that_is_no_regular_file_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "chart.png"
    os.mkfifo(fifo)  # writing a picture into it would block until someone reads
    line = one_error_line(run_cli("simulate", str(EXAMPLE), "--plot", str(fifo), env=NOWHERE), 2)
    assert line == f"glidepath: --plot {fifo}: exists and is not a regular file"


@pytest.mark.slow
@pytest.mark.parametrize("command", ["simulate", "compare"])
def test_an_existing_directory_gets_a_named_chart_inside_and_the_line_names_it(
    command: str, simulation: dict[str, str], tmp_path: Path
) -> None:
    charts = tmp_path / "charts"
    charts.mkdir()
    result = run_cli(command, str(EXAMPLE), "--paths", "300", "--plot", str(charts), env=simulation)
    assert result.returncode == 0, result.stderr
    written = charts / f"{EXAMPLE.stem}-{command}.png"
    assert result.stderr.strip().splitlines()[-1] == f"wrote {written}"
    assert matplotlib.image.imread(written).shape[1] >= 800
    assert sorted(tmp_path.iterdir()) == [charts] and list(charts.iterdir()) == [written]


@pytest.mark.slow
def test_the_extension_picks_the_format(simulation: dict[str, str], tmp_path: Path) -> None:
    starts = {"svg": b"<?xml", "pdf": b"%PDF", "png": b"\x89PNG"}
    for extension, start in starts.items():
        target = tmp_path / f"chart.{extension}"
        result = run_cli(
            "simulate", str(EXAMPLE), "--paths", "300", "--plot", str(target), env=simulation
        )
        assert result.returncode == 0, result.stderr
        assert f"wrote {target}" in result.stderr
        assert target.read_bytes().startswith(start), extension
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chart.pdf", "chart.png", "chart.svg"]
