"""Over the wire: households at the bounds get answers, implausible values get warnings.

A real simulation service on a loopback port receives households drawn at the corners
of validation (``household_support.bound_households``): Simulate and Compare must answer
OK (never INTERNAL or UNKNOWN). An expected return of 0.7 (typed for 0.07) must come back
with a warning naming the field in Simulate, Compare and Optimize's comparison, and the
CLI must print it, the field named as the household file writes it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from household_support import bound_households
from hypothesis import HealthCheck, given, settings
from simulation_support import SimulationHarness, example_household, simulation_server

from glidepath.cli.render import compare_report, simulate_report
from glidepath.engine.run import SimulationSettings
from glidepath.household.convert import household_from_proto, household_to_proto
from glidepath.household.model import Household
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service.config import SimulationServiceSettings

DEADLINE = 120.0
LIMITS = SimulationServiceSettings(max_paths=2_000, default_paths=128, adaptive_max_paths=2_000)
RETURN_FIELD = "household.market.stocks.expected_return"


@pytest.fixture(scope="module")
def harness() -> Iterator[SimulationHarness]:
    with simulation_server(LIMITS) as running:
        yield running


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(bound_households())
def test_households_at_the_bounds_are_answered_over_the_wire(
    harness: SimulationHarness, household: Household
) -> None:
    message = household_to_proto(household)
    run = pb.SimulationSettings(paths=64, seed=2)
    simulated = harness.stub.Simulate(
        pb.SimulateRequest(household=message, strategy="merton", settings=run), timeout=DEADLINE
    )
    assert simulated.result.paths == 64
    compared = harness.stub.Compare(
        pb.CompareRequest(household=message, settings=run), timeout=DEADLINE
    )
    assert len(compared.results) >= 6  # every baseline, the optimum where it exists
    assert all(0.0 <= r.success_probability.value <= 1.0 for r in compared.results)


def _optimistic() -> pb.SimulateRequest:
    request = pb.SimulateRequest(household=example_household())
    request.household.market.stocks.expected_return = 0.7
    request.settings.paths = 128
    return request


def test_an_implausible_return_is_warned_about_in_simulate_and_compare(
    harness: SimulationHarness,
) -> None:
    request = _optimistic()
    simulated = harness.stub.Simulate(request, timeout=DEADLINE)
    assert [w.field for w in simulated.warnings] == [RETURN_FIELD]
    assert "0.07 = 7 %" in simulated.warnings[0].message
    compared = harness.stub.Compare(
        pb.CompareRequest(household=request.household, settings=request.settings),
        timeout=DEADLINE,
    )
    assert [w.field for w in compared.warnings] == [RETURN_FIELD]
    plain = harness.stub.Simulate(
        pb.SimulateRequest(household=example_household(), settings=request.settings),
        timeout=DEADLINE,
    )
    assert list(plain.warnings) == []
    # The CLI prints each warning, naming the field as the household file writes it.
    for report in (simulate_report(simulated), compare_report(compared)):
        assert report.splitlines()[0].startswith(
            "warning: market.stocks.expectedReturn: 0.7 is an expected return of 70 %"
        )
    assert "warning" not in simulate_report(plain)


def test_optimize_carries_the_warnings_in_its_comparison() -> None:
    """Optimize's result holds the judgement's comparison, warnings included."""
    from glidepath.rl.model_io import build_policy
    from simulation_service.optimize.judge import judge
    from simulation_service.work import WorkPool

    household = household_from_proto(_optimistic().household)
    pool = WorkPool(1, 0)
    try:
        judgement = judge(
            household,
            "0123456789abcdef",
            build_policy(),
            SimulationSettings(paths=64),
            pool.token(None),
            profile_paths=64,
        )
    finally:
        pool.shutdown()
    assert [w.field for w in judgement.comparison.warnings] == [RETURN_FIELD]
