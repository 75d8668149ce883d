"""Lifetimes: one-year death probabilities, survival, life expectancy and drawn deaths.

Conventions (every function here):
- Ages are whole years. ``q[x]`` is the probability that someone alive at exact age x
  dies before exact age x + 1 (in "the year of age x").
- A plan runs to a maximum age omega (``MAX_LIFE_AGE`` = 110 unless an explicit table
  ends earlier): the year of age omega is the last one anyone lives, so q at omega is 1.
- **Life expectancy** at age x is the expected age at death of someone alive at exact
  age x, with deaths in the middle of their year of age (a death in the year of age y
  is counted at y + 1/2: the "complete" expectation of life of a period table with
  deaths spread evenly over the year). With k_p_x the probability of being alive at
  x + k, ``e(x) = x + 1/2 + sum_{k >= 1} k_p_x``. So dying within the first year gives
  x + 1/2, and the smallest life expectancy any table can give at age x is x + 1/2.
  The engine counts a year as lived when the adult is alive at its start; the expected
  number of such years is ``sum_{k >= 0} k_p_x = e(x) - x + 1/2``.
- A drawn **age at death** is the age in the year of death (age last birthday): an
  adult who dies at d is alive at the start of the years of age x, ..., d and not at
  d + 1. Its mean plus 1/2 is the life expectancy above.

The default law (Gompertz-Makeham): hazard ``mu(x) = A + B exp(c x)`` per year, so
``q_x = 1 - exp(-(A + B exp(c x) (exp(c) - 1) / c))`` (the hazard integrated over
[x, x + 1] in closed form) below omega, and 1 at omega. ``A`` and ``c`` are fixed:
- ``GOMPERTZ_C = 0.09`` per year: the rate at which adult mortality rises with age.
  Fits of the Gompertz law to adult (30-90) mortality of recent low-mortality
  populations typically give 0.08-0.11, death rates doubling every 6-9 years; 0.09
  (doubling in 7.7 years) is in the middle of that range;
- ``MAKEHAM_A = 0.0005`` per year: the age-independent background hazard (accidents
  and other causes that do not grow with age), typically of order 1e-4 to 1e-3 in the
  same fits and small beside the Gompertz term after about 45.
These are typical values, not any one country's or sex's table. ``B`` is then
calibrated per adult so that e(current age) equals the household's life expectancy;
e is strictly decreasing in B, so a bracketing root-finder finds it. At age 65 with a
life expectancy of 85 this gives B = 3.4e-5, q_65 = 0.0126, q_85 = 0.072, q_100 = 0.25,
the shape of a recent high-income-country period table. Only the survival from the
current age on matters, so B is found for that age (e depends on B only through the
Gompertz hazard at the current age, ``B exp(c x)``).

Drawing deaths: path i's adult j dies at the age where its survival curve falls below
one uniform U[j, i] (alive at x + k exactly when U < k_p_x), so P(alive at x + k) is
k_p_x. The uniforms follow the market's block layout (``market.BLOCK_PATHS``) but under
their own seed sequence, ``SeedSequence(seed, spawn_key=(MORTALITY_SPAWN_KEY, block))``:
never a stream the market's ``SeedSequence(seed, spawn_key=(block,))`` uses, so deaths
are independent of returns. Every block draws ``DRAWS_PER_PATH`` rows (one per possible
adult) whatever the household, so path i's first adult dies at the same age whether
alone or in a couple, in every strategy and whatever the batch split. The two adults'
uniforms are independent: independent survival.

A constant death probability lambda (``constant_hazard_table``) makes k_p_x =
(1 - lambda)^k: with no income after death and no bequest, the expected utility
``E[sum_t 1{alive at t} beta^t u(c_t)]`` is ``sum_t (beta (1 - lambda))^t u(c_t)``, the
problem without mortality and a time-preference factor multiplied by (1 - lambda).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from glidepath.errors import FieldViolation, InvalidArgument

# The last age anyone lives (q = 1 there): the plan's end when no table ends earlier.
from glidepath.household.model import MAX_LIFE_AGE as MAX_LIFE_AGE

from .market import BLOCK_PATHS

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: Makeham's age-independent hazard A, per year (typical of adult fits; see above).
MAKEHAM_A = 0.0005
#: Gompertz's rate of increase of the hazard with age c, per year (typical; see above).
GOMPERTZ_C = 0.09
#: Spawn key of the death streams ("MORT"): disjoint from the market's and the RL's.
MORTALITY_SPAWN_KEY = 0x4D4F5254
#: Uniforms drawn per path and block: one per adult a household may have.
DRAWS_PER_PATH = 2

# Bracket of ln B for the calibration. At ln B = -80 the Gompertz term is below 1e-29
# even at the maximum age (the law is Makeham's alone to the last bit); at ln B = 10 the
# first year's death probability is 1 to the last bit at any age >= 0.
_LN_B_BRACKET = (-80.0, 10.0)
_MAX_ITERATIONS = 200
_ROOT_TOLERANCE = 1e-12  # years
# Cells of [0, 1) in the lookup that inverts survival curves (a power of two).
_INVERSE_CELLS = 4096


@dataclass(frozen=True, eq=False)
class LifeTable:
    """One-year death probabilities ``q`` for the ages ``first_age .. max_age``.

    Validated on construction (see :func:`table_violations`); ``q`` is kept as a
    read-only float64 copy.
    """

    first_age: int
    q: FloatArray

    def __post_init__(self) -> None:
        violations = table_violations(self.first_age, self.q)
        if violations:
            raise InvalidArgument(violations)
        q = np.array(self.q, dtype=np.float64)
        q.setflags(write=False)
        object.__setattr__(self, "q", q)

    @property
    def max_age(self) -> int:
        """The last age anyone lives (where q is 1)."""
        return self.first_age + len(self.q) - 1

    def q_from(self, age: int, field: str = "current_age") -> FloatArray:
        """q at the ages ``age .. max_age``; ``age`` must lie in the table."""
        if not self.first_age <= age <= self.max_age:
            raise InvalidArgument.field(
                field,
                f"{age} is outside the mortality table's ages [{self.first_age}, {self.max_age}]",
            )
        return self.q[age - self.first_age :]


def table_violations(
    first_age: int, q: ArrayLike, field: str = "mortality_table"
) -> list[FieldViolation]:
    """Every reason ``q`` (ages ``first_age`` on) is not a table a plan can run on.

    A table must hold at least one age, start at an age >= 0, end at or before
    ``MAX_LIFE_AGE``, hold probabilities (0 <= q <= 1, finite), and end with q = 1 at its
    last age and nowhere before it (the ages after a 1 could never be reached, so they
    would change nothing).
    """
    out: list[FieldViolation] = []
    values = np.asarray(q, dtype=np.float64)
    if values.ndim != 1 or values.size == 0:
        return [FieldViolation(f"{field}.q", "must list at least one age's death probability")]
    if first_age < 0:
        out.append(FieldViolation(f"{field}.first_age", f"must be >= 0, got {first_age}"))
    last = first_age + values.size - 1
    if last > MAX_LIFE_AGE:
        out.append(
            FieldViolation(
                f"{field}.q",
                f"ends at age {last}, past the maximum age {MAX_LIFE_AGE}: end it at "
                f"{MAX_LIFE_AGE} with q = 1",
            )
        )
    bad = ~np.isfinite(values) | (values < 0.0) | (values > 1.0)
    for i in np.flatnonzero(bad).tolist():
        out.append(
            FieldViolation(
                f"{field}.q[{i}]", f"must be a probability in [0, 1], got {float(values[i])!r}"
            )
        )
    early = np.flatnonzero(values[:-1] == 1.0)
    if early.size:
        first_one = int(early[0])
        out.append(
            FieldViolation(
                f"{field}.q[{first_one}]",
                f"is 1 at age {first_age + first_one} before the table's last age {last}: "
                f"nobody reaches the ages after it; end the table at age {first_age + first_one}",
            )
        )
    if not bad[-1] and values[-1] != 1.0:
        out.append(
            FieldViolation(
                f"{field}.q[{values.size - 1}]",
                f"must be 1 at the table's last age {last} (everyone alive then dies "
                f"within that year), got {float(values[-1])!r}",
            )
        )
    return out


# -- survival and life expectancy of any table ---------------------------------------------


def survival_curve(table: LifeTable, age: int) -> FloatArray:
    """P(alive at exact age ``age + k`` | alive at ``age``) for k = 0 .. max_age - age + 1.

    The first entry is 1 and the last 0 (nobody is alive after the maximum age).
    """
    q = table.q_from(age)
    out = np.empty(q.size + 1)
    out[0] = 1.0
    np.cumprod(1.0 - q, out=out[1:])
    out[-1] = 0.0  # q = 1 at the last age: exact, whatever the rounding above
    return out


def expected_age_at_death(table: LifeTable, age: int) -> float:
    """The life expectancy at ``age``: expected age at death, deaths at mid-year."""
    return age + 0.5 + float(survival_curve(table, age)[1:].sum())


def expected_remaining_lifetime(table: LifeTable, age: int) -> float:
    """Expected years still to live at ``age`` (deaths at mid-year)."""
    return expected_age_at_death(table, age) - age


# -- the Gompertz-Makeham law ---------------------------------------------------------------


def makeham_q(
    ages: ArrayLike, b: ArrayLike, a: float = MAKEHAM_A, c: float = GOMPERTZ_C
) -> FloatArray:
    """Gompertz-Makeham one-year death probabilities (no maximum age), broadcast.

    ``q_x = 1 - exp(-(a + b exp(c x) (exp(c) - 1) / c))``; ``-expm1`` keeps the small
    probabilities of young ages exact.
    """
    x = np.asarray(ages, dtype=np.float64)
    integral = a + np.asarray(b, dtype=np.float64) * np.exp(c * x) * (math.expm1(c) / c)
    return np.asarray(-np.expm1(-integral), dtype=np.float64)


def makeham_table(b: float, first_age: int, max_age: int = MAX_LIFE_AGE) -> LifeTable:
    """The law with Gompertz level ``b`` for ages ``first_age .. max_age`` (q = 1 last).

    Where a very large ``b`` rounds q to 1 before ``max_age``, the table ends there: the
    later ages could not be reached.
    """
    q = makeham_q(np.arange(first_age, max_age + 1), b)
    q[-1] = 1.0
    end = int(np.argmax(q == 1.0))
    return LifeTable(first_age, q[: end + 1])


def _makeham_life_expectancy(
    ages: IntArray, ln_b: FloatArray, max_age: int
) -> tuple[FloatArray, FloatArray]:
    """(e, de/d ln B) of the law for each (age, ln B) pair, in closed form.

    k_p_x = exp(-A k - B exp(c x) (exp(c k) - 1) / c) for k = 1 .. max_age - x (the
    hazard integrated over [x, x + k]); beyond max_age it is 0.
    """
    k = np.arange(1, max_age - int(ages.min()) + 1, dtype=np.float64)[None, :]
    inside = k <= (max_age - ages)[:, None]
    gompertz = np.exp(ln_b + GOMPERTZ_C * ages)[:, None] * (np.expm1(GOMPERTZ_C * k) / GOMPERTZ_C)
    survival = np.where(inside, np.exp(-MAKEHAM_A * k - gompertz), 0.0)
    e = ages + 0.5 + survival.sum(axis=1)
    slope = -(survival * gompertz).sum(axis=1)
    return e, slope


def _checked_targets(
    ages: IntArray, targets: FloatArray, max_age: int, field: str
) -> list[FieldViolation]:
    out: list[FieldViolation] = []
    ceiling, _ = _makeham_life_expectancy(
        ages, np.full(ages.shape, -math.inf), max_age
    )  # B = 0: Makeham's hazard alone, the longest lives the law allows
    for i, (x, e, top) in enumerate(
        zip(ages.tolist(), targets.tolist(), ceiling.tolist(), strict=True)
    ):
        name = field if ages.size == 1 else f"{field}[{i}]"
        if not 0 <= x <= max_age:
            out.append(FieldViolation(name, f"current_age {x} is outside the ages [0, {max_age}]"))
        elif not math.isfinite(e) or e <= x + 0.5:
            out.append(
                FieldViolation(
                    name,
                    f"must be more than current_age + 1/2 ({x + 0.5}) (the life expectancy "
                    f"of someone who dies within the year), got {e!r}",
                )
            )
        elif e >= top:
            out.append(
                FieldViolation(
                    name,
                    f"{e!r} at age {x} is beyond what lives ending by the maximum age "
                    f"{max_age} can average (below {top:.3f} under the default law)",
                )
            )
    return out


def calibrate_makeham_b(
    current_ages: ArrayLike,
    life_expectancies: ArrayLike,
    max_age: int = MAX_LIFE_AGE,
    field: str = "life_expectancy",
) -> FloatArray:
    """B for each (age, life expectancy) pair: e(age) under the law equals the target.

    A vectorised safeguarded Newton iteration on ln B inside a bracket that always holds
    the root (e is continuous and strictly decreasing in B, from the Makeham-only
    ceiling at B = 0 down to age + 1/2): a Newton step that would leave the bracket is
    replaced by bisection, so it converges for every reachable target, to 1e-12 years.
    Raises ``InvalidArgument`` (naming ``field``) for a target at or below age + 1/2 or
    at or above the ceiling (lives cannot average that long before ``max_age``).
    """
    if not 0 <= max_age <= MAX_LIFE_AGE:
        raise ValueError(f"max_age must be in [0, {MAX_LIFE_AGE}], got {max_age}")
    shape = np.broadcast_shapes(np.shape(current_ages), np.shape(life_expectancies))
    ages = np.broadcast_to(np.asarray(current_ages, dtype=np.int64), shape).ravel()
    targets = np.broadcast_to(np.asarray(life_expectancies, dtype=np.float64), shape).ravel()
    violations = _checked_targets(ages, targets, max_age, field)
    if violations:
        raise InvalidArgument(violations)
    lo = np.full(ages.shape, _LN_B_BRACKET[0])  # e(lo) > target
    hi = np.full(ages.shape, _LN_B_BRACKET[1])  # e(hi) < target
    ln_b = (lo + hi) / 2.0
    for _ in range(_MAX_ITERATIONS):
        e, slope = _makeham_life_expectancy(ages, ln_b, max_age)
        gap = e - targets
        if np.all(np.abs(gap) <= _ROOT_TOLERANCE):
            break
        lo = np.where(gap > 0.0, ln_b, lo)
        hi = np.where(gap > 0.0, hi, ln_b)
        with np.errstate(divide="ignore", invalid="ignore"):
            newton = ln_b - gap / slope
        inside = np.isfinite(newton) & (newton > lo) & (newton < hi)
        step = np.where(inside, newton, (lo + hi) / 2.0)
        ln_b = np.where(np.abs(gap) <= _ROOT_TOLERANCE, ln_b, step)
        if np.all(hi - lo <= 4.0 * np.spacing(np.abs(hi) + np.abs(lo))):
            break
    return np.asarray(np.exp(ln_b), dtype=np.float64).reshape(shape)


def table_for_life_expectancy(
    current_age: int,
    life_expectancy: float,
    max_age: int = MAX_LIFE_AGE,
    field: str = "life_expectancy",
) -> LifeTable:
    """The default law calibrated to ``life_expectancy`` at ``current_age``, from that age."""
    b = float(calibrate_makeham_b(current_age, life_expectancy, max_age, field))
    return makeham_table(b, current_age, max_age)


def constant_hazard_table(death_probability: float, first_age: int, max_age: int) -> LifeTable:
    """q = ``death_probability`` (lambda) at every age below ``max_age``, 1 at ``max_age``.

    With no income after death and no bequest this is the problem without mortality over
    the years ``first_age .. max_age`` with the time-preference factor multiplied by
    (1 - lambda): k_p_x = (1 - lambda)^k for every year of the plan, and the certain
    death at ``max_age`` comes after the last year's consumption. ``lambda`` is the
    one-year probability; the continuous hazard is -ln(1 - lambda).
    """
    if not 0.0 <= death_probability < 1.0:
        raise InvalidArgument.field(
            "death_probability", f"must be in [0, 1), got {death_probability!r}"
        )
    q = np.full(max_age - first_age + 1, float(death_probability))
    q[-1] = 1.0
    return LifeTable(first_age, q)


# -- drawing deaths -------------------------------------------------------------------------


def death_uniforms(seed: int, start: int, n_paths: int) -> FloatArray:
    """The uniforms of paths [start, start + n_paths): shape (DRAWS_PER_PATH, n_paths).

    Row j is adult j's. Block b of ``BLOCK_PATHS`` paths draws its (DRAWS_PER_PATH,
    BLOCK_PATHS) uniforms from ``SeedSequence(seed, spawn_key=(MORTALITY_SPAWN_KEY, b))``
    (SFC64), so each path's uniforms depend on (seed, path) alone.
    """
    if start < 0 or n_paths <= 0:
        raise ValueError("need start >= 0 and n_paths > 0")
    first = start // BLOCK_PATHS
    last = (start + n_paths - 1) // BLOCK_PATHS
    blocks = np.empty((last - first + 1, DRAWS_PER_PATH, BLOCK_PATHS))
    for i, block in enumerate(range(first, last + 1)):
        sequence = np.random.SeedSequence(seed, spawn_key=(MORTALITY_SPAWN_KEY, block))
        np.random.Generator(np.random.SFC64(sequence)).random(out=blocks[i])
    offset = start - first * BLOCK_PATHS
    u = blocks.transpose(1, 0, 2).reshape(DRAWS_PER_PATH, -1)
    return u[:, offset : offset + n_paths]


def death_ages(table: LifeTable, age: int, u: FloatArray) -> IntArray:
    """The age in the year of death for each uniform ``u`` in [0, 1) (inverse survival).

    Alive at age + k exactly when u < k_p_x, so the number of later birthdays reached
    is the count of k >= 1 with k_p_x > u: :func:`birthdays_reached`.
    """
    reached = birthdays_reached(survival_curve(table, age)[1:], np.asarray(u, dtype=np.float64))
    return np.asarray(age + reached, dtype=np.int64)


def birthdays_reached(survival: FloatArray, u: FloatArray) -> IntArray:
    """#{k : survival[k] > u} for each u in [0, 1), ``survival`` non-increasing.

    Exact, and about four times faster than a binary search per draw (random queries
    mispredict every branch of one): [0, 1) is cut into ``_INVERSE_CELLS`` equal cells
    and the count is looked up at each cell's two ends; it is non-increasing in u, so
    where the ends agree (all but about len(survival) / _INVERSE_CELLS of the draws) the
    lookup is the answer, and only the rest are searched.
    """
    falling = -survival  # ascending
    edges = np.arange(_INVERSE_CELLS + 1) / _INVERSE_CELLS
    at_low = np.searchsorted(falling, -edges[:-1], side="left")  # #{S > i / M}
    at_high = np.searchsorted(falling, -edges[1:], side="right")  # #{S >= (i + 1) / M}
    # u M is exact (M a power of two), so the cell is floor(u M), below M for u < 1.
    cell = (u * _INVERSE_CELLS).astype(np.intp)
    reached = at_low[cell]
    unsure = np.flatnonzero(at_high[cell] != reached)
    reached[unsure] = np.searchsorted(falling, -u[unsure], side="left")
    return np.asarray(reached, dtype=np.int64)


def draw_death_ages(
    adults: Sequence[tuple[LifeTable, int]], seed: int, start: int, n_paths: int
) -> IntArray:
    """Each path's age at death for each (table, current age): shape (adults, n_paths).

    Deterministic in (seed, path index): the same for every strategy and batch split,
    independent of the market's draws and, between the two adults, of each other.
    """
    if not 1 <= len(adults) <= DRAWS_PER_PATH:
        raise ValueError(f"need 1 to {DRAWS_PER_PATH} adults, got {len(adults)}")
    u = death_uniforms(seed, start, n_paths)
    out = np.empty((len(adults), n_paths), dtype=np.int64)
    for j, (table, age) in enumerate(adults):
        out[j] = death_ages(table, age, u[j])
    return out
