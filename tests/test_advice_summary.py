"""The summary of an answer, on its own: actions next to the own plan, risk and gain, the
strategy in words and why, the words defined, and the two caveats.

The first tests build answers by hand, to pin each rule of the text (a plan that runs
out, a policy that gains too little to notice, claiming and annuities only where the
household has them); the last ones judge real households with the engine (single,
couple, a claiming window, an annuity offer) and read the summary of the very answer
the service sends.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from simulation_support import EXAMPLE

from glidepath.advice.convert import (
    compare_answer,
    compare_summary,
    optimize_answer,
    optimize_summary,
    recommended_result,
    simulate_summary,
)
from glidepath.advice.strategies import WORDS, described, words
from glidepath.advice.summary import (
    BEFORE,
    CERTAINTY_EQUIVALENT,
    NOT_ADVICE,
    NOTICEABLE_GAIN,
    RE_RUN,
    RISK,
    RUIN,
    STRATEGY,
    SUCCESS,
    THIS_YEAR,
    WORDS_USED,
    AccountPlan,
    Annuity,
    Answer,
    Claim,
    Figure,
    Outcome,
    PolicyVerdict,
    Summary,
    ThisYear,
    money,
    summarise,
)
from glidepath.cli.inputs import load_household
from glidepath.engine.run import SimulationSettings, simulate
from glidepath.engine.strategies import STRATEGIES, has_claiming
from glidepath.household.model import Household
from glidepath.rl.gate import POLICY
from glidepath.rl.model_io import build_policy
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service import convert
from simulation_service.optimize.judge import judge
from simulation_service.work import WorkPool

ZOO = EXAMPLE.parent.parent / "benchmarks" / "zoo"

# ----------------------------------------------------------------------------- by hand

WORKING_OWN = ThisYear(age=40, retired=False, stock_share=0.6, savings=9_600, consumption=38_400)
WORKING_ADVISED = ThisYear(
    age=40, retired=False, stock_share=0.45, savings=15_000, consumption=33_000
)
ACCOUNTS = (AccountPlan("Brokerage", 100_000, 600), AccountPlan("Pension", 50_000, 200))


def _outcome(strategy: str, ce: float, ruin: float, this_year: ThisYear | None) -> Outcome:
    return Outcome(
        strategy=strategy,
        certainty_equivalent=Figure(ce, 80.0),
        success=Figure(1.0 - ruin - 0.05, 0.01),
        ruin=Figure(ruin, 0.01),
        this_year=this_year,
    )


def _verdict(passed: bool, improvement: float, best_other: str = "merton") -> PolicyVerdict:
    return PolicyVerdict(
        passed=passed,
        best_other=best_other,
        improvement=Figure(improvement, 20.0),
        best_other_ce=30_000.0,
        standard_errors_required=2.0,
        lives=10_000,
    )


def _answer(**changes: object) -> Answer:
    answer = Answer(
        own_plan=_outcome("own_plan", 24_000, 0.44, WORKING_OWN),
        recommended=_outcome("merton", 30_000, 0.02, WORKING_ADVISED),
        gain=Figure(1_230, 85),
        verdict=_verdict(False, -400),
        accounts=ACCOUNTS,
        lives=10_000,
    )
    return replace(answer, **changes)  # type: ignore[arg-type]


def _lines(summary: Summary, heading: str) -> tuple[str, ...]:
    return summary.section(heading).lines


def test_a_plan_that_runs_out_says_how_often_and_what_the_recommendation_gains() -> None:
    summary = summarise(_answer())
    risk = _lines(summary, RISK)
    assert risk[0].startswith("Your current plan runs out of money in 44 % of simulated lives")
    assert risk[1].startswith("The total-wealth rule runs out of money in 2 % of simulated lives")
    assert risk[-1] == (
        "The recommendation gains +1,230 ± 85 a year of CE over your plan on the same "
        "10,000 lives (likely between +1,060 and +1,400)."
    )
    worse = summarise(_answer(own_plan=_outcome("own_plan", 24_000, 0.71, WORKING_OWN)))
    assert "runs out of money in 71 %" in _lines(worse, RISK)[0]


def test_this_year_sets_each_action_next_to_the_own_plan() -> None:
    lines = _lines(summarise(_answer()), THIS_YEAR)
    assert lines[0] == "At age 40:"
    assert lines[1] == "Save 1,250 a month (15,000 this year) instead of 800 a month."
    assert lines[2] == "Hold 45 % in stocks instead of 60 %, the rest in bonds and cash."
    same = summarise(
        _answer(recommended=_outcome("merton", 30_000, 0.02, replace(WORKING_OWN, age=40)))
    )
    assert _lines(same, THIS_YEAR)[1].endswith(", as in your current plan.")
    assert _lines(same, THIS_YEAR)[2] == "Hold 60 % in stocks, as in your current plan."


def test_a_retired_household_is_told_what_to_withdraw_this_year() -> None:
    own = ThisYear(age=67, retired=True, stock_share=0.5, withdrawal=30_000, consumption=50_000)
    advised = replace(own, stock_share=0.35, withdrawal=24_000, consumption=44_000)
    lines = _lines(
        summarise(
            _answer(
                own_plan=_outcome("own_plan", 24_000, 0.3, own),
                recommended=_outcome("vpw", 26_000, 0.0, advised),
            )
        ),
        THIS_YEAR,
    )
    assert lines[1] == (
        "Withdraw 24,000 this year (2,000 a month) instead of 30,000; spend 44,000 in all, "
        "your incomes included."
    )
    assert not any("account" in line.lower() for line in lines)  # nothing to split
    covered = replace(advised, withdrawal=0.0)
    lines = _lines(
        summarise(
            _answer(
                own_plan=_outcome("own_plan", 24_000, 0.3, own),
                recommended=_outcome("vpw", 26_000, 0.0, covered),
            )
        ),
        THIS_YEAR,
    )
    assert lines[1].startswith(
        "Withdraw nothing this year: your incomes cover your spending (your current plan "
        "withdraws 30,000)"
    )


def test_the_saving_is_split_over_the_accounts_as_the_household_contributes_today() -> None:
    split = _lines(summarise(_answer()), THIS_YEAR)[3]
    assert split.startswith(
        "Split it as your planned contributions do: Brokerage 938 a month, Pension 312 a month"
    )
    by_balance = tuple(replace(a, monthly_contribution=0.0) for a in ACCOUNTS)
    split = _lines(summarise(_answer(accounts=by_balance)), THIS_YEAR)[3]
    assert split.startswith("Split it as your balances do: Brokerage 833 a month, Pension 417")
    alone = _lines(summarise(_answer(accounts=ACCOUNTS[:1])), THIS_YEAR)[3]
    assert alone == "Put it all into Brokerage."


def test_claiming_and_annuities_appear_only_where_the_household_has_them() -> None:
    plain = " ".join(_lines(summarise(_answer()), THIS_YEAR))
    assert "Claim" not in plain and "annuity" not in plain
    claims = (Claim("State pension", 70, 0.93, 67),)
    annuity = Annuity(Figure(0.6, 0.01), Figure(120_000, 900))
    advised = replace(_outcome("merton", 30_000, 0.02, WORKING_ADVISED), claims=claims)
    lines = _lines(
        summarise(_answer(recommended=replace(advised, annuity=annuity), annuity_from_age=65)),
        THIS_YEAR,
    )
    assert "Claim State pension at 70 (in 93 % of simulated lives) instead of at 67." in lines
    assert (
        "Buy a life annuity (on offer from age 65): 60 % of simulated lives buy one, paying "
        "200,000 in all on average (today's money)." in lines
    )
    none = replace(advised, annuity=Annuity(Figure(0.0, 0.0), Figure(0.0, 0.0)))
    lines = _lines(summarise(_answer(recommended=none, annuity_from_age=65)), THIS_YEAR)
    assert any(line.startswith("Do not buy a life annuity") for line in lines)


def test_a_trained_policy_gaining_less_than_noticeable_says_the_rule_is_as_good() -> None:
    policy = _outcome(POLICY, 30_050, 0.02, WORKING_ADVISED)
    small = NOTICEABLE_GAIN * 30_000 / 2
    summary = summarise(_answer(recommended=policy, verdict=_verdict(True, small)))
    assert summary.headline == (
        "Recommended: the trained policy, though the total-wealth rule is as good."
    )
    why = next(line for line in _lines(summary, STRATEGY) if line.startswith("Why: "))
    assert "the total-wealth rule is as good, and needs no trained model" in why
    clear = summarise(_answer(recommended=policy, verdict=_verdict(True, 3 * small)))
    why = next(line for line in _lines(clear, STRATEGY) if line.startswith("Why: "))
    assert "as good" not in why and "more than luck explains" in why
    assert clear.headline == "Recommended: the trained policy."


def test_a_policy_that_fails_the_gate_leaves_the_rule_and_says_why() -> None:
    within_luck = summarise(_answer(verdict=_verdict(False, 30)))
    why = next(line for line in _lines(within_luck, STRATEGY) if line.startswith("Why: "))
    assert "within what luck explains: the total-wealth rule is as good" in why
    worse = summarise(_answer())
    why = next(line for line in _lines(worse, STRATEGY) if line.startswith("Why: "))
    assert why.endswith("the trained policy does worse (−400 ± 20 a year).")
    keep = summarise(
        _answer(
            recommended=_answer().own_plan,
            gain=Figure(0, 0),
            verdict=_verdict(False, -5, "own_plan"),
        )
    )
    assert keep.headline == "Recommended: keep your current plan."
    assert len(_lines(keep, RISK)) == 1  # no gain over itself


def test_every_strategy_shown_is_named_in_words_with_its_sentence() -> None:
    assert set(STRATEGIES) | {POLICY} <= set(WORDS)
    assert all(w.sentence.endswith(".") and w.sentence.count(". ") == 0 for w in WORDS.values())
    summary = summarise(_answer())
    text = summary.text()
    assert not re.search(r"\b(rl_policy|own_plan|merton|four_percent_rule)\b", text)
    strategy = _lines(summary, STRATEGY)
    for name in ("merton", "own_plan", POLICY):
        assert described(name) in strategy
    assert words("new_rule").name == "the new_rule strategy"  # an unknown name, as itself


def test_the_words_are_defined_and_the_caveats_always_closed_the_summary() -> None:
    for answer in (_answer(), Answer(own_plan=_answer().own_plan)):
        summary = summarise(answer)
        assert _lines(summary, WORDS_USED) == (SUCCESS, RUIN, CERTAINTY_EQUIVALENT)
        assert summary.sections[-1].heading == BEFORE
        assert _lines(summary, BEFORE) == (RE_RUN, NOT_ADVICE)


# ----------------------------------------------------------------------------- engine


PATHS = 600
HOUSEHOLDS = {
    "couple": EXAMPLE.parent / "couple.json",
    "claiming": ZOO / "claiming_matters.json",
    "annuities": ZOO / "couple_annuities.json",
}


@pytest.fixture(scope="module")
def advice_pool() -> Iterator[WorkPool]:
    running = WorkPool(1, 0)
    yield running
    running.shutdown()


def _optimized(pool: WorkPool, household: Household) -> pb.OptimizeResult:
    judgement = judge(
        household,
        "0123456789abcdef",
        build_policy(),
        SimulationSettings(paths=PATHS, seed=2),
        pool.token(None),
        profile_paths=200,
    )
    return pb.OptimizeResult(
        gate=judgement.gate, recommended=judgement.recommended, comparison=judgement.comparison
    )


@pytest.mark.parametrize("path", HOUSEHOLDS.values(), ids=HOUSEHOLDS.keys())
def test_the_summary_of_a_real_answer_follows_the_household(
    advice_pool: WorkPool, path: Path
) -> None:
    household = load_household(path).household
    result = _optimized(advice_pool, household)
    answer = optimize_answer(result, household)
    by_name = {r.strategy: r for r in result.comparison.results}
    recommended, own = by_name[result.recommended.strategy], by_name["own_plan"]
    gain = result.recommended.gain_over_own_plan
    expected = recommended.certainty_equivalent.value - own.certainty_equivalent.value
    assert gain.value == pytest.approx(expected, rel=1e-6, abs=1e-6)
    assert 0 < gain.standard_error < abs(gain.value)
    assert answer.own_plan.this_year is not None
    first = answer.own_plan.this_year
    assert first.stock_share == pytest.approx(
        sum(a.balance * a.stock_share for a in household.accounts)
        / sum(a.balance for a in household.accounts)
    )
    lines = optimize_summary(result, household).section(THIS_YEAR).lines
    planned = 12 * sum(a.monthly_contribution for a in household.accounts)
    if not first.retired:
        assert first.savings == pytest.approx(planned, rel=1e-9)
    assert any(line.startswith("Claim ") for line in lines) == has_claiming(household)
    assert any("life annuity" in line for line in lines) == (household.annuities is not None)


def test_a_simulate_answer_says_what_the_plan_risks_without_recommending() -> None:
    household = load_household(EXAMPLE).household
    settings = SimulationSettings(paths=PATHS, seed=2)
    job = convert.Job(household, ("own_plan",), settings)
    result = simulate(household, ["own_plan"], settings)
    compared = convert.compare_response(result, job, "0123456789abcdef")
    response = pb.SimulateResponse(result=compared.results[0], run=compared.run)
    summary = simulate_summary(response, household)
    assert summary.headline == f"Your current plan on {PATHS:,} simulated lives."
    assert [s.heading for s in summary.sections] == [RISK, STRATEGY, WORDS_USED, BEFORE]
    ruin = compared.results[0].ruin_probability.value
    assert f"runs out of money in {round(ruin * 100)} %" in summary.section(RISK).lines[0]


def test_one_strategy_alone_is_not_set_against_itself() -> None:
    alone = summarise(Answer(own_plan=_outcome("vpw", 25_000, 0.1, WORKING_ADVISED), lives=500))
    assert alone.headline == "Variable percentage withdrawal on 500 simulated lives."
    lines = _lines(alone, THIS_YEAR)
    assert lines[1] == "Save 1,250 a month (15,000 this year)."
    assert lines[2] == "Hold 45 % in stocks, the rest in bonds and cash."
    assert _lines(alone, RISK)[0].startswith("Variable percentage withdrawal runs out of money")


def _compared(strategies: tuple[str, ...]) -> tuple[Household, pb.CompareResponse]:
    household = load_household(EXAMPLE).household
    settings = SimulationSettings(paths=PATHS, seed=2)
    result = simulate(household, list(strategies), settings)
    job = convert.Job(household, strategies, settings)
    return household, convert.compare_response(result, job, "0123456789abcdef")


def test_a_comparison_recommends_the_highest_ce_over_the_own_plan() -> None:
    """The rules-only answer (Compare): the best CE recommended, its gain over the own
    plan with the paired error when the comparison paired them (own plan first: the
    baseline), and no "This year", which Compare does not carry."""
    household, response = _compared(("own_plan", "merton", "four_percent_rule", "vpw"))
    by_name = {r.strategy: r for r in response.results}
    best = recommended_result(response.results)
    summary = compare_summary(response, household)
    assert [s.heading for s in summary.sections] == [RISK, STRATEGY, WORDS_USED, BEFORE]
    strategy = summary.section(STRATEGY).lines
    assert strategy[0] == described(best.strategy)
    if best.strategy == "own_plan":
        assert summary.headline == "Recommended: keep your current plan."
        return
    assert summary.headline == f"Recommended: {words(best.strategy).name}."
    assert strategy[1].startswith("Why: it has the highest CE of the rules compared")
    gain = best.versus.ce_difference
    expected = best.certainty_equivalent.value - by_name["own_plan"].certainty_equivalent.value
    assert gain.value == pytest.approx(expected, rel=1e-6)
    risk = summary.section(RISK).lines
    assert f"± {money(gain.standard_error)} a year of CE over your plan" in risk[-1]


def test_a_comparison_pairs_the_gain_only_where_it_paired_the_own_plan() -> None:
    """Own plan paired with the winner (the winner is the baseline): the error comes from
    that pair; paired with a third strategy only: the gain comes without an error."""
    for strategies in (("merton", "vpw", "own_plan"), ("four_percent_rule", "merton", "own_plan")):
        household, response = _compared(strategies)
        by_name = {r.strategy: r for r in response.results}
        best = recommended_result(response.results)
        own = by_name["own_plan"]
        assert best.strategy != "own_plan" and best.versus.baseline != "own_plan"
        answer = compare_answer(response, household)
        assert answer.gain is not None
        expected = best.certainty_equivalent.value - own.certainty_equivalent.value
        assert answer.gain.value == pytest.approx(expected, rel=1e-6)
        paired = own.versus.baseline == best.strategy
        assert paired == (strategies[0] == best.strategy)
        gain = summarise(answer).section(RISK).lines[-1]
        assert gain.startswith("The recommendation gains ")
        assert ("±" in gain) == paired
        if paired:
            assert answer.gain.standard_error == own.versus.ce_difference.standard_error
