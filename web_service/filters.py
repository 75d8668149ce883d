"""How figures and names read on the pages: money, percents, durations, strategies.

Every strategy is named in words and described in one plain sentence wherever it
appears (the comparison table's own column), in the words the CLI and the summary use
(``glidepath.advice.strategies``), so that no page shows ``rl_policy`` or ``vpw``.
"""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment

from glidepath.advice.strategies import words
from glidepath.cli.progress import duration


def strategy_name(strategy: str) -> str:
    """The plain name, as it reads inside a sentence: "the 4 % rule"."""
    return words(strategy).name


def strategy_title(strategy: str) -> str:
    """The name as a heading or a table row: "The 4 % rule"."""
    return words(strategy).title


def strategy_sentence(strategy: str) -> str:
    """What the strategy does, in one sentence."""
    return words(strategy).sentence


def money(value: float) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{value:,.0f}"


def percent(value: float, digits: int = 0) -> str:
    if not math.isfinite(value):
        return "—"
    return f"{100 * value:.{digits}f} %"


def estimate(value: Any, kind: str = "money") -> str:
    """An Estimate as value ± standard error."""
    shown = money if kind == "money" else (lambda v: percent(v, 1))
    error = value.standard_error
    if not math.isfinite(error):
        return shown(value.value)
    return f"{shown(value.value)} ± {shown(error)}"


def install(env: Environment) -> None:
    env.filters.update(
        money=money,
        percent=percent,
        estimate=estimate,
        duration=duration,
        strategy_name=strategy_name,
        strategy_title=strategy_title,
        strategy_sentence=strategy_sentence,
    )
