"""The number normalisation behind the canonical hash, shared with validation.

Rounding lives apart from ``canonical`` because validation needs it too: a household is
accepted only if its rounded form is also acceptable (the training service trains on the
rounded form), and each rule here is chosen so that rounding cannot cross a bound:
- money: 3 significant figures (a plan does not change with the fourth digit of a
  salary); monotone, keeps zero at zero and a positive amount positive;
- rates and fractions: 4 decimal places (0.01 %); every bound validation uses is on
  that grid, so monotone rounding cannot leave it;
- risk aversion and Student-t degrees of freedom: 4 significant figures (relative
  precision, so a small positive value stays positive);
- account shares: to 4 decimal places by the largest-remainder method (in exact
  rational arithmetic), so the rounded shares still sum to exactly 1;
- correlations: the upper triangle is taken as the truth (mirrored, diagonal set to
  exactly 1) and rounded to 4 decimal places;
- ages are whole numbers and are never rounded.

Formatting with ``format(x, ".3g")`` rounds the exact binary value half-to-even, the
same on every platform; ``+ 0.0`` turns ``-0.0`` into ``0.0``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from fractions import Fraction

RATE_DECIMALS = 4
MONEY_SIGNIFICANT = 3
PARAMETER_SIGNIFICANT = 4
SHARE_UNITS = 10**RATE_DECIMALS


def round_money(value: float) -> float:
    return float(format(value, f".{MONEY_SIGNIFICANT}g")) + 0.0


def round_rate(value: float) -> float:
    return round(value, RATE_DECIMALS) + 0.0


def round_parameter(value: float) -> float:
    return float(format(value, f".{PARAMETER_SIGNIFICANT}g")) + 0.0


def round_shares(shares: Sequence[float]) -> tuple[float, ...]:
    """Shares (non-negative, summing to about 1) on the 1e-4 grid, summing to exactly 1.

    Largest remainder, in exact rational arithmetic (no float noise decides a digit):
    normalise the shares to sum to 1, floor each in units of 1e-4, then hand the missing
    units to the largest remainders (ties to the earlier share: stocks, bonds, cash).
    """
    exact = [Fraction(s) for s in shares]
    total = sum(exact, Fraction(0))
    scaled = [s / total * SHARE_UNITS for s in exact]
    units = [math.floor(x) for x in scaled]
    missing = SHARE_UNITS - sum(units)
    order = sorted(range(len(scaled)), key=lambda i: (-(scaled[i] - units[i]), i))
    for i in order[:missing]:
        units[i] += 1
    return tuple(u / SHARE_UNITS + 0.0 for u in units)


def round_correlations(matrix: Sequence[Sequence[float]]) -> tuple[tuple[float, ...], ...]:
    """Symmetric, unit-diagonal, rounded: built from the upper triangle of ``matrix``."""
    n = len(matrix)
    rows = [[1.0] * n for _ in range(n)]
    for i in range(n):
        for j in range(i + 1, n):
            rows[i][j] = rows[j][i] = round_rate(matrix[i][j])
    return tuple(tuple(row) for row in rows)
