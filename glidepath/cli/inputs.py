"""Read a household file, and say exactly what is wrong with it before calling anyone.

The services validate every household too, but checking here first means a typo is
reported with the file's name and the bad field even when no service is running, and
costs no round trip. The file is the protobuf JSON mapping of
``glidepath.common.v1.Household`` (docs/household.md).

The file is read with a bound: a valid household is a few kilobytes (two adults, at most
32 items of each kind), so anything over ``HOUSEHOLD_FILE_MAX_BYTES`` is refused, and so
is anything that is not a regular file (``/dev/zero``, a fifo, a directory), which could
otherwise be read without end.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from glidepath.cli.errors import EXIT_USAGE, CliError
from glidepath.common.v1 import household_pb2
from glidepath.errors import InvalidArgument
from glidepath.household.convert import household_from_json, household_to_proto
from glidepath.household.model import Household

MIB = 1024 * 1024
HOUSEHOLD_FILE_MAX_BYTES = 4 * MIB
_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a fifo",
    stat.S_IFSOCK: "a socket",
}


@dataclass(frozen=True)
class HouseholdInput:
    """A validated household: the domain object (for plots) and the message (for calls)."""

    path: Path
    household: Household
    message: household_pb2.Household

    @property
    def retirement_age(self) -> int:
        """The first adult's retirement age: the ages on every profile are the first adult's."""
        return self.household.adults[0].retirement_age

    @property
    def capital_goal(self) -> float:
        return self.household.goals.capital_goal

    @property
    def retirement_spending(self) -> float:
        return self.household.goals.retirement_spending


def load_household(path: Path) -> HouseholdInput:
    """Parse and validate ``path``; CliError (exit code 2) naming every bad field."""
    text = read_household_text(path)
    try:
        household = household_from_json(text)
    except InvalidArgument as error:
        problems = "; ".join(f"{v.field}: {v.description}" for v in error.violations)
        raise CliError(f"{path} is not a valid household: {problems}", EXIT_USAGE) from None
    return HouseholdInput(path, household, household_to_proto(household))


def read_household_text(path: Path) -> str:
    """The file's text, at most HOUSEHOLD_FILE_MAX_BYTES of UTF-8; CliError (exit 2) else.

    Opened without blocking (a fifo with no writer would hang ``open``) and checked on the
    open file, so the path cannot be swapped between the check and the read.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as error:
        raise _unreadable(path, error.strerror or str(error)) from None
    mode = os.fstat(descriptor).st_mode
    if not stat.S_ISREG(mode):
        os.close(descriptor)
        kind = _KINDS.get(stat.S_IFMT(mode), "something else")
        raise _unreadable(path, f"{kind}, not a regular file")
    with os.fdopen(descriptor, "rb") as stream:
        try:
            data = stream.read(HOUSEHOLD_FILE_MAX_BYTES + 1)
        except OSError as error:
            raise _unreadable(path, error.strerror or str(error)) from None
    if len(data) > HOUSEHOLD_FILE_MAX_BYTES:
        limit = f"{HOUSEHOLD_FILE_MAX_BYTES // MIB} MiB"
        raise _unreadable(path, f"larger than {limit}, the most a household file may hold")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise _unreadable(path, f"not UTF-8 text ({error.reason} at byte {error.start})") from None


def _unreadable(path: Path, reason: str) -> CliError:
    return CliError(f"cannot read household file {path}: {reason}", EXIT_USAGE)
