"""The comparison a person reads: two certainty equivalents, the bequest apart, the words
defined, and (in optimize) the gate's winner named in one sentence.

Real engine runs of the example household, rendered as the CLI renders the service's
answers (the same messages: ``convert.compare_response`` and ``judge``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from household_support import COUPLE_JSON
from simulation_support import EXAMPLE

from glidepath.advice.strategies import described
from glidepath.cli.inputs import load_household
from glidepath.cli.optimize import optimize_details, optimize_report
from glidepath.cli.render import (
    compare_report,
    money_estimate,
    percent,
    percent_estimate,
    simulate_report,
)
from glidepath.common.v1 import model_pb2
from glidepath.engine.run import SimulationSettings, simulate
from glidepath.household.convert import household_from_json, household_from_proto
from glidepath.household.model import Household, Lifetimes
from glidepath.rl.model_io import build_policy
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service import convert
from simulation_service.optimize.judge import judge
from simulation_service.work import WorkPool

PATHS = 1000
HASH = "0123456789abcdef"


@pytest.fixture(scope="module")
def household() -> Household:
    return household_from_proto(load_household(EXAMPLE).message)


@pytest.fixture(scope="module")
def comparison(household: Household) -> pb.CompareResponse:
    names = convert.default_strategies(household)
    settings = SimulationSettings(paths=PATHS, seed=5)
    result = simulate(household, list(names), settings)
    return convert.compare_response(result, convert.Job(household, names, settings), HASH)


@pytest.fixture(scope="module")
def optimized(household: Household) -> Iterator[pb.OptimizeResult]:
    pool = WorkPool(1, 0)
    try:
        judgement = judge(
            household,
            HASH,
            build_policy(),
            SimulationSettings(paths=PATHS, seed=5),
            pool.token(None),
            profile_paths=100,
        )
    finally:
        pool.shutdown()
    yield pb.OptimizeResult(
        household_hash=HASH,
        model=model_pb2.ModelMetadata(
            file_name=f"rl_model_{HASH}_1000ep.zip",
            ref=model_pb2.ModelRef(model_hash=HASH, episodes=1000),
        ),
        source=pb.MODEL_SOURCE_TRAINED_NOW,
        gate=judgement.gate,
        recommended=judgement.recommended,
        comparison=judgement.comparison,
    )


def _table(report: str) -> tuple[list[str], dict[str, list[str]]]:
    """The header cells and each strategy's cells, split on the two-space column gap."""
    lines = report.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("strategy "))
    split = [[c.strip() for c in line.strip().split("  ") if c.strip()] for line in lines[at:]]
    header, rows = split[0], {}
    for cells in split[1:]:
        if len(cells) != len(header):
            break
        rows[cells[0].lstrip("* ")] = cells
    return header, rows


def test_compare_shows_both_certainty_equivalents_and_the_bequest_apart(
    comparison: pb.CompareResponse,
) -> None:
    header, rows = _table(compare_report(comparison))
    assert header == [
        "strategy",
        "objective CE",
        "of exact optimum",
        "spending CE",
        "success",
        "ruin",
        "median bequest",
        "bequest ≥ goal",
    ]
    assert set(rows) == {r.strategy for r in comparison.results}
    for result in comparison.results:
        cells = dict(zip(header, rows[result.strategy], strict=True))
        spending = result.lifetimes.spending_certainty_equivalent
        assert cells["objective CE"] == money_estimate(result.certainty_equivalent)
        assert cells["spending CE"] == money_estimate(spending)
        assert cells["bequest ≥ goal"] == percent_estimate(result.capital_goal_probability)
    # Different figures: the own plan spends well, but its bequest term weighs it down.
    own = next(r for r in comparison.results if r.strategy == "own_plan")
    own_spending = own.lifetimes.spending_certainty_equivalent.value
    assert own_spending > 2 * own.certainty_equivalent.value


def test_compare_defines_success_ruin_and_each_ce_under_the_table(
    comparison: pb.CompareResponse,
) -> None:
    report = " ".join(compare_report(comparison).split())
    assert "ranked by the objective CE" in report
    assert "uncertain spending and bequest together" in report
    assert "Spending CE: the same for spending alone" in report
    assert (
        "Success: the spending target met in every retirement year lived and money never "
        "exhausted while alive" in report
    )
    assert "Ruin: money exhausted while someone was alive" in report


def test_optimize_names_the_winner_in_one_sentence_above_both_ces(
    optimized: pb.OptimizeResult,
) -> None:
    report = optimize_details(optimized)
    lines = report.splitlines()
    assert lines[2].startswith("Gate         not passed: trained policy minus optimum")
    assert lines[3].startswith("Recommended  optimum (the best other strategy;")
    assert lines[4] == f"  {optimized.recommended.reason}"
    assert lines[4].startswith("  The exact optimum wins: ") and "rl_policy" in lines[4]
    header, rows = _table(report.split("Household ")[1])
    assert {"objective CE", "spending CE", "median bequest"} <= set(header)
    assert "rl_policy" in rows and "optimum" in rows and "floor_upside" in rows


def test_optimize_says_which_rung_of_the_ladder_served_and_whose_model_it_is(
    optimized: pb.OptimizeResult,
) -> None:
    def head(result: pb.OptimizeResult) -> dict[str, str]:
        lines = optimize_details(result).splitlines()[:2]
        return {line[:13].strip(): line[13:] for line in lines}

    own = head(optimized)
    assert own["Model"] == f"rl_model_{HASH}_1000ep.zip (1,000 episodes)"
    assert own["Source"].startswith("trained now: trained from scratch")

    generic = pb.OptimizeResult()
    generic.CopyFrom(optimized)
    generic.source = pb.MODEL_SOURCE_GENERIC
    generic.model.CopyFrom(
        model_pb2.ModelMetadata(
            file_name="rl_model_00112233445566aa_20000ep.zip",
            ref=model_pb2.ModelRef(model_hash="00112233445566aa", episodes=20000),
            kind=model_pb2.MODEL_KIND_GENERIC,
            label="Default family",
        )
    )
    shown = head(generic)
    assert shown["Model"].endswith(
        "(20,000 episodes), the generic model of a family “Default family”"
    )
    assert shown["Source"].startswith("generic: the generic model of the household's family")

    near = pb.OptimizeResult()
    near.CopyFrom(generic)
    near.source = pb.MODEL_SOURCE_NEAR_MATCH
    near.model.kind = model_pb2.MODEL_KIND_PROFILE
    near.model.label = ""
    shown = head(near)
    assert shown["Model"].endswith(f"the model of another household (this one's hash is {HASH})")
    assert shown["Source"].startswith("near match: the stored model of a near household")

    tuned = pb.OptimizeResult()
    tuned.CopyFrom(optimized)
    tuned.source = pb.MODEL_SOURCE_FINE_TUNED_NOW
    tuned.model.parent.CopyFrom(generic.model.ref)
    tuned.model.episodes_added = 200
    shown = head(tuned)
    assert shown["Model"].endswith("fine-tuned from rl_model_00112233445566aa_20000ep.zip, +200")
    assert shown["Source"].startswith("fine-tuned now: fine-tuned for this household")


def test_simulate_shows_both_certainty_equivalents_and_defines_success_and_ruin(
    comparison: pb.CompareResponse,
) -> None:
    own = next(r for r in comparison.results if r.strategy == "own_plan")
    response = pb.SimulateResponse(
        result=own, household_hash=HASH, run=comparison.run, optimum=comparison.optimum
    )
    figures = {
        line.strip().split("  ")[0]: line.strip().split("  ")[-1].strip()
        for line in simulate_report(response).splitlines()
        if line.startswith("  ") and "  " in line.strip()
    }
    objective = "Certainty-equivalent consumption, objective (spending and bequest)"
    spending = "Certainty-equivalent consumption, spending alone"
    assert figures[objective] == f"{money_estimate(own.certainty_equivalent)} a year"
    spending_ce = own.lifetimes.spending_certainty_equivalent
    assert figures[spending] == f"{money_estimate(spending_ce)} a year"
    success = "Success (target met every retirement year lived, money never exhausted while alive)"
    assert figures[success] == percent_estimate(own.success_probability)
    ruin = "Ruin (money exhausted while someone was alive)"
    assert figures[ruin] == percent_estimate(own.ruin_probability)


def _simulate_couple(lifetimes: Lifetimes = Lifetimes.MORTALITY) -> pb.SimulateResponse:
    couple = household_from_json(COUPLE_JSON.read_text())
    if lifetimes is Lifetimes.FIXED_HORIZON:
        couple = replace(
            couple,
            lifetimes=Lifetimes.FIXED_HORIZON,
            incomes=tuple(replace(i, survivor_fraction=0.0) for i in couple.incomes),
        )
    settings = SimulationSettings(paths=PATHS, seed=5)
    result = simulate(couple, ["floor_upside"], settings)
    reply = convert.compare_response(result, convert.Job(couple, ("floor_upside",), settings), HASH)
    return pb.SimulateResponse(
        result=reply.results[0], household_hash=HASH, run=reply.run, optimum=reply.optimum
    )


def test_simulate_says_how_long_lives_last_and_lists_wealth_over_the_lives_running() -> None:
    response = _simulate_couple()
    lives = response.result.lifetimes
    report = simulate_report(response)
    lines = report.splitlines()
    years = next(line for line in lines if "Years lived (until the last death)" in line)
    assert f"{lives.years_lived.value:.2f} ± {lives.years_lived.standard_error:.2f}" in years
    assert "Below the essential floor in some year" in report
    last = next(line for line in lines if "Age of the last to die" in line)
    tenth, median, ninetieth = (int(a) for a in last.split()[-5::2])
    assert lives.last_death.first_age <= tenth < median < ninetieth
    assert sum(1 for line in lines if line.strip().startswith("Age at death of adult")) == 2
    table = report[report.index("Wealth by age") :].splitlines()
    assert table[1].split()[:2] == ["age", "alive"]
    assert table[2].split()[1] == "100"  # "100 %": everyone alive at the start
    assert table[-3].split()[0] == "bequest" and table[-3].split()[1] == "all"
    shares = [float(row.split()[1]) for row in table[2:-3] if row.split()[0].isdigit()]
    assert shares == sorted(shares, reverse=True) and shares[-1] >= 1  # >= 1 % alive


def test_simulate_under_the_fixed_horizon_has_no_alive_column_and_no_ages_at_death() -> None:
    report = simulate_report(_simulate_couple(Lifetimes.FIXED_HORIZON))
    assert "Age of the last to die" not in report and "bequest" not in report.split("Wealth")[1]
    assert report[report.index("Wealth by age") :].splitlines()[1].split()[1] == "5th"


# --------------------------------------------------------------------------- zoo households

ZOO = EXAMPLE.parent.parent / "benchmarks" / "zoo"


def _zoo_comparison(name: str, names: tuple[str, ...] | None = None) -> pb.CompareResponse:
    household = household_from_proto(load_household(ZOO / f"{name}.json").message)
    names = names or convert.default_strategies(household)
    settings = SimulationSettings(paths=PATHS, seed=5)
    result = simulate(household, list(names), settings)
    return convert.compare_response(result, convert.Job(household, names, settings), HASH)


def test_simulate_and_compare_say_in_words_when_the_pension_is_claimed() -> None:
    comparison = _zoo_comparison("claiming_matters", ("merton", "claim_earliest", "claim_latest"))
    header, rows = _table(compare_report(comparison))
    assert header[-1] == "claims at"
    for result in comparison.results:
        (claims,) = result.claims
        k = max(range(len(claims.share_at_age)), key=lambda i: claims.share_at_age[i].value)
        share = claims.share_at_age[k].value
        expected = f"{claims.first_age + k} ({percent(share, 0)})"
        assert rows[result.strategy][-1] == expected
    assert rows["claim_latest"][-1].startswith("70 (") and rows["merton"][-1].startswith("67 (")
    latest = next(r for r in comparison.results if r.strategy == "claim_latest")
    report = simulate_report(
        pb.SimulateResponse(
            result=latest, household_hash=HASH, run=comparison.run, optimum=comparison.optimum
        )
    )
    line = next(x for x in report.splitlines() if "claimed, default age 67" in x)
    assert "Pension 1 (Public pension)" in line
    at_70 = percent_estimate(latest.claims[0].share_at_age[-1])
    assert f"at 70 in {at_70} of lives" in line
    assert "never (died first) in" in line and "median age 70" in line


def test_a_share_of_dp_simplified_is_never_printed_as_of_optimum() -> None:
    """The regime-sensitive retiree has no exact optimum, only dp_simplified: nothing the
    CLI prints may call a share of it a share "of optimum", or call it the optimum."""
    comparison = _zoo_comparison("regime_sensitive")
    assert "dp_simplified" in [r.strategy for r in comparison.results]
    report = compare_report(comparison)
    header, rows = _table(report)
    assert "dp_simplified" in rows
    # Its shares are named as what they are: of the simplified reference.
    assert "of dp_simplified" in header and not any("optimum" in h for h in header)
    column = header.index("of dp_simplified")
    for result in comparison.results:
        assert rows[result.strategy][column] == percent_estimate(result.share_of_simplified)
        assert not result.HasField("share_of_optimum")
    for line in report.lower().splitlines():
        assert "of optimum" not in line and "of the optimum" not in line, line
        assert "share of" not in line or "exact" in line or "dp_simplified" in line, line
        # A percentage beside "optimum" names the exact one, which did not run here.
        assert not ("optimum" in line and "%" in line), line
    assert "dp_simplified: the dp of a simplified model" in report.lower()
    assert "lower bound on what is achievable" in report
    dp = next(r for r in comparison.results if r.strategy == "dp_simplified")
    single = simulate_report(
        pb.SimulateResponse(
            result=dp, household_hash=HASH, run=comparison.run, optimum=comparison.optimum
        )
    )
    assert "of the optimum" not in single.lower() and "share of the" not in single.lower()
    line = next(x for x in single.splitlines() if "Share of dp_simplified's CE" in x)
    assert "(a lower bound on what is achievable)" in line and line.endswith("100.0 % ± 0.00")


def test_every_share_of_the_optimum_names_it_exact(comparison: pb.CompareResponse) -> None:
    report = compare_report(comparison)
    header, _ = _table(report)
    assert "of exact optimum" in header and "of optimum" not in header
    assert "of exact optimum: the objective CE as a share of the exact" in report


def test_optimize_prints_the_summary_first_and_the_details_below(
    optimized: pb.OptimizeResult, household: Household
) -> None:
    report = optimize_report(optimized, household)
    summary, details = report.split("\nDetails\n")
    assert summary.splitlines()[0] == "Recommended: the exact optimum."
    assert "This year" in summary and "Your current plan runs out of money in" in summary
    assert "Re-run every year: the advice follows the markets and your life." in summary
    assert "Experimental, not financial advice." in summary
    assert "rl_policy" not in summary and "own_plan" not in summary
    assert details.strip() == optimize_details(optimized)


def test_compare_says_what_each_strategy_of_the_table_does(
    comparison: pb.CompareResponse,
) -> None:
    report = compare_report(comparison)
    for result in comparison.results:
        line = next(x for x in report.splitlines() if x.startswith(f"  {result.strategy} "))
        assert line.endswith(described(result.strategy))
