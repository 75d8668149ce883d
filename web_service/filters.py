"""How figures and names read on the pages: money, percents, durations, strategies.

Every strategy is named in words and described in one plain sentence wherever it
appears (a hover title and the comparison table's own column), so that no page shows
``rl_policy`` or ``vpw`` without saying what it is.
"""

from __future__ import annotations

import math
from typing import Any

from jinja2 import Environment

from glidepath.cli.progress import duration

STRATEGIES: dict[str, tuple[str, str]] = {
    "rl_policy": (
        "AI-optimised strategy",
        "a policy trained by reinforcement learning on simulated lives of this household",
    ),
    "optimum": (
        "exact optimum",
        "the best possible yearly decisions, computed by dynamic programming",
    ),
    "dp_simplified": (
        "simplified optimum",
        "the dynamic-programming answer of a simplified model, run in the full simulation",
    ),
    "own_plan": (
        "your own plan",
        "your contributions and allocation as entered, spending your target in retirement",
    ),
    "four_percent_rule": (
        "4 % rule",
        "withdraw 4 % of the wealth at retirement each year, kept up with inflation",
    ),
    "glide_path": (
        "glide path",
        "fewer stocks each year as you age, as target-date funds do",
    ),
    "vpw": (
        "variable percentage withdrawal",
        "withdraw a share of the wealth each year that grows as the years left shrink",
    ),
    "guardrails": (
        "guardrails",
        "spend the target, cutting or raising it when the withdrawal rate leaves a band",
    ),
    "merton": (
        "Merton rule",
        "a constant stock share and spending in proportion to wealth, from Merton's formula",
    ),
    "floor_upside": (
        "floor and upside",
        "secure the essential spending first, invest the rest by the Merton rule",
    ),
}


def strategy_name(name: str) -> str:
    return STRATEGIES.get(name, (name, ""))[0]


def strategy_sentence(name: str) -> str:
    return STRATEGIES.get(name, ("", "a strategy this page does not know"))[1]


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
        strategy_sentence=strategy_sentence,
    )
