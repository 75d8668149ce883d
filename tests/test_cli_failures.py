"""What the client says when something other than the input goes wrong: a peer that is
down, a peer that answers that its own peer is down, a reader that went away, Ctrl-C, a
bad TLS setting, a bug. One line each on stderr (never a traceback) and the exit code
docs/cli.md lists; the client runs as a real process against real services.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cli_process_support import run_cli_stdout_closed
from cli_support import CLI_TIMEOUT, EXAMPLE, ROOT, cli_env, one_error_line, run_cli
from process_support import ServiceProcess
from training_support import free_port

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def lonely_simulation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A simulation service whose training service and registry are not running: its
    address, and the training service's address it was given."""
    registry, training = f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"
    env = {
        "REGISTRY_ADDR": registry,
        "TRAINING_ADDR": training,
        "OPTIMIZE_PEER_DEADLINE_SECONDS": "3",
    }
    service = ServiceProcess("simulation_service", tmp_path_factory.mktemp("lonely"), env)
    try:
        yield service.address, training
    finally:
        service.stop()


@pytest.fixture(scope="module")
def empty_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A registry process with no models; its address."""
    work = tmp_path_factory.mktemp("empty_registry")
    service = ServiceProcess("model_registry_service", work, {"RL_MODELS_DIR": str(work / "rl")})
    try:
        yield service.address
    finally:
        service.stop()


def last_error_line(result: subprocess.CompletedProcess[str], exit_code: int) -> str:
    """The one ``glidepath:`` line, after any progress lines the stream drew on stderr."""
    assert result.returncode == exit_code, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("glidepath: ")]
    assert len(errors) == 1 and result.stderr.strip().endswith(errors[0]), result.stderr
    return errors[0]


# ----------------------------------------------------------------------------- peers


def test_optimize_with_the_training_service_down_keeps_the_message_naming_it(
    lonely_simulation: tuple[str, str],
) -> None:
    simulation, training = lonely_simulation
    result = run_cli(
        "optimize", str(EXAMPLE), "--episodes", "10", env={"SIMULATION_ADDR": simulation}
    )
    line = last_error_line(result, 1)
    assert line.startswith(f"glidepath: simulation service at {simulation} could not complete")
    assert "the training service" in line and training in line and "(UNAVAILABLE)" in line
    assert "cannot connect" not in line and "glidepath up" not in line


def test_a_service_that_is_not_running_is_a_cannot_connect_line_naming_its_variable() -> None:
    nowhere = f"127.0.0.1:{free_port()}"
    line = one_error_line(run_cli("simulate", str(EXAMPLE), env={"SIMULATION_ADDR": nowhere}), 1)
    assert line == (
        f"glidepath: cannot connect to the simulation service at {nowhere} "
        "(is `glidepath up` running? SIMULATION_ADDR sets the address)"
    )


# ----------------------------------------------------------------------------- the guard


@pytest.mark.parametrize(
    "argv",
    [
        ["models", "list"],  # a few bytes: the pipe breaks at the last flush
        ["compare", str(EXAMPLE), "--paths", "500", "--json"],  # many KB: while printing
    ],
    ids=["models-list", "compare-json"],
)
def test_a_reader_that_went_away_ends_the_command_quietly_with_exit_0(
    argv: list[str],
    empty_registry: str,
    lonely_simulation: tuple[str, str],
) -> None:
    env = {"REGISTRY_ADDR": empty_registry, "SIMULATION_ADDR": lonely_simulation[0]}
    result = run_cli_stdout_closed(*argv, env=env)
    assert (result.returncode, result.stderr) == (0, "")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_while_waiting_for_a_service_is_one_line_and_exit_130() -> None:
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        listener.settimeout(CLI_TIMEOUT)
        address = f"127.0.0.1:{listener.getsockname()[1]}"
        process = subprocess.Popen(
            [sys.executable, "-m", "glidepath.cli", "models", "list"],
            env=cli_env({"REGISTRY_ADDR": address}),
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            # Ctrl-C as a terminal delivers it: a suite started in the background (``&``)
            # ignores SIGINT, its children inherit that, and Python then never raises
            # KeyboardInterrupt.
            preexec_fn=_default_sigint,
        )
        connection, _ = listener.accept()  # the call has started; nothing will answer it
        with connection:
            process.send_signal(signal.SIGINT)
            _, stderr = process.communicate(timeout=CLI_TIMEOUT)
    assert (process.returncode, stderr) == (130, "glidepath: interrupted\n")


FAULTY_CLIENT = """
import sys
import glidepath.cli.simulate as simulate

def broken(path):
    raise RuntimeError("boom " + "x" * 5000 + "\\nsecond line")

simulate.load_household = broken
from glidepath.cli.main import main
main(sys.argv[1:])
"""


def test_an_unexpected_exception_is_one_internal_error_line_and_exit_1() -> None:
    result = subprocess.run(
        [sys.executable, "-c", FAULTY_CLIENT, "simulate", str(EXAMPLE)],
        env=cli_env({"SIMULATION_ADDR": "127.0.0.1:9"}),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    line = one_error_line(result, 1)
    assert line.startswith("glidepath: internal error: RuntimeError: boom xxx")
    assert line.endswith("…; please report it") and len(line) < 300


def test_an_unreadable_tls_ca_is_one_line_naming_the_variable_and_exit_2(tmp_path: Path) -> None:
    missing = tmp_path / "ca.pem"
    env = {"GLIDEPATH_TLS_CA": str(missing), "REGISTRY_ADDR": "127.0.0.1:9"}
    line = one_error_line(run_cli("models", "list", env=env), 2)
    assert line.startswith("glidepath: GLIDEPATH_TLS_CA: cannot read") and str(missing) in line


def test_a_file_name_with_a_newline_is_still_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "first\nsecond.json"
    line = one_error_line(
        run_cli("simulate", str(missing), env={"SIMULATION_ADDR": "127.0.0.1:9"}), 2
    )
    assert line.startswith("glidepath: cannot read household file ") and "first second.json" in line


@pytest.mark.parametrize(
    ("variables", "origin"),
    [({}, "--data-dir"), ({"RL_MODELS_DIR": "/proc/glidepath-models"}, "RL_MODELS_DIR")],
    ids=["data-dir", "models-dir"],
)
def test_up_with_a_directory_it_cannot_create_is_one_line_and_exit_2(
    tmp_path: Path, variables: dict[str, str], origin: str
) -> None:
    occupied = tmp_path / "a-file"
    occupied.write_text("not a directory")
    data_dir = occupied if origin == "--data-dir" else tmp_path / "var"
    result = subprocess.run(
        [sys.executable, "-m", "glidepath.cli", "up", "--data-dir", str(data_dir)],
        env={**cli_env({}), **variables},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT,
        check=False,
    )
    line = one_error_line(result, 2)
    assert line.startswith(f"glidepath: {origin}") and ": cannot create " in line
