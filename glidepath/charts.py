"""What a chart of an answer shows, as plain data that any renderer can draw.

The CLI draws these with matplotlib (``glidepath.cli.plot``), the web page with Plotly;
neither decides what is shown, how it is labelled or where an axis stops: that is
written once, here. A :class:`Chart` is a title, the x axis (ages, and whose), each
adult's retirement, and :class:`Panel` s stacked under one another, each one quantity in one
unit: a fan of percentiles by age (:class:`Profile`), lines (:class:`Series`) and
horizontal levels (:class:`Level`, a goal or a target), each with the label a legend
shows, in words a person reads.

What is drawn, and why:
- Wealth by age, in today's money: the spread across the simulated lives (the outer
  percentiles lightly, 25th-75th darker, the median as a line), with the capital goal.
  The axis stops at ``WEALTH_AXIS_HEADROOM`` times the highest 75th percentile (never
  above the outer band's top), so that the few lucky lives of the 95th percentile
  cannot squash the median into the bottom of the picture; the outer band is then
  labelled as cut off.
- Spending by age: for one simulated strategy, the consumption fan with the spending
  target from retirement; for a recommendation, the median yearly spending and the
  median saved (+) or withdrawn (-), with the target.
- For a recommendation, the stock share by age.
The ages are the first adult's (every profile counts the plan's years on that clock), and
the x axis says so, with the adult's name when the file gives one. Strategies are named
in words (``glidepath.advice.strategies``), never by their identifiers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from enum import Enum
from typing import Any

from glidepath.advice.strategies import name as strategy_name
from glidepath.cli.render import FEW_LIVES
from glidepath.household.model import Household
from glidepath.simulation.v1 import simulation_pb2 as sim

# The wealth axis stops at this many times the highest 75th percentile.
WEALTH_AXIS_HEADROOM = 1.5


class Unit(Enum):
    """What a panel's values are: money (today's, a year or a stock) or a share (0-1)."""

    MONEY = "money"
    SHARE = "share"


@dataclass(frozen=True)
class Profile:
    """A quantity's percentiles by age: ``bands`` maps percentile points to values."""

    ages: Sequence[int]
    bands: Mapping[float, Sequence[float]]

    @classmethod
    def from_proto(cls, profile: sim.AgeProfile, end_column: bool = False) -> Profile:
        """The bands by age; under mortality only the ages at which at least FEW_LIVES of
        the lives still run (a band over a handful of lives says little), and never the
        wealth profile's ``end_column``, which holds every life's bequest, whatever the
        age of death, not wealth at an age."""
        bands = {b.percentile: list(b.values) for b in profile.bands}
        counts = list(profile.paths_by_age)
        if not counts:
            return cls(list(profile.ages), bands)
        last = len(counts) - 1 if end_column else len(counts)
        keep = [k for k, n in enumerate(counts[:last]) if n >= FEW_LIVES * counts[0]]
        return cls(
            [profile.ages[k] for k in keep],
            {p: [values[k] for k in keep] for p, values in bands.items()},
        )

    def band(self, low: float, high: float) -> tuple[Sequence[float], Sequence[float]] | None:
        if low in self.bands and high in self.bands:
            return self.bands[low], self.bands[high]
        return None

    @property
    def outer(self) -> tuple[float, float]:
        return min(self.bands), max(self.bands)

    @property
    def median(self) -> Sequence[float] | None:
        return self.bands.get(50.0)


@dataclass(frozen=True)
class Fan:
    """A profile drawn as bands, named for the legend ("wealth": "median wealth")."""

    profile: Profile
    quantity: str
    # True when the panel's axis stops below the outer band's top (the band is cut off).
    clipped: bool = False

    def labels(self) -> dict[str, str]:
        """The legend's words for the outer band, the inner band and the median."""
        low, high = self.profile.outer
        outer = f"{low:g}th-{high:g}th percentile"
        return {
            "outer": outer + (" (cut off at the top)" if self.clipped else ""),
            "inner": "25th-75th percentile",
            "median": f"median {self.quantity}",
        }


@dataclass(frozen=True)
class Series:
    """One line against age. ``step``: the value holds for the whole year (a decision)."""

    label: str
    ages: Sequence[int]
    values: Sequence[float]
    step: bool = False
    # Drawn as bars (a flow that changes sign: saved + / withdrawn -) instead of a line.
    bars: bool = False


@dataclass(frozen=True)
class Level:
    """A horizontal reference (a goal, a target), from ``from_age`` on when given."""

    label: str
    value: float
    from_age: int | None = None


@dataclass(frozen=True)
class Panel:
    """One quantity in one unit, on its own axis."""

    axis_label: str
    unit: Unit
    fan: Fan | None = None
    series: tuple[Series, ...] = ()
    levels: tuple[Level, ...] = ()
    # Where the value axis stops (None: the renderer's own fit); it starts at 0 for money
    # that cannot go negative, and spans [0, 1] for a share.
    top: float | None = None
    bottom: float | None = 0.0

    @property
    def ages(self) -> list[int]:
        """Every age the panel draws a value at."""
        ages = list(self.fan.profile.ages) if self.fan is not None else []
        for series in self.series:
            ages.extend(series.ages)
        return ages


@dataclass(frozen=True)
class Retirement:
    """An adult's retirement, at its age on the x axis's clock (the first adult's)."""

    label: str
    age: int


@dataclass(frozen=True)
class Chart:
    """Everything drawn: a title, the age axis, the retirements, the panels."""

    title: str
    x_label: str
    retirements: tuple[Retirement, ...]
    panels: tuple[Panel, ...]

    @property
    def ages(self) -> tuple[int, int]:
        """The age axis's span: every panel's ages."""
        ages = [a for panel in self.panels for a in panel.ages]
        return min(ages), max(ages)


def chart_document(chart: Chart) -> dict[str, Any]:
    """``chart`` as plain JSON types (for an API or a browser): dataclasses as objects,
    the unit by its name, a profile's percentiles as ``"5"``, ``"50"``, ... keys."""

    def plain(value: object) -> Any:
        if isinstance(value, Enum):
            return value.value
        if isinstance(value, Mapping):
            return {
                f"{key:g}" if isinstance(key, float) else str(key): plain(v)
                for key, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [plain(v) for v in value]
        return value

    document: dict[str, Any] = plain(asdict(chart))
    return document


def age_axis_label(household: Household) -> str:
    """Whose age the x axis counts: the first adult's, by name when the file gives one."""
    adult = household.adults[0]
    who = adult.name.strip() or "the first adult"
    if len(household.adults) == 1:
        return f"Age of {who}" if adult.name.strip() else "Age"
    return f"Age of {who} (the first adult)" if adult.name.strip() else "Age of the first adult"


def retirements(household: Household) -> tuple[Retirement, ...]:
    """Each adult's retirement on the first adult's clock: "Kim retires at 60 (Sam 63)"."""
    first = household.adults[0]
    marks = []
    for number, adult in enumerate(household.adults):
        who = adult.name.strip() or ("the first adult" if number == 0 else "the second adult")
        age = first.current_age + adult.retirement_age - adult.current_age
        label = f"{who} retires at {adult.retirement_age}"
        if number > 0:
            label += f" ({first.name.strip() or 'the first adult'} {age})"
        elif not adult.name.strip():
            label = f"retirement at {adult.retirement_age}"
        marks.append(Retirement(label[:1].upper() + label[1:], age))
    return tuple(marks)


def wealth_panel(profile: Profile, household: Household) -> Panel:
    """Wealth by age with the capital goal, its axis kept clear of the outer band's top."""
    top = wealth_axis_top(profile)
    levels: tuple[Level, ...] = ()
    goal = household.goals.capital_goal
    if goal > 0:
        levels = (Level(f"capital goal (the bequest aimed at): {goal:,.0f}", goal),)
        top = None if top is None else max(top, WEALTH_AXIS_HEADROOM * goal)
    outer_top = max(profile.bands[profile.outer[1]], default=0.0) if profile.bands else 0.0
    clipped = top is not None and top < outer_top
    return Panel(
        axis_label="Wealth (today's money)",
        unit=Unit.MONEY,
        fan=Fan(profile, "wealth", clipped=clipped),
        levels=levels,
        top=top if clipped else None,
    )


def wealth_axis_top(profile: Profile) -> float | None:
    """WEALTH_AXIS_HEADROOM x the highest 75th percentile; None without one."""
    upper = profile.bands.get(75.0)
    if not upper:
        return None
    return WEALTH_AXIS_HEADROOM * max(upper)


def strategy_chart(result: sim.StrategyResult, household: Household) -> Chart:
    """One simulated strategy: wealth, and consumption with the spending target."""
    wealth = Profile.from_proto(result.wealth, end_column=True)
    panels = [wealth_panel(wealth, household)]
    if result.consumption.ages:
        target = household.goals.retirement_spending
        levels = (
            (
                Level(
                    f"spending target in retirement: {target:,.0f} a year",
                    target,
                    from_age=household.adults[0].retirement_age,
                ),
            )
            if target > 0
            else ()
        )
        panels.append(
            Panel(
                axis_label="Spending a year (today's money)",
                unit=Unit.MONEY,
                fan=Fan(Profile.from_proto(result.consumption), "spending"),
                levels=levels,
            )
        )
    return Chart(
        title=(
            f"Wealth and spending by age: {strategy_name(result.strategy)}, "
            f"{result.paths:,} simulated lives"
        ),
        x_label=age_axis_label(household),
        retirements=retirements(household),
        panels=tuple(panels),
    )


def recommended_chart(result: sim.OptimizeResult, household: Household) -> Chart | None:
    """The recommended strategy: wealth, spending and saving, stock share; None when the
    answer holds no simulation of it."""
    recommended = result.recommended
    simulated = next(
        (r for r in result.comparison.results if r.strategy == recommended.strategy), None
    )
    if simulated is None:
        return None
    years = [y for y in recommended.years if y.lives_running >= FEW_LIVES]
    ages = [y.age for y in years]
    target = household.goals.retirement_spending
    spending = Panel(
        axis_label="A year (today's money, medians)",
        unit=Unit.MONEY,
        series=(
            Series("saved (+) or withdrawn (-)", ages, [_flow(y) for y in years], bars=True),
            Series("spending", ages, [y.consumption for y in years]),
        ),
        levels=(
            (
                Level(
                    f"spending target in retirement: {target:,.0f} a year",
                    target,
                    from_age=household.adults[0].retirement_age,
                ),
            )
            if target > 0
            else ()
        ),
        bottom=None,
    )
    allocation = Panel(
        axis_label="Stocks (share of the portfolio)",
        unit=Unit.SHARE,
        series=(Series("stock share (median)", ages, [y.stock_share for y in years], step=True),),
        top=1.0,
    )
    wealth = Profile.from_proto(simulated.wealth, end_column=True)
    name = strategy_name(recommended.strategy)
    return Chart(
        title=f"Recommended: {name}, {simulated.paths:,} simulated lives",
        x_label=age_axis_label(household),
        retirements=retirements(household),
        panels=(wealth_panel(wealth, household), spending, allocation),
    )


def _flow(year: sim.YearDecision) -> float:
    """What the year adds to wealth: the saving while working, minus the withdrawal after."""
    return -year.withdrawal if year.retired else year.savings
