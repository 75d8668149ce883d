"""Read a household file, and say exactly what is wrong with it before calling anyone.

The services validate every household too, but checking here first means a typo is
reported with the file's name and the bad field even when no service is running, and
costs no round trip. The file is the protobuf JSON mapping of
``glidepath.common.v1.Household`` (README, "Household input format").
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from glidepath.cli.errors import EXIT_USAGE, CliError
from glidepath.common.v1 import household_pb2
from glidepath.errors import InvalidArgument
from glidepath.household.convert import household_from_json, household_to_proto
from glidepath.household.model import Household


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
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
        raise CliError(f"cannot read household file {path}: {reason}", EXIT_USAGE) from None
    try:
        household = household_from_json(text)
    except InvalidArgument as error:
        problems = "; ".join(f"{v.field}: {v.description}" for v in error.violations)
        raise CliError(f"{path} is not a valid household: {problems}", EXIT_USAGE) from None
    return HouseholdInput(path, household, household_to_proto(household))
