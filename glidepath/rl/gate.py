"""The gate: does the trained policy beat every other strategy on the same lives?

One home for the verdict: the training service's stored evaluation
(``glidepath.rl.evaluation``) and the Optimize answer (``simulation_service.optimize``)
both call :func:`gate`, so they cannot disagree about the same lives.

- The others: every rule of thumb (:data:`BASELINES`, the floor-and-upside rule among
  them) and the dynamic-programming optimum's own policy wherever the household has one
  (:func:`other_strategies`). The optimum is a strategy a household can follow like any
  other: a trained policy that beats the rules but loses to it is not the best advice.
- The recommendation is the other strategy with the highest objective CE (spending plus
  the bequest term), unless the trained policy beats that one by more than
  :data:`GATE_STANDARD_ERRORS` paired standard errors: only a margin that luck cannot
  explain justifies the policy over a strategy that needs no training.
- Paired standard errors: the difference of two CEs is linearised (delta method) life by
  life, k_a U_a,i - k_b U_b,i with k = dCE/dE[U]; its SE is the standard deviation of
  that per-life difference over sqrt(n), so market luck common to both cancels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from glidepath.engine.objective import Objective
from glidepath.engine.strategies import (
    ANNUITY_STRATEGIES,
    CLAIMING_STRATEGIES,
    has_claiming,
    optimum_applies,
    simplified_applies,
)
from glidepath.household.model import Household

FloatArray = NDArray[np.float64]

#: The household's own plan: the first rule, and what every answer is set against.
OWN_PLAN = "own_plan"
#: The rules of thumb every trained policy is judged against (built-in strategy names).
BASELINES: tuple[str, ...] = (
    OWN_PLAN,
    "four_percent_rule",
    "glide_path",
    "vpw",
    "guardrails",
    "merton",
    "floor_upside",
)
OPTIMUM = "optimum"
#: The DP of a simplified model (regimes averaged, one annuity purchase): a reference,
#: never "the optimum".
DP_SIMPLIFIED = "dp_simplified"
POLICY = "rl_policy"
GATE_STANDARD_ERRORS = 2.0


def other_strategies(household: Household, *, include_optimum: bool = True) -> tuple[str, ...]:
    """The strategies a candidate must beat: the rules (the annuity baselines among them
    where the household has an annuity offer, the claiming baselines where a pension has
    a claiming window), then the optimum where it exists (with observable regimes too:
    the exact regime DP), or dp_simplified where the optimum is unavailable because of
    hidden market regimes or of an annuity offer open every year (``include_optimum``
    governs both references)."""
    rules = (*BASELINES, *ANNUITY_STRATEGIES) if household.annuities is not None else BASELINES
    if has_claiming(household):
        rules = (*rules, *CLAIMING_STRATEGIES)
    if not include_optimum:
        return rules
    if optimum_applies(household)[0]:
        return (*rules, OPTIMUM)
    if simplified_applies(household)[0]:
        return (*rules, DP_SIMPLIFIED)
    return rules


def passes_gate(improvement: float, standard_error: float) -> bool:
    """True only when the improvement exceeds 2 paired SEs (False on NaN)."""
    return bool(improvement > GATE_STANDARD_ERRORS * standard_error)


def paired_difference(
    objective: Objective, utilities_a: FloatArray, utilities_b: FloatArray
) -> tuple[float, float]:
    """(CE_a - CE_b, its paired SE) from per-life lifetime utilities on the same lives."""
    n = int(utilities_a.shape[0])
    ce_a = objective.certainty_equivalent(float(utilities_a.mean()))
    ce_b = objective.certainty_equivalent(float(utilities_b.mean()))
    k_a = objective.ce_standard_error(ce_a, 1.0)
    k_b = objective.ce_standard_error(ce_b, 1.0)
    linear = k_a * utilities_a - k_b * utilities_b
    se = float(linear.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
    return ce_a - ce_b, se


@dataclass(frozen=True)
class GateResult:
    """The candidate against the best of the others, on the same ``lives`` lives.

    CEs are objective certainty equivalents: annual consumption in today's money.
    """

    candidate: str
    candidate_ce: float
    best_other: str
    best_other_ce: float
    # candidate CE minus best_other CE, and its paired standard error
    difference: float
    standard_error: float
    lives: int

    @property
    def passed(self) -> bool:
        return passes_gate(self.difference, self.standard_error)

    @property
    def recommended(self) -> str:
        """The candidate when it passed, otherwise the best other strategy."""
        return self.candidate if self.passed else self.best_other


def gate(
    objective: Objective,
    candidate: str,
    certainty_equivalents: Mapping[str, float],
    path_utilities: Mapping[str, FloatArray],
    others: Sequence[str],
) -> GateResult:
    """``candidate`` against the best (highest CE) of ``others`` that ran, paired by life.

    ``certainty_equivalents`` and ``path_utilities`` hold every strategy scored on the same
    lives, by name; ``others`` names the strategies the candidate must beat (those absent
    from the mappings did not run and are skipped).
    """
    ran = [name for name in others if name in certainty_equivalents and name != candidate]
    if not ran:
        raise ValueError("the gate needs at least one other strategy scored on the same lives")
    best = max(ran, key=lambda name: certainty_equivalents[name])
    utilities = path_utilities[candidate]
    difference, se = paired_difference(objective, utilities, path_utilities[best])
    return GateResult(
        candidate=candidate,
        candidate_ce=certainty_equivalents[candidate],
        best_other=best,
        best_other_ce=certainty_equivalents[best],
        difference=difference,
        standard_error=se,
        lives=int(utilities.shape[0]),
    )


# ----------------------------------------------------------------------------- the sentence


def sentence(result: GateResult) -> str:
    """Which strategy won and by how much, in one sentence with the CLI's number format."""
    margin = f"{abs(result.difference):,.0f} ± {result.standard_error:,.0f} a year"
    lives = f"on the same {result.lives:,} lives"
    if result.passed:
        return (
            f"{_label(result.candidate, True)} wins: {_ce(result.candidate_ce)}, {margin} "
            f"({_share(result.difference, result.best_other_ce)}) above the best other "
            f"strategy, {_label(result.best_other)}, {lives}."
        )
    winner = _label(result.best_other, True)
    if result.difference <= 0:
        return (
            f"{winner} wins: {_ce(result.best_other_ce)}, {margin} "
            f"({_share(-result.difference, result.candidate_ce)}) above "
            f"{_label(result.candidate)} {lives}."
        )
    return (
        f"{winner} wins: {_ce(result.best_other_ce)}; {_label(result.candidate)} is "
        f"{margin} ({_share(result.difference, result.best_other_ce)}) higher {lives}, "
        f"not the more than {GATE_STANDARD_ERRORS:g} paired standard errors it needs to be "
        f"chosen."
    )


def _label(name: str, capital: bool = False) -> str:
    if name == OPTIMUM:
        text = "the exact optimum"
    elif name == DP_SIMPLIFIED:
        text = f"the simplified DP reference ({DP_SIMPLIFIED}, a lower bound on what is achievable)"
    elif name == POLICY:
        text = f"the trained policy ({POLICY})"
    else:
        text = f"the {name} strategy"
    return text[0].upper() + text[1:] if capital else text


def _ce(value: float) -> str:
    return f"{value:,.0f} a year of certainty-equivalent consumption (spending and bequest)"


def _share(margin: float, of: float) -> str:
    """``margin`` as a percentage of ``of`` (two decimals under 0.1 %)."""
    if not of:
        return "— %"
    points = 100.0 * margin / of
    return f"{points:.2f} %" if abs(points) < 0.095 else f"{points:.1f} %"
