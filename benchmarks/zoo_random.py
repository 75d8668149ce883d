"""Write the zoo's random households (``benchmarks/zoo/random_*.json``), reproducibly.

Each is drawn from a seeded generator over plausible ranges (ages, incomes, pensions,
savings, spending, floors, risk aversion, a partner and an annuity offer half the time),
kept only if it validates, and written in the household file format. The files are
committed: the zoo is a fixed set of named households; this script says where the random
ones came from. Run: ``python benchmarks/zoo_random.py [--count 4] [--seed 11]``.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

import numpy as np

from glidepath.errors import InvalidArgument
from glidepath.household.convert import household_to_json
from glidepath.household.model import (
    Account,
    Adult,
    AnnuityOffer,
    Goals,
    Household,
    Income,
)
from glidepath.household.validation import validate

ZOO = Path(__file__).resolve().parent / "zoo"


def _adult(rng: np.random.Generator) -> Adult:
    age = int(rng.integers(35, 76))
    retirement = max(age, int(rng.integers(60, 71)))
    life = int(rng.integers(max(retirement, age) + 8, 96))
    income = 0.0 if retirement == age else float(round(rng.uniform(30_000, 120_000), -3))
    return Adult(age, retirement, life, income, float(round(rng.uniform(0.0, 0.015), 3)))


def draw(rng: np.random.Generator, index: int) -> Household:
    adults = (_adult(rng),) if rng.random() < 0.6 else (_adult(rng), _adult(rng))
    incomes = tuple(
        Income(
            amount=float(round(rng.uniform(6_000, 30_000), -2)),
            start_age=a.retirement_age,
            adult=j,
            survivor_fraction=float(round(rng.uniform(0, 0.6), 1)) if len(adults) == 2 else 0.0,
        )
        for j, a in enumerate(adults)
    )
    earned = sum(a.net_income for a in adults)
    pension = sum(i.amount for i in incomes)
    target = float(round(max(0.7 * earned, pension * 1.8, 30_000) * rng.uniform(0.8, 1.2), -3))
    working = any(a.retirement_age > a.current_age for a in adults)
    monthly = float(round(rng.uniform(0, 0.1) * earned / 12, -1)) if working else 0.0
    return Household(
        name=f"Zoo: random household {index} (benchmarks/zoo_random.py)",
        adults=adults,
        incomes=incomes,
        accounts=(
            Account(
                balance=float(round(np.exp(rng.uniform(np.log(2e4), np.log(2e6))), -3)),
                monthly_contribution=monthly,
                stock_share=float(round(rng.uniform(0.3, 0.9), 2)),
                bond_share=0.0,
            ),
        ),
        goals=Goals(
            capital_goal=float(round(rng.choice([0.0, rng.uniform(5e4, 3e5)]), -3)),
            retirement_spending=target,
            essential_fraction=float(round(rng.choice([0.0, rng.uniform(0.5, 0.8)]), 2)),
        ),
        risk_aversion=float(round(rng.uniform(2.0, 6.0), 1)),
        annuities=AnnuityOffer() if rng.random() < 0.5 else None,
    )


def _with_bonds(h: Household) -> Household:
    """The account's non-stock part in bonds (drawn as 0 above to keep shares summing)."""
    a = h.accounts[0]
    return replace(h, accounts=(replace(a, bond_share=round(1.0 - a.stock_share, 2)),))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=4)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    written = 0
    while written < args.count:
        household = _with_bonds(draw(rng, written + 1))
        try:
            validate(household)
        except InvalidArgument:
            continue
        written += 1
        path = ZOO / f"random_{written}.json"
        path.write_text(household_to_json(household) + "\n")
        print(f"wrote {path.relative_to(ZOO.parent.parent)}")


if __name__ == "__main__":
    main()
