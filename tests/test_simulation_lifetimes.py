"""Lifetimes through a real simulation service: the couple example with mortality."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from household_support import COUPLE_JSON
from simulation_support import SimulationHarness, example_household, simulation_server

from glidepath.common.v1 import household_pb2 as pb_household
from glidepath.household.convert import household_from_json, household_to_proto
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service.config import SimulationServiceSettings

TIMEOUT = 60.0
PATHS = 2048


@pytest.fixture(scope="module")
def server() -> Iterator[SimulationHarness]:
    with simulation_server(SimulationServiceSettings(max_paths=200_000)) as harness:
        yield harness


def compare(server: SimulationHarness, household: object) -> pb.CompareResponse:
    request = pb.CompareRequest(
        household=household,  # type: ignore[arg-type]
        settings=pb.SimulationSettings(paths=PATHS, seed=3),
    )
    reply: pb.CompareResponse = server.stub.Compare(request, timeout=TIMEOUT)
    return reply


def test_the_couple_gets_lifetime_outcomes_and_no_wrong_optimum(server: SimulationHarness) -> None:
    couple = household_to_proto(household_from_json(COUPLE_JSON.read_text()))
    reply = compare(server, couple)
    names = [r.strategy for r in reply.results]
    assert "floor_upside" in names
    assert "optimum" in names and reply.optimum.available
    for result in reply.results:
        lives = result.lifetimes
        assert 20 < lives.years_lived.value < 56
        assert sum(lives.last_death.paths_at_age) == PATHS
        assert [sum(a.paths_at_age) for a in lives.per_adult] == [PATHS, PATHS]
        assert lives.HasField("below_floor_probability")  # the couple has a floor
        assert 0.0 <= lives.below_floor_probability.value <= 1.0
        assert lives.spending_certainty_equivalent.value > 0
        # Bands over the lives still running: fewer paths behind the late ages.
        by_age = list(result.wealth.paths_by_age)
        assert len(by_age) == len(result.wealth.ages) and by_age[0] == PATHS > by_age[-2]


def test_a_household_that_does_not_say_gets_mortality_and_fixed_horizon_stays(
    server: SimulationHarness,
) -> None:
    household = example_household()
    assert household.lifetimes == pb_household.LIFETIMES_UNSPECIFIED
    reply = compare(server, household)
    for result in reply.results:
        lived = result.lifetimes.years_lived
        assert abs(lived.value - 50.0) < 4 * lived.standard_error + 0.1  # LE 90 at age 40
        assert result.lifetimes.HasField("last_death")
        assert list(result.wealth.ages)[-1] == 111  # the plan runs to age 110
    household.lifetimes = pb_household.LIFETIMES_FIXED_HORIZON
    reply = compare(server, household)
    for result in reply.results:
        assert result.lifetimes.years_lived.value == 50.0  # the whole plan, every path
        assert not result.lifetimes.HasField("last_death") and not result.lifetimes.per_adult
        assert not result.lifetimes.HasField("below_floor_probability")
        assert not result.wealth.paths_by_age
