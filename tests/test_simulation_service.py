"""The simulation service over gRPC: figures, common random numbers, reproducibility,
adaptive mode, and every settings field changing the result.

One real server on a loopback port serves the module; every call has a deadline.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from simulation_support import (
    SimulationHarness,
    example_household,
    simulation_server,
    without_timings,
)

from glidepath.common.v1 import household_pb2
from glidepath.household.canonical import household_hash
from glidepath.household.convert import household_from_proto
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service.config import SimulationServiceSettings

TIMEOUT = 60.0  # seconds: every call's deadline
PATHS = 2048  # whole blocks of 1,024: adaptive mode then starts with exactly these
BASELINES = [
    "own_plan",
    "four_percent_rule",
    "glide_path",
    "vpw",
    "guardrails",
    "merton",
    "floor_upside",
]


@pytest.fixture(scope="module")
def server() -> Iterator[SimulationHarness]:
    with simulation_server(SimulationServiceSettings(max_paths=200_000)) as harness:
        yield harness


@pytest.fixture
def stub(server: SimulationHarness) -> simulation_pb2_grpc.SimulationServiceStub:
    return server.stub


def settings(**fields: object) -> pb.SimulationSettings:
    base: dict[str, object] = {"paths": PATHS, "seed": 7}
    return pb.SimulationSettings(**{**base, **fields})  # type: ignore[arg-type]


def simulate(
    stub: simulation_pb2_grpc.SimulationServiceStub,
    strategy: str = "",
    household: household_pb2.Household | None = None,
    **fields: object,
) -> pb.SimulateResponse:
    request = pb.SimulateRequest(
        household=household or example_household(),
        strategy=strategy,
        settings=settings(**fields),
    )
    response: pb.SimulateResponse = stub.Simulate(request, timeout=TIMEOUT)
    return response


def compare(
    stub: simulation_pb2_grpc.SimulationServiceStub,
    strategies: list[str] | None = None,
    household: household_pb2.Household | None = None,
    **fields: object,
) -> pb.CompareResponse:
    request = pb.CompareRequest(
        household=household or example_household(),
        strategies=strategies or [],
        settings=settings(**fields),
    )
    response: pb.CompareResponse = stub.Compare(request, timeout=TIMEOUT)
    return response


def student_t_household() -> household_pb2.Household:
    household = example_household()
    household.market.return_model = household_pb2.RETURN_MODEL_STUDENT_T
    return household


# --------------------------------------------------------------------------- Simulate


def test_simulate_reports_every_metric_of_the_own_plan(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    reply = simulate(stub)
    result = reply.result
    assert result.strategy == "own_plan" and result.paths == PATHS
    assert reply.run.paths == PATHS and reply.run.seed == 7 and reply.run.converged
    assert reply.household_hash == household_hash(household_from_proto(example_household()))
    assert result.certainty_equivalent.value > 0
    assert 0 < result.certainty_equivalent.standard_error < result.certainty_equivalent.value
    for p in (result.success_probability, result.ruin_probability, result.capital_goal_probability):
        assert 0.0 <= p.value <= 1.0
        assert p.standard_error == pytest.approx(math.sqrt(p.value * (1 - p.value) / PATHS))
    assert result.HasField("capital_goal_probability")  # the example has a capital goal
    assert not result.HasField("share_of_optimum") and not result.HasField("versus")
    # Ages 40 .. 90: wealth at the start of each year plus the end; consumption per year.
    assert list(result.wealth.ages) == list(range(40, 112))  # under mortality: to age 110
    assert list(result.consumption.ages) == list(range(40, 111))
    assert [b.percentile for b in result.wealth.bands] == [5, 10, 25, 50, 75, 90, 95]
    assert list(reply.run.percentiles) == [5, 10, 25, 50, 75, 90, 95]
    for profile in (result.wealth, result.consumption):
        assert len(profile.means) == len(profile.ages)
        for band in profile.bands:
            assert len(band.values) == len(band.standard_errors) == len(profile.ages)
        for low, high in zip(profile.bands, profile.bands[1:], strict=False):
            assert all(a <= b for a, b in zip(low.values, high.values, strict=True))
    # The first year's wealth is the account balance on every path.
    assert result.wealth.bands[0].values[0] == pytest.approx(100_000, rel=0.003)
    terminal = result.terminal_wealth
    assert [p.percentile for p in terminal.percentiles] == [5, 10, 25, 50, 75, 90, 95]
    assert terminal.mean_worst_5_percent.value <= terminal.percentiles[0].value.value
    assert terminal.mean_nominal.value > terminal.mean.value  # inflation is positive
    assert result.shortfall.mean_lifetime.value >= result.shortfall.mean_per_retirement_year.value
    assert reply.optimum.available and reply.optimum.reason == ""
    assert reply.run.seconds > 0 and result.seconds > 0


def test_simulate_the_optimum_is_its_own_share(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    reply = simulate(stub, "optimum")
    assert reply.result.share_of_optimum.value == 1.0
    assert reply.optimum.HasField("value_certainty_equivalent")
    ce = reply.result.certainty_equivalent
    assert reply.optimum.value_certainty_equivalent == pytest.approx(ce.value, rel=0.05)


def test_same_seed_same_figures_through_grpc(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    first = simulate(stub, "vpw", seed=11)
    second = simulate(stub, "vpw", seed=11)
    assert without_timings(first) == without_timings(second)
    assert first.SerializeToString() != b""


def test_different_seeds_give_different_figures(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    a = simulate(stub, seed=1).result
    b = simulate(stub, seed=2).result
    assert a.certainty_equivalent.value != b.certainty_equivalent.value
    assert a.terminal_wealth.mean.value != b.terminal_wealth.mean.value
    # ... but agree within Monte Carlo error.
    se = math.hypot(a.certainty_equivalent.standard_error, b.certainty_equivalent.standard_error)
    assert abs(a.certainty_equivalent.value - b.certainty_equivalent.value) < 5 * se


# --------------------------------------------------------------------------- Compare


def test_compare_defaults_to_every_baseline_and_the_optimum(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    reply = compare(stub)
    assert [r.strategy for r in reply.results] == [*BASELINES, "optimum"]
    assert reply.optimum.available and not reply.skipped
    for result in reply.results:
        assert result.paths == reply.run.paths == PATHS
        assert result.HasField("share_of_optimum")
        if result.strategy != "optimum":
            assert result.versus.baseline == "optimum"
            assert result.share_of_optimum == result.versus.ce_ratio
            assert result.share_of_optimum.value == pytest.approx(
                result.certainty_equivalent.value / reply.results[-1].certainty_equivalent.value
            )
    merton = reply.results[BASELINES.index("merton")]
    assert 0.9 < merton.share_of_optimum.value < 1.01


def test_compared_strategies_meet_the_same_scenarios(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    """Simulate(A) and Compare([B, A]) with one seed: A's figures are identical."""
    alone = simulate(stub, "guardrails", seed=5).result
    together = compare(stub, ["glide_path", "guardrails"], seed=5).results[1]
    assert together.versus.baseline == "glide_path"
    together.ClearField("versus")
    assert without_timings(alone) == without_timings(together)


def test_compare_says_plainly_when_no_optimum_exists(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    reply = compare(stub, household=student_t_household())
    assert [r.strategy for r in reply.results] == BASELINES
    assert not reply.optimum.available and "Student-t" in reply.optimum.reason
    assert not any(r.HasField("share_of_optimum") for r in reply.results)
    assert all(r.versus.baseline == "own_plan" for r in reply.results[1:])

    explicit = compare(stub, ["merton", "optimum"], household=student_t_household())
    assert [r.strategy for r in explicit.results] == ["merton"]
    assert [(s.strategy, s.reason) for s in explicit.skipped] == [("optimum", reply.optimum.reason)]


def annuity_household(**fields: object) -> household_pb2.Household:
    household = example_household()
    household.annuities.CopyFrom(household_pb2.AnnuityOffer(**fields))  # type: ignore[arg-type]
    return household


def test_compare_offers_the_annuity_baselines_only_with_an_annuity_offer(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    reply = compare(stub, household=annuity_household(money_worth_ratio=0.95))
    names = [r.strategy for r in reply.results]
    # The purchase-once DP is offered as dp_simplified: this offer is open every year.
    assert names == [*BASELINES, "annuitise_25", "annuitise_50", "floor_annuity", "dp_simplified"]
    assert not reply.optimum.available
    assert "one purchase at that age only, dp_simplified" in reply.optimum.reason
    by_name = {r.strategy: r.certainty_equivalent.value for r in reply.results}
    assert by_name["annuitise_25"] != by_name["merton"]
    # What each bought is reported: nothing for the rules, a purchase for the baselines.
    bought = {r.strategy: r.annuities.probability.value for r in reply.results}
    assert all(r.HasField("annuities") for r in reply.results)
    assert bought["merton"] == 0.0 and bought["annuitise_25"] > 0.0
    plain = compare(stub)
    assert not any(r.HasField("annuities") for r in plain.results)


def test_an_annuity_strategy_without_an_offer_is_refused_naming_it(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        compare(stub, ["merton", "floor_annuity"])
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "strategies[1]" in error.value.details()
    assert "no annuity offer" in error.value.details()
    with pytest.raises(grpc.RpcError) as single:
        simulate(stub, "annuitise_50")
    assert single.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "household.annuities" in single.value.details()


def test_a_bad_annuity_offer_names_its_field(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        compare(stub, household=annuity_household(money_worth_ratio=1.5))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "household.annuities.money_worth_ratio" in error.value.details()


def claiming_household(**fields: object) -> household_pb2.Household:
    """The example whose pension (65) may be claimed from 63 to 67."""
    household = example_household()
    window = household_pb2.ClaimingWindow(earliest_age=63, latest_age=67, **fields)  # type: ignore[arg-type]
    household.incomes[0].claiming.CopyFrom(window)
    return household


def test_compare_offers_the_claiming_baselines_only_with_a_window(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    reply = compare(stub, household=claiming_household())
    names = [r.strategy for r in reply.results]
    assert names == [*BASELINES, "claim_earliest", "claim_latest", "optimum"]
    by_name = {r.strategy: r.certainty_equivalent.value for r in reply.results}
    assert len({by_name["merton"], by_name["claim_earliest"], by_name["claim_latest"]}) == 3


def test_each_result_says_when_the_pension_was_claimed(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    household = claiming_household()
    reply = compare(stub, ["merton", "claim_earliest", "claim_latest"], household=household)
    modal = {}
    for result in reply.results:
        (claims,) = result.claims
        assert claims.income == 0 and claims.label == household.incomes[0].label
        assert (claims.default_age, claims.first_age) == (65, 63)
        assert len(claims.share_at_age) == 67 - 63 + 1
        total = sum(e.value for e in claims.share_at_age) + claims.died_before_claiming.value
        assert total == pytest.approx(1.0)
        best = max(range(len(claims.share_at_age)), key=lambda k: claims.share_at_age[k].value)
        modal[result.strategy] = claims.first_age + best
        assert claims.HasField("median_age") and claims.median_age == modal[result.strategy]
    assert modal == {"merton": 65, "claim_earliest": 63, "claim_latest": 67}
    single = simulate(stub, "claim_latest", household=household)
    assert [c.median_age for c in single.result.claims] == [67]
    # Without a window: no claims in any result.
    plain = compare(stub, ["merton"])
    assert not any(r.claims for r in plain.results)


def test_a_claiming_strategy_without_a_window_is_refused_naming_it(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        compare(stub, ["merton", "claim_latest"])
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "strategies[1]" in error.value.details()
    assert "claiming window" in error.value.details()
    with pytest.raises(grpc.RpcError) as single:
        simulate(stub, "claim_earliest")
    assert single.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "'claim_earliest'" in single.value.details()


def test_a_bad_claiming_window_names_its_field(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        compare(stub, household=claiming_household(late_adjustment=-0.1))
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "household.incomes[0].claiming.late_adjustment" in error.value.details()


def regime_household() -> household_pb2.Household:
    household = example_household()
    household.market.return_model = household_pb2.RETURN_MODEL_REGIME_SWITCHING
    return household


def test_compare_offers_dp_simplified_where_regimes_take_the_optimum_away(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    reply = compare(stub, household=regime_household())
    names = [r.strategy for r in reply.results]
    assert names == [*BASELINES, "dp_simplified"]
    assert not reply.optimum.available
    assert "regimes" in reply.optimum.reason and "dp_simplified" in reply.optimum.reason
    # Not the optimum: no result carries a share "of the optimum"; each carries its share
    # of the simplified reference instead, paired against it.
    assert not any(r.HasField("share_of_optimum") for r in reply.results)
    for result in reply.results:
        assert result.HasField("share_of_simplified")
        if result.strategy == "dp_simplified":
            assert result.share_of_simplified.value == 1.0 and not result.HasField("versus")
        else:
            assert result.versus.baseline == "dp_simplified"
            assert result.share_of_simplified == result.versus.ce_ratio
    plain = compare(stub)
    assert "dp_simplified" not in [r.strategy for r in plain.results]


def test_dp_simplified_without_regimes_and_a_bad_switching_field_are_refused(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    with pytest.raises(grpc.RpcError) as error:
        simulate(stub, "dp_simplified")
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "regime-switching" in error.value.details()
    household = regime_household()
    household.market.regimes.turbulent_to_calm = 1.5
    with pytest.raises(grpc.RpcError) as bad:
        compare(stub, household=household)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "household.market.regimes.turbulent_to_calm" in bad.value.details()


# --------------------------------------------------------------------------- adaptive mode


def test_adaptive_mode_adds_paths_until_the_target(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    fixed = simulate(stub).result.certainty_equivalent.standard_error
    target = fixed / 2  # needs about four times the paths
    reply = simulate(stub, target_standard_error=target, max_paths=100_000)
    assert reply.run.converged and reply.run.target_standard_error == target
    assert reply.run.paths > 3 * PATHS and reply.result.paths == reply.run.paths
    assert reply.result.certainty_equivalent.standard_error <= target


def test_adaptive_mode_stops_at_the_cap_and_says_so(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    reply = simulate(stub, target_standard_error=0.01, max_paths=5000)
    assert not reply.run.converged and reply.run.paths == 5000
    assert reply.result.certainty_equivalent.standard_error > 0.01


def test_adaptive_mode_on_the_success_probability(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    reply = simulate(
        stub,
        target_standard_error=0.004,
        target_metric=pb.TARGET_METRIC_SUCCESS_PROBABILITY,
        max_paths=50_000,
    )
    assert reply.run.converged
    assert reply.run.target_metric == pb.TARGET_METRIC_SUCCESS_PROBABILITY
    assert reply.result.success_probability.standard_error <= 0.004 < 0.01
    assert reply.run.paths > PATHS


# --------------------------------------------------------------------------- every field counts


def test_every_settings_field_and_the_strategy_change_the_result(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    """Walk the request's fields: changing any one of them changes the response."""
    base: dict[str, Any] = {"target_standard_error": 1e9, "max_paths": 4000}
    reference = simulate(stub, "own_plan", **base)
    variants: dict[str, pb.SimulateResponse] = {
        "strategy": simulate(stub, "merton", **base),
        "paths": simulate(stub, "own_plan", **{**base, "paths": 3072}),
        "seed": simulate(stub, "own_plan", **{**base, "seed": 8}),
        "percentiles": simulate(stub, "own_plan", **{**base, "percentiles": [5, 50, 99]}),
        "target_standard_error": simulate(
            stub, "own_plan", **{**base, "target_standard_error": 1e-3}
        ),
        "target_metric": simulate(
            stub,
            "own_plan",
            **{**base, "target_metric": pb.TARGET_METRIC_SUCCESS_PROBABILITY},
        ),
        "max_paths": simulate(
            stub, "own_plan", **{**base, "target_standard_error": 1e-3, "max_paths": 3000}
        ),
    }
    for name, variant in variants.items():
        assert without_timings(variant) != without_timings(reference), name
    # And where the change shows, in plain figures:
    ce = reference.result.certainty_equivalent.value
    assert variants["strategy"].result.certainty_equivalent.value != ce
    assert variants["seed"].result.certainty_equivalent.value != ce
    assert variants["paths"].run.paths == 3072 != reference.run.paths
    assert [b.percentile for b in variants["percentiles"].result.wealth.bands] == [5, 50, 99]
    assert variants["target_standard_error"].run.paths == 4000  # ran to the cap
    assert variants["max_paths"].run.paths == 3000
    assert reference.run.paths == PATHS


def test_every_strategy_list_changes_the_comparison(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    a = compare(stub, ["own_plan", "vpw"])
    b = compare(stub, ["own_plan", "guardrails"])
    c = compare(stub, ["vpw", "own_plan"])
    assert [r.strategy for r in a.results] == ["own_plan", "vpw"]
    assert without_timings(a.results[1]) != without_timings(b.results[1])
    # Order changes the baseline of the paired comparison, not the figures.
    assert c.results[1].versus.baseline == "vpw"
    own_a, own_c = without_timings(a.results[0]), without_timings(c.results[1])
    own_c.ClearField("versus")
    assert own_a == own_c
