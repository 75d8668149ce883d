"""A short profile family for the generic-model tests: plans of 6 to 14 years, so that a
training of one batch or an evaluation takes a fraction of a second."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from glidepath.rl.family import DEFAULT_FAMILY_PATH, ProfileFamily, family_from_dict


def short_family_data() -> dict[str, Any]:
    """The default family narrowed to singles of 60 to 64 under a fixed horizon of 70 to
    74: horizons of different lengths (6 to 14 years), every other range as shipped."""
    data: dict[str, Any] = json.loads(DEFAULT_FAMILY_PATH.read_text(encoding="utf-8"))
    data["name"] = "short"
    data["couple_probability"] = 0.0
    data["lifetimes"] = ["fixed_horizon"]
    adults = data["adults"]
    adults["current_age"] = [60, 64]
    adults["partner_age_gap"] = [-2, 2]
    adults["retirement_age"] = [60, 66]
    adults["life_expectancy"] = [70, 74]
    data["pensions"]["start_age"] = [60, 62]
    data["pensions"]["claiming_years_late"] = [1, 1]
    data["spending_phases"]["probability"] = 0.0
    data["spending_phases"]["late_start_age"] = [67, 67]
    data["mortgage"]["years_left"] = [1, 5]
    return data


def short_family() -> ProfileFamily:
    return family_from_dict(short_family_data())


def write_short_family(path: Path) -> Path:
    path.write_text(json.dumps(short_family_data()), encoding="utf-8")
    return path
