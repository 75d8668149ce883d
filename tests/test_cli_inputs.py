"""The household file is read with a bound, and only when it is a regular file.

``/dev/zero`` or a fifo would be read without end (or block on open); a file of many
megabytes would be read whole before the parser refused it. Each is one line naming the
file, exit 2, before any call (the client points at an address where nothing listens).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from cli_support import EXAMPLE, one_error_line, run_cli

from glidepath.cli.inputs import HOUSEHOLD_FILE_MAX_BYTES, load_household

NOWHERE = {"SIMULATION_ADDR": "127.0.0.1:9"}


@pytest.mark.parametrize("command", ["simulate", "compare", "optimize"])
def test_dev_zero_is_refused_as_no_regular_file(command: str) -> None:
    line = one_error_line(run_cli(command, "/dev/zero", env=NOWHERE), 2)
    assert line == (
        "glidepath: cannot read household file /dev/zero: a character device, not a regular file"
    )


def test_a_fifo_is_refused_without_waiting_for_a_writer(tmp_path: Path) -> None:
    fifo = tmp_path / "household.json"
    os.mkfifo(fifo)
    line = one_error_line(run_cli("simulate", str(fifo), env=NOWHERE), 2)
    assert line == f"glidepath: cannot read household file {fifo}: a fifo, not a regular file"


def test_a_directory_is_refused_as_no_regular_file(tmp_path: Path) -> None:
    line = one_error_line(run_cli("simulate", str(tmp_path), env=NOWHERE), 2)
    assert line.endswith(f"{tmp_path}: a directory, not a regular file")


def test_a_file_over_the_cap_is_refused_and_the_line_says_the_cap(tmp_path: Path) -> None:
    # Valid JSON of the example household, padded with white space past the cap.
    big = tmp_path / "household.json"
    big.write_text(EXAMPLE.read_text() + " " * HOUSEHOLD_FILE_MAX_BYTES)
    line = one_error_line(run_cli("simulate", str(big), env=NOWHERE), 2)
    assert line == (
        f"glidepath: cannot read household file {big}: larger than 4 MiB, "
        "the most a household file may hold"
    )


def test_a_file_at_the_cap_is_read(tmp_path: Path) -> None:
    text = EXAMPLE.read_text()
    at_cap = tmp_path / "household.json"
    at_cap.write_text(text + " " * (HOUSEHOLD_FILE_MAX_BYTES - len(text.encode())))
    assert at_cap.stat().st_size == HOUSEHOLD_FILE_MAX_BYTES
    assert load_household(at_cap).household == load_household(EXAMPLE).household


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    latin = tmp_path / "household.json"
    latin.write_bytes(EXAMPLE.read_bytes().replace(b'"', b'"\xe9', 1))
    line = one_error_line(run_cli("simulate", str(latin), env=NOWHERE), 2)
    assert line.startswith(f"glidepath: cannot read household file {latin}: not UTF-8 text (")
