"""Hostile input to the simulation service (property-based): a clear status, never a crash.

A real simulation service on a loopback port receives arbitrary ``SimulateRequest``,
``CompareRequest`` and ``OptimizeRequest`` messages built from their descriptors
(``hostile_support``): random households, settings with huge, negative or NaN numbers,
unknown enum values, odd strings; near-valid requests (the example household with random
fields overridden or added, so that many pass validation and really run); and raw random
bytes in place of a serialized request. The server's path limit is small, so whatever
passes validation is cheap. Every call has a deadline; each answer must be OK or a
deliberate error, never UNKNOWN or INTERNAL; the service must be healthy and correct
afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hostile_support import (
    CLEAR_CODES,
    messages,
    near_valid,
    outcome,
    raw_unary,
    raw_unary_stream,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from simulation_support import SimulationHarness, example_household, simulation_server

from glidepath.common.v1 import household_pb2
from glidepath.rpc.channel import wait_until_serving
from glidepath.simulation.v1 import simulation_pb2 as pb
from simulation_service.config import SimulationServiceSettings
from simulation_service.service import SERVICE_NAME

DEADLINE = 60.0
HYPOTHESIS = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)
# Optimize's peers are down on purpose (port 1 refuses): its valid requests end UNAVAILABLE,
# the answer the proto documents for an unreachable registry or training service.
LIMITS = SimulationServiceSettings(
    max_paths=2000,
    default_paths=256,
    adaptive_max_paths=2000,
    registry_addr="127.0.0.1:1",
    training_addr="127.0.0.1:1",
)
Request = pb.SimulateRequest | pb.CompareRequest | pb.OptimizeRequest
REQUESTS: dict[str, Any] = {
    "Simulate": pb.SimulateRequest,
    "Compare": pb.CompareRequest,
    "Optimize": pb.OptimizeRequest,
}
PEERS_DOWN = grpc.StatusCode.UNAVAILABLE


@pytest.fixture(scope="module")
def harness() -> Iterator[SimulationHarness]:
    with simulation_server(LIMITS) as running:
        yield running


def _valid(name: str) -> Request:
    settings_ = pb.SimulationSettings(paths=256, seed=3)
    if name == "Simulate":
        return pb.SimulateRequest(household=example_household(), settings=settings_)
    if name == "Optimize":
        return pb.OptimizeRequest(
            household=example_household(), use_pretrained=True, settings=settings_
        )
    strategies = ["merton", "four_percent_rule"]
    return pb.CompareRequest(
        household=example_household(), strategies=strategies, settings=settings_
    )


@st.composite
def hostile_households(draw: st.DrawFn, name: str) -> Request:
    """The valid request with a denser random household merged into the example's."""
    request = _valid(name)
    request.household.MergeFrom(draw(messages(household_pb2.Household, presence=0.25)))
    return request


@st.composite
def hostile_settings(draw: st.DrawFn, name: str) -> Request:
    """The valid request with random settings merged in: the household stays valid, so
    many of these run (a random household rarely passes validation, which now also asks
    for every required field and refuses contributions no year could pay)."""
    request = _valid(name)
    request.settings.MergeFrom(draw(messages(pb.SimulationSettings, presence=0.25)))
    return request


def _requests(name: str) -> st.SearchStrategy[Request]:
    message_type = REQUESTS[name]
    # The valid request itself too: with the household's lifetimes fields, random
    # overrides of the example rarely stay valid, and requests that run must be reached.
    return st.one_of(
        messages(message_type),
        near_valid(_valid(name)),
        hostile_households(name),
        hostile_settings(name),
        st.just(_valid(name)),
    )


def _check_still_serving(harness: SimulationHarness) -> None:
    wait_until_serving(harness.channel, SERVICE_NAME, timeout=5)
    reply = harness.stub.Simulate(_valid("Simulate"), timeout=DEADLINE)
    assert reply.result.paths == 256
    load = harness.app.pool.load()
    assert (load.running, load.waiting) == (0, 0)  # nothing stuck in the pool


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_arbitrary_requests_get_a_clear_status(harness: SimulationHarness, name: str) -> None:
    call = getattr(harness.stub, name)
    seen: set[grpc.StatusCode] = set()

    clear = CLEAR_CODES | {PEERS_DOWN} if name == "Optimize" else CLEAR_CODES

    @HYPOTHESIS
    @given(_requests(name))
    def run(request: Request) -> None:
        code, details = outcome(lambda: call(request, timeout=DEADLINE))
        assert code in clear, f"{code.name} ({details}) for {request!r}"
        seen.add(code)

    run()
    # The strategies reach both sides: requests refused and requests that ran (up to the
    # peers, for Optimize).
    ran = PEERS_DOWN if name == "Optimize" else grpc.StatusCode.OK
    assert {ran, grpc.StatusCode.INVALID_ARGUMENT} <= seen
    _check_still_serving(harness)


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_raw_random_bytes_get_a_clear_status(harness: SimulationHarness, name: str) -> None:
    method = f"/{SERVICE_NAME}/{name}"
    call = (raw_unary_stream if name == "Optimize" else raw_unary)(harness.channel, method)
    clear = CLEAR_CODES | {PEERS_DOWN} if name == "Optimize" else CLEAR_CODES

    @HYPOTHESIS
    @given(
        st.one_of(
            st.binary(max_size=300),
            messages(REQUESTS[name]).map(lambda m: m.SerializeToString()),
        )
    )
    def run(payload: bytes) -> None:
        code, details = outcome(lambda: call(payload, timeout=DEADLINE))
        assert code in clear, f"{code.name} ({details}) for {payload!r}"

    run()
    code, details = outcome(lambda: call(b"\x0a\xff", timeout=DEADLINE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert f"glidepath.simulation.v1.{name}Request" in details
    _check_still_serving(harness)


def test_a_nearly_risk_neutral_household_is_refused_not_crashed(
    harness: SimulationHarness,
) -> None:
    """Found by the fuzzing above: risk aversion 0.002 with an optimistic market overflowed
    the Merton rule (INTERNAL). The lower bound is now 0.1, named in the answer."""
    request = _valid("Compare")
    request.household.risk_aversion = 0.001953125
    request.household.market.stocks.expected_return = 1.0
    code, details = outcome(lambda: harness.stub.Compare(request, timeout=DEADLINE))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert "household.risk_aversion" in details and "[0.1, 20]" in details
    request.household.risk_aversion = 0.1  # the bound itself runs, even with that market
    assert harness.stub.Compare(request, timeout=DEADLINE).results
