"""Answers as the services send them (protobuf messages) into ``summary``'s plain objects.

The summary itself reads only domain objects, so that it can be tested without a
service and used by any front end; this thin adapter is the one place that knows the
messages' fields. It takes the household too (the domain object), for what the answer
does not repeat: the accounts as held today and the annuity offer's first age.
"""

from __future__ import annotations

from collections.abc import Sequence

from glidepath.advice.summary import (
    AccountPlan,
    Annuity,
    Answer,
    Claim,
    Figure,
    Outcome,
    PolicyVerdict,
    Summary,
    ThisYear,
    summarise,
)
from glidepath.engine.strategies import REFERENCE_STRATEGIES
from glidepath.household.model import Household
from glidepath.rl.gate import OWN_PLAN
from glidepath.simulation.v1 import simulation_pb2 as sim


def optimize_summary(result: sim.OptimizeResult, household: Household) -> Summary:
    """The summary of an Optimize answer."""
    return summarise(optimize_answer(result, household))


def compare_summary(response: sim.CompareResponse, household: Household) -> Summary:
    """The summary of a Compare answer: ``recommended_result`` (the rule of the highest
    CE) set against the own plan, no trained policy judged. Compare does not carry the
    year's decisions (only Optimize does), so the summary has no "This year" section."""
    return summarise(compare_answer(response, household))


def simulate_summary(response: sim.SimulateResponse, household: Household) -> Summary:
    """The summary of a Simulate answer (one strategy: its risks, no recommendation)."""
    return summarise(simulate_answer(response, household))


def optimize_answer(result: sim.OptimizeResult, household: Household) -> Answer:
    recommended = result.recommended
    by_name = {r.strategy: r for r in result.comparison.results}
    own = by_name.get(OWN_PLAN)
    chosen = by_name.get(recommended.strategy)
    if own is None or chosen is None:
        missing = OWN_PLAN if own is None else recommended.strategy
        raise ValueError(f"the answer's comparison has no result for {missing}")
    gate = result.gate
    best = by_name.get(gate.best_baseline)
    verdict = PolicyVerdict(
        passed=gate.passed,
        best_other=gate.best_baseline,
        improvement=figure(gate.improvement),
        best_other_ce=best.certainty_equivalent.value if best is not None else 0.0,
        standard_errors_required=gate.standard_errors_required,
        lives=gate.lives,
    )
    return Answer(
        own_plan=outcome(own, first_year(recommended.own_plan_years)),
        recommended=outcome(chosen, first_year(recommended.years)),
        gain=(
            figure(recommended.gain_over_own_plan)
            if recommended.HasField("gain_over_own_plan")
            else None
        ),
        verdict=verdict,
        accounts=accounts(household),
        annuity_from_age=annuity_from_age(household),
        lives=gate.lives or result.comparison.run.paths,
    )


def recommended_result(results: Sequence[sim.StrategyResult]) -> sim.StrategyResult:
    """The strategy a comparison recommends: the highest objective certainty equivalent
    among those a household can follow, the dynamic-programming references
    (``REFERENCE_STRATEGIES``: the ceiling they measure the others against) aside unless
    nothing else was compared."""
    followable = [r for r in results if r.strategy not in REFERENCE_STRATEGIES]
    return max(followable or results, key=lambda r: r.certainty_equivalent.value)


def compare_answer(response: sim.CompareResponse, household: Household) -> Answer:
    by_name = {r.strategy: r for r in response.results}
    own = by_name.get(OWN_PLAN)
    if own is None:
        raise ValueError(f"the comparison has no result for {OWN_PLAN}")
    best = recommended_result(response.results)
    return Answer(
        own_plan=outcome(own, None),
        recommended=outcome(best, None),
        gain=gain_over(best, own),
        accounts=accounts(household),
        annuity_from_age=annuity_from_age(household),
        lives=response.run.paths,
    )


def gain_over(best: sim.StrategyResult, own: sim.StrategyResult) -> Figure:
    """``best``'s CE minus ``own``'s: with the paired standard error when the comparison
    paired the two (one is the other's ``versus`` baseline), else with none (NaN): two
    CEs' own errors do not make the error of their difference on the same lives."""
    if best.strategy == own.strategy:
        return Figure(0.0, 0.0)
    if best.versus.baseline == own.strategy:
        return figure(best.versus.ce_difference)
    if own.versus.baseline == best.strategy:
        difference = own.versus.ce_difference
        return Figure(-difference.value, difference.standard_error)
    return Figure(best.certainty_equivalent.value - own.certainty_equivalent.value)


def simulate_answer(response: sim.SimulateResponse, household: Household) -> Answer:
    return Answer(
        own_plan=outcome(response.result, None),
        accounts=accounts(household),
        annuity_from_age=annuity_from_age(household),
        lives=response.run.paths,
    )


def figure(estimate: sim.Estimate) -> Figure:
    return Figure(estimate.value, estimate.standard_error)


def first_year(years: Sequence[sim.YearDecision]) -> ThisYear | None:
    """This year's decisions: the plan's first row; None when the answer has none."""
    if not years:
        return None
    year = years[0]
    return ThisYear(
        age=year.age,
        retired=year.retired,
        stock_share=year.stock_share,
        savings=year.savings,
        withdrawal=year.withdrawal,
        consumption=year.consumption,
    )


def outcome(result: sim.StrategyResult, this_year: ThisYear | None) -> Outcome:
    annuity = None
    if result.HasField("annuities"):
        annuity = Annuity(figure(result.annuities.probability), figure(result.annuities.premium))
    return Outcome(
        strategy=result.strategy,
        certainty_equivalent=figure(result.certainty_equivalent),
        success=figure(result.success_probability),
        ruin=figure(result.ruin_probability),
        this_year=this_year,
        claims=tuple(claim for c in result.claims if (claim := most_common(c)) is not None),
        annuity=annuity,
    )


def most_common(claims: sim.PensionClaims) -> Claim | None:
    """The age most lives claim one pension at; None when no life claims it."""
    shares = [(e.value, claims.first_age + k) for k, e in enumerate(claims.share_at_age)]
    if not shares or max(shares)[0] <= 0:
        return None
    share, age = max(shares)
    return Claim(claims.label, age, share, claims.default_age)


def accounts(household: Household) -> tuple[AccountPlan, ...]:
    return tuple(
        AccountPlan(a.label, a.balance, a.monthly_contribution) for a in household.accounts
    )


def annuity_from_age(household: Household) -> int | None:
    offer = household.annuities
    return None if offer is None else offer.purchase_age(household)
