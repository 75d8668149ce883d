"""The charts: plain data that says what is drawn, and the CLI's pictures of it.

The data (``glidepath.charts``) is shared with the web page, so it carries every word
shown: whose age the x axis counts, strategies named in words, what each band and line
is. A comparison's chart shows the strategy it recommends, not the dynamic-programming
optimum it measures the others by; a recommendation's chart shows spending and saving by
age; the wealth axis is not set by the 95th percentile. The pictures are checked as
readable PNGs of the expected size (never pixel by pixel).
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import matplotlib.image
import pytest
from cli_support import EXAMPLE, ROOT

from glidepath.advice.convert import recommended_result
from glidepath.charts import (
    WEALTH_AXIS_HEADROOM,
    Chart,
    Profile,
    age_axis_label,
    chart_document,
    recommended_chart,
    retirements,
    strategy_chart,
    wealth_panel,
)
from glidepath.cli.plot import write_chart
from glidepath.household.convert import household_from_json
from glidepath.household.model import Household
from glidepath.simulation.v1 import simulation_pb2 as sim

AGES = list(range(40, 91))
PERCENTILES = (5.0, 25.0, 50.0, 75.0, 95.0)


def _household() -> Household:
    return household_from_json(EXAMPLE.read_text())


def _profile(spread_of_the_lucky: float) -> sim.AgeProfile:
    """Wealth rising to 65 then falling; the 95th percentile ``spread_of_the_lucky`` times
    the 75th. The last column is the bequest (the end column)."""
    median = [100_000 + 20_000 * (a - 40) if a <= 65 else 600_000 - 9_000 * (a - 65) for a in AGES]
    scale = {5.0: 0.5, 25.0: 0.8, 50.0: 1.0, 75.0: 1.25, 95.0: 1.25 * spread_of_the_lucky}
    profile = sim.AgeProfile(ages=[*AGES, AGES[-1]], paths_by_age=[1000] * (len(AGES) + 1))
    for p in PERCENTILES:
        profile.bands.add(percentile=p, values=[m * scale[p] for m in [*median, median[-1]]])
    return profile


def _result(strategy: str, ce: float, spread_of_the_lucky: float = 1.6) -> sim.StrategyResult:
    result = sim.StrategyResult(strategy=strategy, paths=1000)
    result.certainty_equivalent.value = ce
    result.wealth.CopyFrom(_profile(spread_of_the_lucky))
    result.consumption.CopyFrom(_profile(1.2))
    return result


def _optimize_result(strategy: str) -> sim.OptimizeResult:
    result = sim.OptimizeResult()
    result.recommended.strategy = strategy
    for age in AGES:
        retired = age >= 65
        result.recommended.years.add(
            age=age,
            retired=retired,
            stock_share=0.9 - 0.01 * (age - 40),
            savings=0.0 if retired else 9_000.0,
            withdrawal=30_000.0 if retired else 0.0,
            consumption=40_000.0,
            lives_running=1.0,
        )
    result.comparison.results.append(_result(strategy, 40_000.0))
    return result


def test_the_age_axis_says_whose_age_it_counts() -> None:
    household = _household()
    assert age_axis_label(household) == "Age of Alex"
    anonymous = replace(household, adults=(replace(household.adults[0], name=""),))
    assert age_axis_label(anonymous) == "Age"
    partner = replace(household.adults[0], name="Sam", current_age=38)
    couple = replace(household, adults=(household.adults[0], partner))
    assert age_axis_label(couple) == "Age of Alex (the first adult)"
    # Sam, two years younger, retires at 65 when Alex is 67: both on Alex's clock.
    partner_retires = [(r.label, r.age) for r in retirements(couple)]
    assert partner_retires == [("Alex retires at 65", 65), ("Sam retires at 65 (Alex 67)", 67)]


def test_the_wealth_axis_is_set_by_the_middle_lives_not_the_luckiest() -> None:
    household = _household()
    lucky = Profile.from_proto(_profile(spread_of_the_lucky=8.0), end_column=True)
    panel = wealth_panel(lucky, household)
    assert panel.top == pytest.approx(WEALTH_AXIS_HEADROOM * max(lucky.bands[75.0]))
    assert panel.top is not None and panel.top < max(lucky.bands[95.0])
    assert panel.fan is not None and "cut off" in panel.fan.labels()["outer"]
    # A narrow spread is drawn whole, and said to be.
    narrow = wealth_panel(Profile.from_proto(_profile(1.1), end_column=True), household)
    assert narrow.top is None
    assert narrow.fan is not None and "cut off" not in narrow.fan.labels()["outer"]


def test_a_comparison_plots_the_strategy_it_recommends_not_the_optimum() -> None:
    results = [_result("own_plan", 30_000), _result("merton", 45_000), _result("optimum", 46_000)]
    assert recommended_result(results).strategy == "merton"
    # With nothing else compared, the optimum is what there is to draw.
    assert recommended_result([_result("optimum", 46_000)]).strategy == "optimum"


def test_titles_and_labels_name_strategies_in_words() -> None:
    chart = strategy_chart(_result("four_percent_rule", 40_000), _household())
    assert "the 4 % rule" in chart.title and "four_percent_rule" not in chart.title
    assert chart.x_label == "Age of Alex"
    assert [(r.label, r.age) for r in chart.retirements] == [("Alex retires at 65", 65)]
    wealth, spending = chart.panels
    assert wealth.levels[0].value == 200_000 and "capital goal" in wealth.levels[0].label
    assert spending.fan is not None and spending.levels[0].from_age == 65
    recommended = recommended_chart(_optimize_result("optimum"), _household())
    assert recommended is not None and "the exact optimum" in recommended.title


def test_a_recommendation_draws_spending_and_saving_by_age() -> None:
    chart = recommended_chart(_optimize_result("merton"), _household())
    assert chart is not None
    _, money, shares = chart.panels
    flows = {s.label: s for s in money.series}
    saved = flows["saved (+) or withdrawn (-)"]
    assert saved.bars and saved.values[0] == 9_000.0 and saved.values[-1] == -30_000.0
    assert set(flows["spending"].values) == {40_000.0}
    assert money.bottom is None  # withdrawals go below zero
    assert shares.top == 1.0 and shares.series[0].values[0] == pytest.approx(0.9)


def test_a_recommendation_without_its_simulation_has_no_chart() -> None:
    result = _optimize_result("merton")
    result.comparison.ClearField("results")
    assert recommended_chart(result, _household()) is None


@pytest.mark.parametrize("kind", ["strategy", "recommended"])
def test_the_chart_is_a_readable_png(tmp_path: Path, kind: str) -> None:
    household = _household()
    chart: Chart | None = (
        strategy_chart(_result("merton", 45_000, spread_of_the_lucky=8.0), household)
        if kind == "strategy"
        else recommended_chart(_optimize_result("merton"), household)
    )
    assert chart is not None
    path = tmp_path / "chart.png"
    write_chart(chart, path)
    height, width = matplotlib.image.imread(path).shape[:2]
    assert width >= 800
    assert height > 1200 if kind == "recommended" else 800 <= height <= 1200


def test_the_chart_data_needs_no_renderer() -> None:
    probe = "import sys, glidepath.charts; print('matplotlib' in sys.modules)"
    shown = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert shown.stdout.strip() == "False"


def test_the_chart_data_travels_as_plain_json() -> None:
    chart = recommended_chart(_optimize_result("merton"), _household())
    assert chart is not None
    document = json.loads(json.dumps(chart_document(chart)))
    assert document["title"] == chart.title and document["x_label"] == "Age of Alex"
    wealth, money, shares = document["panels"]
    assert wealth["unit"] == "money" and shares["unit"] == "share"
    assert set(wealth["fan"]["profile"]["bands"]) == {"5", "25", "50", "75", "95"}
    assert [s["label"] for s in money["series"]] == ["saved (+) or withdrawn (-)", "spending"]
