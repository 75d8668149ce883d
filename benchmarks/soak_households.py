"""Soak: many random households through a real local stack; the count of each status.

The goal is 0 INTERNAL and 0 UNKNOWN: every household either gets an answer or a
deliberate refusal (INVALID_ARGUMENT naming a field, ...). A fresh local stack
(``local_stack()``: the registry, training and simulation services as processes, free
ports on 127.0.0.1, data in a temporary directory) receives ``--n`` households (default
10,000), each drawn from ``--seed`` (``draw``):

- every number is, with even odds, at a bound of ``glidepath.household.validation`` (or
  next to it: the bound moved inwards by 1e-4 of the range, or a point where a formula
  changes form, such as risk aversion 1 or a volatility of 0) or uniform inside it;
  1-2 adults, 0-3 accounts, incomes, charges and spending phases, Student-t or lognormal,
  contributions up to (and now and then beyond) what a year leaves;
- about 1 in 10 has a required field removed (or a value pushed out of its bounds), so
  refusals are exercised too.

Each household is sent to ``Simulate`` (one strategy drawn from every built-in, the
optimum included) and ``Compare`` (every baseline plus the optimum), ``--paths`` paths
(default 64: the corners of the engine, not Monte Carlo precision, are under test). The
first ``--optimize`` valid households (default 10, 2 with ``--quick``) also go through
``Optimize`` option A with an ``--episodes``-life training (default 8): the training
service's job, the registry's upload, the judgement. ``--workers`` client threads (default
2) keep the service's pool busy. Every call has a deadline.

Prints, per RPC, the count of each status code, the calls per second, and the first few
messages of every code other than OK and INVALID_ARGUMENT; exits 1 when any call ended
INTERNAL or UNKNOWN. ``--quick``: 200 households.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc

from glidepath.cli.peers import SIMULATION
from glidepath.cli.stack import local_stack
from glidepath.common.v1 import household_pb2
from glidepath.engine.strategies import STRATEGIES
from glidepath.errors import InvalidArgument
from glidepath.household import rounding, validation
from glidepath.household.convert import household_to_proto
from glidepath.household.model import (
    Account,
    Adult,
    AssetClass,
    Charge,
    Goals,
    Household,
    Income,
    IncomeKind,
    MarketAssumptions,
    ReturnModel,
    SpendingPhase,
)
from glidepath.rpc.channel import open_channel
from glidepath.simulation.v1 import simulation_pb2 as pb
from glidepath.simulation.v1 import simulation_pb2_grpc
from glidepath.text import clip

PORTS = {"registry": 0, "training": 0, "simulation": 0}
DEADLINE = 300.0  # every call; a 100-year optimum on a busy machine takes seconds
OPTIMIZE_DEADLINE = 600.0
EXAMPLES_SHOWN = 3
BAD = frozenset({grpc.StatusCode.INTERNAL, grpc.StatusCode.UNKNOWN})
DEFAULT_CORRELATIONS = MarketAssumptions().correlations
CORRELATIONS = (
    DEFAULT_CORRELATIONS,
    tuple(tuple(1.0 if i == j else 0.0 for j in range(4)) for i in range(4)),
    tuple(tuple(1.0 for _ in range(4)) for _ in range(4)),
)


# --------------------------------------------------------------------------- households


class Draw:
    """Numbers at, next to, or inside the bounds, from one seeded generator."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def number(self, low: float, high: float, *special: float) -> float:
        r = self.rng
        if r.random() < 0.5:
            span = high - low
            return r.choice([low, high, low + 1e-4 * span, high - 1e-4 * span, *special])
        return r.uniform(low, high)

    def money(self) -> float:
        r = self.rng
        if r.random() < 0.5:
            return r.choice([0.0, 1.0, validation.MAX_MONEY, validation.MAX_MONEY / 64])
        return rounding.round_money(10 ** r.uniform(0, 7))

    def positive_money(self) -> float:
        return self.money() or 1.0

    def rate(self, bounds: tuple[float, float]) -> float:
        return self.number(*bounds, 0.0)


def draw(rng: random.Random) -> Household:
    """One random household, valid unless the rules on cash flows say otherwise."""
    d = Draw(rng)
    adults = tuple(_adult(d) for _ in range(rng.choice([1, 1, 2])))
    first = adults[0]
    horizon = max(a.life_expectancy - a.current_age for a in adults)
    last = min(first.current_age + horizon - 1, validation.MAX_AGE - 1)
    household = Household(
        adults=adults,
        accounts=tuple(_account(d) for _ in range(rng.randint(0, 3))),
        incomes=tuple(_income(d, adults, horizon) for _ in range(rng.randint(0, 3))),
        charges=tuple(_charge(d, first, last) for _ in range(rng.randint(0, 3))),
        spending_phases=tuple(
            SpendingPhase(age, d.money())
            for age in sorted(
                {rng.randint(first.current_age, last) for _ in range(rng.randint(0, 3))}
            )
        ),
        goals=Goals(capital_goal=d.money(), retirement_spending=d.positive_money()),
        risk_aversion=d.number(
            validation.MIN_RISK_AVERSION, validation.MAX_RISK_AVERSION, 1.0, 0.9999, 1.0001, 3.0
        ),
        market=_market(d),
    )
    if not any(a.balance for a in household.accounts):
        household = _with(household, accounts=(*household.accounts, Account(d.positive_money())))
    return _contributions(d, household)


def _adult(d: Draw) -> Adult:
    r = d.rng
    current = r.choice([0, 1, 64, validation.MAX_AGE - 1, r.randint(0, validation.MAX_AGE - 1)])
    longest = min(validation.MAX_AGE, current + validation.MAX_HORIZON_YEARS)
    life = r.choice([current + 1, longest, r.randint(current + 1, longest)])
    retirement = r.choice([current, life - 1, r.randint(current, life - 1)])
    return Adult(
        current_age=current,
        retirement_age=retirement,
        life_expectancy=life,
        net_income=d.money() if retirement > current else 0.0,
        income_growth=d.rate(validation.GROWTH_BOUNDS),
    )


def _account(d: Draw) -> Account:
    stock = d.rng.random()
    bond = d.rng.random() * (1.0 - stock)
    stock, bond, cash = rounding.round_shares((stock, bond, 1.0 - stock - bond))
    return Account(d.money(), 0.0, stock, bond, cash)


def _income(d: Draw, adults: tuple[Adult, ...], horizon: int) -> Income:
    index = d.rng.randrange(len(adults))
    owner = adults[index]
    last = min(owner.current_age + horizon - 1, validation.MAX_AGE - 1)
    start = d.rng.randint(owner.current_age, last)
    end = d.rng.choice([None, d.rng.randint(start + 1, validation.MAX_AGE)])
    return Income(
        amount=d.money(),
        start_age=start,
        end_age=end,
        adult=index,
        kind=d.rng.choice(list(IncomeKind)),
        indexed_to_inflation=d.rng.random() < 0.5,
        growth=d.rate(validation.GROWTH_BOUNDS),
    )


def _charge(d: Draw, first: Adult, last: int) -> Charge:
    start = d.rng.choice([None, d.rng.randint(first.current_age, last)])
    end = d.rng.choice(
        [None, d.rng.randint(max(start or 0, first.current_age) + 1, validation.MAX_AGE)]
    )
    return Charge(d.money(), end, start, d.rng.random() < 0.5)


def _market(d: Draw) -> MarketAssumptions:
    def asset() -> AssetClass:
        return AssetClass(
            d.number(*validation.RETURN_BOUNDS, 0.05), d.number(*validation.VOLATILITY_BOUNDS, 0.15)
        )

    return MarketAssumptions(
        stocks=asset(),
        bonds=asset(),
        cash=asset(),
        inflation_mean=d.number(*validation.RETURN_BOUNDS, 0.025),
        inflation_volatility=d.number(*validation.VOLATILITY_BOUNDS, 0.015),
        correlations=d.rng.choice(CORRELATIONS),
        return_model=d.rng.choice(list(ReturnModel)),
        degrees_of_freedom=d.number(*validation.DEGREES_OF_FREEDOM_BOUNDS, 5.0),
    )


def _contributions(d: Draw, household: Household) -> Household:
    """Contributions up to what a year leaves, and 1 time in 20 beyond it."""
    if not any(a.retirement_age > a.current_age for a in household.adults):
        return household
    try:
        most = validation.largest_yearly_saving(household)
    except InvalidArgument:
        return household
    fraction = d.rng.choice([0.0, 0.5, 0.99, d.rng.random(), 1.5 if d.rng.random() < 0.2 else 0.3])
    monthly = rounding.round_money(min(most * fraction / 12, validation.MAX_MONEY / 2))
    first = household.accounts[0]
    return _with(
        household,
        accounts=(
            Account(first.balance, monthly, first.stock_share, first.bond_share, first.cash_share),
            *household.accounts[1:],
        ),
    )


def _with(household: Household, **changes: object) -> Household:
    from dataclasses import replace

    return replace(household, **changes)  # type: ignore[arg-type]


REQUIRED = (
    ("adults", "current_age"),
    ("adults", "retirement_age"),
    ("adults", "life_expectancy"),
    ("accounts", "balance"),
)


def message_for(household: Household, rng: random.Random) -> household_pb2.Household:
    """The household as a client sends it; 1 in 10 broken (a field missing or out of range)."""
    message = household_to_proto(household)
    if rng.random() < 0.1:
        collection, name = rng.choice(REQUIRED)
        items = getattr(message, collection)
        if items:
            items[0].ClearField(name)
    elif rng.random() < 0.02:
        message.risk_aversion = rng.choice([0.0, -1.0, 25.0, float("nan")])
    return message


# --------------------------------------------------------------------------- calls


@dataclass
class Tally:
    """Status codes per RPC, and the first messages of the codes worth reading."""

    codes: dict[str, Counter[str]]
    examples: dict[tuple[str, str], list[str]]
    seconds: dict[str, float]
    lock: threading.Lock

    @classmethod
    def empty(cls) -> Tally:
        return cls(defaultdict(Counter), defaultdict(list), defaultdict(float), threading.Lock())

    def record(self, rpc: str, call: Callable[[], object]) -> None:
        began = time.perf_counter()
        try:
            call()
            code, details = grpc.StatusCode.OK, ""
        except grpc.RpcError as error:
            code, details = error.code(), error.details() or ""
        with self.lock:
            self.codes[rpc][code.name] += 1
            self.seconds[rpc] += time.perf_counter() - began
            shown = self.examples[(rpc, code.name)]
            worth_reading = code not in (grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT)
            if worth_reading and len(shown) < EXAMPLES_SHOWN:
                shown.append(clip(details, 300))

    def bad(self) -> int:
        return sum(
            n for c in self.codes.values() for code, n in c.items() if code in {b.name for b in BAD}
        )


def soak_one(
    stub: simulation_pb2_grpc.SimulationServiceStub, index: int, seed: int, paths: int, tally: Tally
) -> None:
    rng = random.Random(f"{seed}-{index}")
    household = draw(rng)
    message = message_for(household, rng)
    run = pb.SimulationSettings(paths=paths, seed=index)
    strategy = rng.choice(list(STRATEGIES))
    simulate = pb.SimulateRequest(household=message, strategy=strategy, settings=run)
    tally.record("Simulate", lambda: stub.Simulate(simulate, timeout=DEADLINE))
    compare = pb.CompareRequest(household=message, settings=run)
    tally.record("Compare", lambda: stub.Compare(compare, timeout=DEADLINE))


def optimize_one(
    stub: simulation_pb2_grpc.SimulationServiceStub,
    household: household_pb2.Household,
    episodes: int,
    paths: int,
    tally: Tally,
) -> None:
    request = pb.OptimizeRequest(
        household=household,
        episodes=episodes,
        settings=pb.SimulationSettings(paths=paths),
        training_seed=1,
    )

    def call() -> None:
        for _ in stub.Optimize(request, timeout=OPTIMIZE_DEADLINE):
            pass

    tally.record("Optimize", call)


def valid_messages(seed: int, count: int) -> Iterator[household_pb2.Household]:
    """The first ``count`` valid households of a stream of its own (for Optimize)."""
    rng = random.Random(f"{seed}-optimize")
    found = 0
    while found < count:
        household = draw(rng)
        try:
            validation.validate(household)
        except InvalidArgument:
            continue
        found += 1
        yield household_to_proto(household)


def report(tally: Tally, wall: float) -> None:
    codes = sorted({code for counts in tally.codes.values() for code in counts})
    print(f"{'rpc':<10}" + "".join(f"{code:>20}" for code in codes) + f"{'calls/s':>10}")
    for rpc, counts in tally.codes.items():
        calls = sum(counts.values())
        rate = calls / tally.seconds[rpc] if tally.seconds[rpc] else 0.0
        print(
            f"{rpc:<10}"
            + "".join(f"{counts.get(code, 0):>20,}" for code in codes)
            + f"{rate:>10.1f}"
        )
    for (rpc, code), shown in sorted(tally.examples.items()):
        for text in shown:
            print(f"  {rpc} {code}: {text}")
    print(f"wall {wall:,.0f} s; INTERNAL or UNKNOWN: {tally.bad()}")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=10_000, help="households (default 10,000)")
    parser.add_argument("--quick", action="store_true", help="200 households, 2 optimisations")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--paths", type=int, default=64)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--optimize", type=int, default=None, help="Optimize calls (default 10)")
    parser.add_argument("--episodes", type=int, default=8, help="lives each Optimize trains")
    args = parser.parse_args()
    n = 200 if args.quick else args.n
    optimizations = args.optimize if args.optimize is not None else (2 if args.quick else 10)
    tally = Tally.empty()
    began = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="glidepath-soak-") as tmp,
        local_stack(Path(tmp), ports=PORTS) as stack,
    ):
        channel = open_channel(stack.address(SIMULATION))
        stub = simulation_pb2_grpc.SimulationServiceStub(channel)
        with ThreadPoolExecutor(args.workers) as pool:
            for done, _ in enumerate(
                pool.map(lambda i: soak_one(stub, i, args.seed, args.paths, tally), range(n)), 1
            ):
                if done % 500 == 0:
                    print(
                        f"  {done:,} / {n:,} households, {time.monotonic() - began:,.0f} s",
                        file=sys.stderr,
                    )
        for message in valid_messages(args.seed, optimizations):
            optimize_one(stub, message, args.episodes, args.paths, tally)
        channel.close()
    print(
        f"-- {n:,} random households (seed {args.seed}, {args.paths} paths), "
        f"{optimizations} optimisations of {args.episodes} episodes"
    )
    report(tally, time.monotonic() - began)
    sys.stdout.flush()
    return 1 if tally.bad() else 0


if __name__ == "__main__":
    sys.exit(main())
