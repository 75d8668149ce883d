"""Bad requests to the simulation service: INVALID_ARGUMENT naming every bad field,
RESOURCE_EXHAUSTED for work beyond the engine's size limits, as the proto documents."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from simulation_support import example_household, simulation_server

from glidepath.common.v1 import household_pb2
from glidepath.household.validation import MAX_VIOLATIONS
from glidepath.rpc.status import bad_fields, error_reason
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from simulation_service.config import SimulationServiceSettings

TIMEOUT = 30.0
LIMIT = 2_000_000  # this server's SIMULATION_MAX_PATHS: the engine's own ceiling


@pytest.fixture(scope="module")
def stub() -> Iterator[simulation_pb2_grpc.SimulationServiceStub]:
    with simulation_server(SimulationServiceSettings(max_paths=LIMIT)) as harness:
        yield harness.stub


def simulate_error(
    stub: simulation_pb2_grpc.SimulationServiceStub, request: pb.SimulateRequest
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Simulate(request, timeout=TIMEOUT)
    return caught.value


def compare_error(
    stub: simulation_pb2_grpc.SimulationServiceStub, request: pb.CompareRequest
) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        stub.Compare(request, timeout=TIMEOUT)
    return caught.value


def invalid(error: grpc.RpcError) -> list[str]:
    """The BadRequest fields of an INVALID_ARGUMENT error (asserting the code)."""
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error.details()
    assert error_reason(error) == "INVALID_FIELD"
    return bad_fields(error)


def with_settings(**fields: object) -> pb.SimulateRequest:
    return pb.SimulateRequest(
        household=example_household(),
        settings=pb.SimulationSettings(**fields),  # type: ignore[arg-type]
    )


@pytest.mark.parametrize(
    ("fields", "bad"),
    [
        ({"paths": 0}, ["settings.paths"]),
        ({"paths": LIMIT + 1}, ["settings.paths"]),
        ({"target_standard_error": 0.0}, ["settings.target_standard_error"]),
        ({"target_standard_error": -5.0}, ["settings.target_standard_error"]),
        ({"target_standard_error": float("nan")}, ["settings.target_standard_error"]),
        ({"target_standard_error": float("inf")}, ["settings.target_standard_error"]),
        ({"target_metric": pb.TARGET_METRIC_SUCCESS_PROBABILITY}, ["settings.target_metric"]),
        ({"target_metric": 9, "target_standard_error": 1.0}, ["settings.target_metric"]),
        ({"max_paths": 50_000}, ["settings.max_paths"]),
        (
            {"paths": 10_000, "max_paths": 5000, "target_standard_error": 1.0},
            ["settings.max_paths"],
        ),
        ({"max_paths": LIMIT + 1, "target_standard_error": 1.0}, ["settings.max_paths"]),
        ({"percentiles": [0.0]}, ["settings.percentiles[0]"]),
        ({"percentiles": [50.0, 100.0]}, ["settings.percentiles[1]"]),
        ({"percentiles": [5.0, float("nan")]}, ["settings.percentiles[1]"]),
        ({"percentiles": [0.05, 50.0, 50.0]}, ["settings.percentiles[2]"]),
        ({"percentiles": [float(p) for p in range(1, 22)]}, ["settings.percentiles"]),
    ],
)
def test_bad_settings_name_the_field(
    stub: simulation_pb2_grpc.SimulationServiceStub, fields: dict[str, object], bad: list[str]
) -> None:
    assert invalid(simulate_error(stub, with_settings(**fields))) == bad


def test_the_percentile_message_says_percent_points(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    error = simulate_error(stub, with_settings(percentiles=[150.0]))
    assert "percent points" in error.details() and "5 = the 5th percentile" in error.details()


def test_a_missing_household_is_a_field_error(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    assert invalid(simulate_error(stub, pb.SimulateRequest())) == ["household"]
    assert invalid(compare_error(stub, pb.CompareRequest())) == ["household"]


def test_every_mistake_is_reported_at_once(stub: simulation_pb2_grpc.SimulationServiceStub) -> None:
    household = example_household()
    household.adults[0].current_age = 70  # after the retirement age of 65
    request = pb.CompareRequest(
        household=household,
        strategies=["merton", "nope", "merton"],
        settings=pb.SimulationSettings(paths=0, percentiles=[101.0]),
    )
    fields = invalid(compare_error(stub, request))
    assert "household.adults[0].retirement_age" in fields
    for field in ("strategies[1]", "strategies[2]", "settings.paths", "settings.percentiles[0]"):
        assert field in fields


def test_unknown_strategies_list_the_known_names(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    error = simulate_error(stub, pb.SimulateRequest(household=example_household(), strategy="x"))
    assert invalid(error) == ["strategy"]
    assert "'x'" in error.details() and "merton" in error.details()
    error = compare_error(
        stub, pb.CompareRequest(household=example_household(), strategies=["vpw", "4%"])
    )
    assert invalid(error) == ["strategies[1]"]
    assert "four_percent_rule" in error.details()


def test_simulating_an_optimum_that_does_not_exist_names_the_strategy(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    household = example_household()
    household.market.return_model = household_pb2.RETURN_MODEL_STUDENT_T
    error = simulate_error(stub, pb.SimulateRequest(household=household, strategy="optimum"))
    assert invalid(error) == ["strategy"]
    assert "no optimum" in error.details()


def test_too_many_paths_times_strategies_is_resource_exhausted(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    """Each count is within the limit, the product is beyond the engine's: refused fast."""
    request = pb.CompareRequest(
        household=example_household(),
        strategies=["own_plan", "vpw", "merton", "guardrails", "glide_path"],
        settings=pb.SimulationSettings(paths=LIMIT),
    )
    error = compare_error(stub, request)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "8,000,000" in error.details()


def test_a_missing_required_household_field_is_named_not_read_as_zero(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    """An adult without current_age used to be simulated from age 0."""
    request = pb.SimulateRequest(household=example_household())
    request.household.adults[0].ClearField("current_age")
    request.household.accounts[0].ClearField("balance")
    error = simulate_error(stub, request)
    assert invalid(error) == ["household.adults[0].current_age", "household.accounts[0].balance"]
    assert "household.adults[0].current_age: is required" in (error.details() or "")
    working = pb.SimulateRequest(household=example_household())
    working.household.adults[0].ClearField("net_income")  # retires at 65, aged 40
    assert invalid(simulate_error(stub, working)) == ["household.adults[0].net_income"]


def test_a_contribution_that_would_change_nothing_is_refused_naming_it(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    request = pb.SimulateRequest(household=example_household())
    request.household.accounts[0].monthly_contribution = 60_000  # the yearly salary
    error = simulate_error(stub, request)
    assert invalid(error) == ["household.accounts[0].monthly_contribution"]
    assert "would change nothing" in (error.details() or "")


def test_a_huge_strategy_name_is_refused_with_a_short_message(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    """A 3.9 MB name used to be echoed whole (and a long one overflows the metadata:
    RESOURCE_EXHAUSTED instead of INVALID_ARGUMENT)."""
    name = "x" * 3_900_000
    request = pb.SimulateRequest(household=example_household(), strategy=name)
    error = simulate_error(stub, request)
    assert invalid(error) == ["strategy"]
    details = error.details() or ""
    assert "(3900000 characters)" in details and len(details) < 1_000
    compare = pb.CompareRequest(household=example_household(), strategies=[name, "merton"])
    assert invalid(compare_error(stub, compare)) == ["strategies[0]"]


def test_every_field_of_the_largest_household_wrong_still_fits_the_answer(
    stub: simulation_pb2_grpc.SimulationServiceStub,
) -> None:
    """32 incomes, charges and phases, each wrong in every field: INVALID_ARGUMENT, not a
    metadata overflow."""
    household = example_household()
    bad_income = household_pb2.Income(amount=-1, start_age=999, end_age=-5, adult=7, growth=9)
    bad_charge = household_pb2.Charge(amount=-1, start_age=999, end_age=-5)
    bad_phase = household_pb2.SpendingPhase(start_age=999, annual_spending=-1, label="l" * 300)
    household.incomes.extend([bad_income] * 31)  # the example has one of each already
    household.charges.extend([bad_charge] * 31)
    household.spending_phases.extend([bad_phase] * 32)
    error = simulate_error(stub, pb.SimulateRequest(household=household))
    fields = invalid(error)
    assert len(fields) == MAX_VIOLATIONS
    assert fields[0] == "household.incomes[1].amount"
    assert "more problems" in (error.details() or "")
