"""The web front end over fake peers (FastAPI's TestClient): the form, runs, results and
the model pages, each asserting what a person would see or what reaches the services.

The real stack, in a real browser, is ``test_web_browser.py``; here the peers are a fake
at the one seam the service has (``web_service.clients.Peers``), so each behaviour is
checked in milliseconds.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from web_support import form_fields, sse

from glidepath.charts import Unit
from glidepath.cli.inputs import load_household
from glidepath.common.v1 import model_pb2
from glidepath.config import ConfigError
from glidepath.registry.v1 import registry_pb2
from glidepath.simulation.v1 import simulation_pb2 as sim
from glidepath.training.v1 import training_pb2
from web_service import household_form as hf
from web_service.app import build_app
from web_service.charts import FIGURE_IDS, figures, result_chart
from web_service.clients import PeerError, TrainingSpeed, compare_result, speed_of
from web_service.config import WebServiceSettings
from web_service.form_schema import GROUPS
from web_service.runs import RunStore

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
MODEL = model_pb2.ModelMetadata(
    ref=model_pb2.ModelRef(model_hash="0123456789abcdef", episodes=600),
    file_name="rl_model_0123456789abcdef_600ep.zip",
    label="Example",
    owner="alice",
)


def _profile(ages: list[int], scale: float) -> sim.AgeProfile:
    profile = sim.AgeProfile(ages=ages)
    for p in (5.0, 25.0, 50.0, 75.0, 95.0):
        profile.bands.add(percentile=p, values=[scale * p * (1 + i) for i in range(len(ages))])
    return profile


def fake_result(strategy: str = "merton") -> sim.OptimizeResult:
    ages = list(range(40, 46))
    result = sim.OptimizeResult(
        household_hash="0123456789abcdef", source=sim.MODEL_SOURCE_TRAINED_NOW
    )
    result.model.CopyFrom(MODEL)
    result.gate.CopyFrom(
        sim.GateVerdict(
            passed=False,
            best_baseline=strategy,
            improvement=sim.Estimate(value=-12.0, standard_error=5.0),
            standard_errors_required=2,
            lives=500,
        )
    )
    result.recommended.strategy = strategy
    result.recommended.reason = "The Merton rule wins: 40,000 a year."
    result.recommended.paths = 500
    for age in ages:
        result.recommended.years.add(
            age=age, stock_share=0.5, savings=1200, consumption=30000, lives_running=1.0
        )
    for name, ce in (("rl_policy", 39_988.0), ("own_plan", 35_000.0), (strategy, 40_000.0)):
        r = result.comparison.results.add(strategy=name, paths=500)
        r.certainty_equivalent.CopyFrom(sim.Estimate(value=ce, standard_error=100.0))
        r.success_probability.CopyFrom(sim.Estimate(value=0.8, standard_error=0.01))
        r.ruin_probability.CopyFrom(sim.Estimate(value=0.1, standard_error=0.01))
        r.wealth.CopyFrom(_profile(ages, 1000.0 if name != "own_plan" else 500.0))
        r.consumption.CopyFrom(_profile(ages, 100.0))
    result.comparison.run.paths = 500
    result.total_seconds = 3.5
    return result


def visible(page: str) -> str:
    """The page's text as a person reads it: no tags, no scripts (the charts' data)."""
    body = re.sub(r"<script.*?</script>", "", page, flags=re.S)
    return "\n".join(
        line.strip()
        for line in html.unescape(re.sub(r"<[^>]+>", "\n", body)).splitlines()
        if line.strip()
    ).join("\n\n")


def stream(result: sim.OptimizeResult) -> list[sim.OptimizeResponse]:
    training = sim.TrainingProgress(
        state=training_pb2.TRAINING_STATE_RUNNING, episodes_done=300, episodes_total=600
    )
    return [
        sim.OptimizeResponse(
            event=sim.OptimizeEvent(stage=sim.OPTIMIZE_STAGE_HASHED, message="hashed")
        ),
        sim.OptimizeResponse(
            event=sim.OptimizeEvent(stage=sim.OPTIMIZE_STAGE_TRAINING_PROGRESS, training=training)
        ),
        sim.OptimizeResponse(result=result),
    ]


class FakeCall:
    """An Optimize stream: its messages, or (``hold``) a wait until it is cancelled."""

    def __init__(self, messages: list[sim.OptimizeResponse], hold: bool = False) -> None:
        self.messages = messages
        self.hold = hold
        self.cancelled = threading.Event()

    def __iter__(self) -> Iterator[sim.OptimizeResponse]:
        yield from self.messages
        if self.hold:
            self.cancelled.wait(10)

    def cancel(self) -> bool:
        self.cancelled.set()
        return True


class FakePeers:
    """The seam ``web_service.clients.Peers``, recording what the pages sent."""

    def __init__(self) -> None:
        self.requests: list[tuple[sim.OptimizeRequest, str | None]] = []
        self.compares: list[tuple[sim.CompareRequest, str | None]] = []
        self.queries: list[registry_pb2.ListModelsRequest] = []
        self.deleted: list[tuple[model_pb2.ModelRef, str | None]] = []
        self.cleanups: list[tuple[int, bool, str | None]] = []
        self.models = [MODEL]
        self.hold = False
        self.calls: list[FakeCall] = []
        self.refuse_delete: PeerError | None = None

    def close(self) -> None:
        pass

    def optimize(self, request: sim.OptimizeRequest, token: str | None) -> FakeCall:
        self.requests.append((request, token))
        call = FakeCall(
            stream(fake_result())[:2] if self.hold else stream(fake_result()), self.hold
        )
        self.calls.append(call)
        return call

    def compare(self, request: sim.CompareRequest, token: str | None) -> FakeCall:
        self.compares.append((request, token))
        answer = compare_result(fake_result().comparison)
        return FakeCall([sim.OptimizeResponse(result=answer)])

    def describe_simulation(self, error: Any) -> PeerError:
        return PeerError(str(error), 502)

    def training_speed(self) -> TrainingSpeed | None:
        return TrainingSpeed(0.05, 3)

    def list_models(
        self, query: registry_pb2.ListModelsRequest, token: str | None = None
    ) -> list[model_pb2.ModelMetadata]:
        self.queries.append(query)
        return [m for m in self.models if not query.owner or m.owner == query.owner]

    def get_model(
        self, ref: model_pb2.ModelRef, token: str | None = None
    ) -> model_pb2.ModelMetadata:
        for model in self.models:
            if model.ref == ref:
                return model
        raise PeerError("the registry: no such model (NOT_FOUND)", 404)

    def delete_model(self, ref: model_pb2.ModelRef, token: str | None) -> model_pb2.ModelMetadata:
        if self.refuse_delete is not None:
            raise self.refuse_delete
        self.deleted.append((ref, token))
        model = self.get_model(ref)
        self.models.remove(model)
        return model

    def cleanup(
        self, days: int, *, dry_run: bool, planned: int = 0, token: str | None = None
    ) -> registry_pb2.CleanupModelsResponse:
        self.cleanups.append((days, dry_run, token))
        refs = [m.ref for m in self.models]
        return registry_pb2.CleanupModelsResponse(
            models=refs, deleted_count=0 if dry_run else len(refs)
        )


@pytest.fixture
def peers() -> FakePeers:
    return FakePeers()


@pytest.fixture
def client(peers: FakePeers) -> Iterator[TestClient]:
    app = build_app(WebServiceSettings(max_active_runs=1, max_held_runs=4), peers)  # type: ignore[arg-type]
    with TestClient(app) as test_client:
        yield test_client


class Inputs(HTMLParser):
    """The form controls of a page, their ids, names and values, and the labels' targets."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[dict[str, str | None]] = []
        self.labelled: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "label" and found.get("for"):
            self.labelled.add(str(found["for"]))
        if tag in ("input", "select", "textarea") and found.get("type") not in ("hidden", "submit"):
            self.controls.append({"tag": tag, **found})


def controls(html: str) -> Inputs:
    parser = Inputs()
    parser.feed(html)
    return parser


# ------------------------------------------------------------------ the form


def test_the_form_has_an_input_for_every_field_of_the_format_each_one_labelled(
    client: TestClient,
) -> None:
    page = client.get("/?example=couple")
    assert page.status_code == 200
    found = controls(page.text)
    names = {c.get("name") for c in found.controls}
    couple = json.loads((EXAMPLES / "couple.json").read_text())
    for group in GROUPS:
        rows = range(hf.row_count(couple, group)) if group.repeated else [None]
        for index in rows:
            for field in group.fields:
                assert hf.full_name(group, index, field) in names
    unlabelled = [c for c in found.controls if c.get("id") not in found.labelled]
    assert unlabelled == []
    for choice in (
        "AI-optimised strategy (experimental)",
        "Use a pre-trained model",
        "Episodes to train",
    ):
        assert choice in page.text
    assert 'name="episodes" value="1000"' in page.text


def test_market_defaults_are_shown_from_the_domain(client: TestClient) -> None:
    from glidepath.household.model import MarketAssumptions

    page = client.get("/").text
    assert "Market assumptions (advanced)" in page
    assert f"default {MarketAssumptions().stocks.expected_return}" in page


@pytest.mark.parametrize("example", ["household", "couple", "retiree"])
def test_export_of_a_filled_form_is_the_file_it_was_filled_from(
    client: TestClient, example: str
) -> None:
    document = json.loads((EXAMPLES / f"{example}.json").read_text())
    answer = client.post("/household", data={**form_fields(document), "action": "export"})
    assert answer.status_code == 200
    assert "attachment" in answer.headers["content-disposition"]
    assert json.loads(answer.text) == document


def test_import_fills_the_form_with_the_file(client: TestClient) -> None:
    text = (EXAMPLES / "couple.json").read_text()
    page = client.post(
        "/household/import", files={"file": ("couple.json", text, "application/json")}
    )
    assert page.status_code == 200
    values = {c.get("name"): c.get("value") for c in controls(page.text).controls}
    assert values["adults[1].name"] == "Kim"
    assert values["incomes[0].survivorFraction"] == "0.6"


def test_a_file_in_the_protos_own_spelling_fills_the_same_inputs(client: TestClient) -> None:
    text = json.dumps(
        {"lifetimes": "LIFETIMES_FIXED_HORIZON", "adults": [{"current_age": 40, "net_income": 1}]}
    )
    page = client.post("/household/import", files={"file": ("s.json", text, "application/json")})
    values = {c.get("name"): c.get("value") for c in controls(page.text).controls}
    assert (values["adults[0].currentAge"], values["adults[0].netIncome"]) == ("40", "1")
    assert '<option value="fixed_horizon" selected>' in page.text


def test_an_unreadable_import_says_so(client: TestClient) -> None:
    page = client.post(
        "/household/import", files={"file": ("x.json", "{not json", "application/json")}
    )
    assert page.status_code == 422
    assert "cannot read x.json" in page.text


def message_beside(page: str, name: str) -> str | None:
    """The message drawn right after the input named ``name`` (None: none, or not marked)."""
    pattern = (
        re.escape(f'name="{name}"')
        + r'[^>]*aria-invalid="true"[^<]*<p class="message"[^>]*>([^<]*)<'
    )
    found = re.search(pattern, page, re.S)
    return found.group(1) if found else None


def test_bad_fields_show_the_validators_messages_beside_them(client: TestClient) -> None:
    document = json.loads((EXAMPLES / "household.json").read_text())
    document["adults"][0]["currentAge"] = -3
    document["accounts"][0]["stockShare"] = 3
    page = client.post("/household", data={**form_fields(document), "action": "start"})
    assert page.status_code == 422
    assert "must be an age in [0, 120], got -3" in (
        message_beside(page.text, "adults[0].currentAge") or ""
    )
    assert "must be a fraction in [0, 1]" in (
        message_beside(page.text, "accounts[0].stockShare") or ""
    )
    assert message_beside(page.text, "adults[0].retirementAge") is None
    assert "2 fields to fix" in page.text


def test_a_value_that_is_not_a_number_is_named_by_the_parser(client: TestClient) -> None:
    document = json.loads((EXAMPLES / "household.json").read_text())
    document["accounts"][0]["stockShare"] = "lots"
    page = client.post("/household", data={**form_fields(document), "action": "start"})
    assert page.status_code == 422
    assert "lots" in (message_beside(page.text, "accounts[0].stockShare") or "")


def test_rows_are_added_and_removed_and_values_kept(client: TestClient) -> None:
    document = json.loads((EXAMPLES / "household.json").read_text())
    added = client.post("/household", data={**form_fields(document), "action": "add:adults"})
    names = {c.get("name") for c in controls(added.text).controls}
    assert "adults[1].currentAge" in names and "adults[2].currentAge" not in names
    assert 'value="Alex"' in added.text
    removed = client.post(
        "/household", data={**form_fields(document), "action": "remove:incomes:0"}
    )
    names = {c.get("name") for c in controls(removed.text).controls}
    assert "incomes[0].amount" not in names


def test_the_time_estimate_follows_the_measured_speed(client: TestClient) -> None:
    answer = client.get("/api/estimate", params={"episodes": 2000}).json()
    assert answer["seconds"] == pytest.approx(100.0)
    assert answer["measured_trainings"] == 3
    assert "measured over 3 past trainings" in client.get("/").text


def test_the_validate_api_names_the_field_in_the_files_spelling(client: TestClient) -> None:
    document = json.loads((EXAMPLES / "household.json").read_text())
    document["adults"][0]["netIncom"] = 1
    answer = client.post("/api/household/validate", json=document).json()
    assert answer["valid"] is False
    assert "adults[0].netIncom" in answer["errors"]


# ------------------------------------------------------------------ runs and results


def start(client: TestClient, **options: str) -> str:
    document = json.loads((EXAMPLES / "household.json").read_text())
    data = {**form_fields(document), "action": "start", "ai": "1", **options}
    answer = client.post("/household", data=data, follow_redirects=False)
    assert answer.status_code == 303, answer.text
    location: str = answer.headers["location"]
    return location.rsplit("/", 1)[1]


def test_every_run_option_reaches_the_request(client: TestClient, peers: FakePeers) -> None:
    start(client)
    start_two = dict(
        episodes="250", pretrained="1", min_episodes="50", paths="700", seed="9", token="t0k"
    )
    peers.hold = False
    client.app.state.runs.max_active = 2  # type: ignore[attr-defined]
    start(client, **start_two)
    (plain, no_token), (chosen, token) = peers.requests
    assert (plain.episodes, plain.use_pretrained, plain.HasField("min_episodes")) == (
        1000,
        False,
        False,
    )
    assert not plain.settings.HasField("paths") and no_token is None
    assert (chosen.episodes, chosen.use_pretrained, chosen.min_episodes) == (250, True, 50)
    assert (chosen.settings.paths, chosen.settings.seed, token) == (700, 9, "t0k")


def test_a_bad_run_option_is_named_beside_its_input_with_a_bad_field(client: TestClient) -> None:
    document = json.loads((EXAMPLES / "household.json").read_text())
    document["adults"][0]["currentAge"] = -3
    data = {**form_fields(document), "action": "start", "ai": "1", "episodes": "2000000"}
    page = client.post("/household", data=data)
    assert page.status_code == 422
    assert "must be in [1, 1,000,000], got 2,000,000" in (
        message_beside(page.text, "episodes") or ""
    )
    assert message_beside(page.text, "adults[0].currentAge")


def test_without_the_ai_box_the_rules_are_compared(client: TestClient, peers: FakePeers) -> None:
    document = json.loads((EXAMPLES / "household.json").read_text())
    data = {**form_fields(document), "action": "start", "paths": "800"}
    answer = client.post("/household", data=data, follow_redirects=False)
    assert answer.status_code == 303
    run_id = answer.headers["location"].rsplit("/", 1)[1]
    assert peers.requests == []
    ((compared, _),) = peers.compares
    assert compared.settings.paths == 800 and not compared.strategies
    sse(client.get(f"/runs/{run_id}/events").text)
    page = client.get(f"/results/{run_id}").text
    text = visible(page)
    assert "Recommended: the total-wealth rule." in text
    # The comparison's own summary: the own plan's risk and the gain, no year's actions.
    assert "Your current plan runs out of money in 10 % of simulated lives" in text
    assert "The recommendation gains +5,000 a year of CE" in text
    assert "Why: it has the highest CE of the rules compared (40,000 a year)." in text
    assert "This year" not in text and "Before you act" in text
    assert 'id="gate"' not in page and 'id="chart-allocation"' not in page


def test_progress_is_replayed_from_any_event_and_the_result_has_its_own_url(
    client: TestClient,
) -> None:
    run_id = start(client)
    events = sse(client.get(f"/runs/{run_id}/events").text)
    assert [kind for kind, _ in events] == ["event", "event", "result", "end"]
    assert events[0][1]["label"] == "Household checked"
    assert events[1][1]["training"] == {
        "state": "RUNNING",
        "episodes_done": 300,
        "episodes_total": 600,
        "seconds_left": None,
        "message": "",
    }
    again = sse(client.get(f"/runs/{run_id}/events", headers={"Last-Event-ID": "2"}).text)
    assert [kind for kind, _ in again] == ["result", "end"]
    page = client.get(f"/results/{run_id}")
    assert page.status_code == 200
    summary = page.text.index('id="summary"')
    assert summary < page.text.index('id="chart-wealth"') < page.text.index("comparison-title")
    text = visible(page.text)
    assert "Recommended: the total-wealth rule." in text
    for heading in ("This year", "Risk and gain", "Strategy", "Words used", "Before you act"):
        assert f"\n{heading}\n" in text
    assert "At age 40:" in text and "Hold 50 % in stocks" in text
    assert "Experimental, not financial advice." in text
    # Strategies in words only: no identifier (and not the service's reason, which has one).
    assert not re.search(r"\b(merton|rl_policy|own_plan)\b", text)
    assert "The Merton rule wins" not in text
    assert "trained now" in page.text and "Not passed" in page.text
    figures = json.loads(re.search(r'id="figures">(.*?)</script>', page.text, re.S).group(1))  # type: ignore[union-attr]
    assert set(figures) == {"chart-wealth", "chart-spending", "chart-allocation"}
    assert client.get(f"/api/results/{run_id}").json()["householdHash"] == "0123456789abcdef"
    summary = client.get(f"/api/results/{run_id}/summary").json()
    assert summary["headline"] == "Recommended: the total-wealth rule."
    assert [section["heading"] for section in summary["sections"]] == [
        "This year",
        "Risk and gain",
        "Strategy",
        "Words used",
        "Before you act",
    ]


def test_cancel_stops_the_call_and_the_page_says_so(client: TestClient, peers: FakePeers) -> None:
    peers.hold = True
    run_id = start(client)
    assert client.post(f"/runs/{run_id}/cancel", follow_redirects=False).status_code == 303
    assert peers.calls[0].cancelled.is_set()
    events = sse(client.get(f"/runs/{run_id}/events").text)
    assert events[-2][0] == "cancelled"
    assert client.get(f"/results/{run_id}", follow_redirects=False).status_code == 303


def test_a_second_run_beyond_the_bound_is_refused(client: TestClient, peers: FakePeers) -> None:
    peers.hold = True
    start(client)
    document = json.loads((EXAMPLES / "household.json").read_text())
    page = client.post("/household", data={**form_fields(document), "action": "start", "ai": "1"})
    assert page.status_code == 429
    assert "try again when one ends" in page.text
    peers.calls[0].cancel()


def test_an_unknown_run_is_404(client: TestClient) -> None:
    assert client.get("/runs/nope").status_code == 404
    assert client.get("/results/nope").status_code == 404


# ------------------------------------------------------------------ models


def test_the_list_passes_its_filters_to_the_registry(client: TestClient, peers: FakePeers) -> None:
    page = client.get(
        "/models", params={"hash": "0123456789abcdef", "kind": "generic", "owner": "bob"}
    )
    assert page.status_code == 200
    query = peers.queries[-1]
    assert (query.model_hash, query.kind, query.owner) == (
        "0123456789abcdef",
        model_pb2.MODEL_KIND_GENERIC,
        "bob",
    )
    assert "No models stored that match these filters" in page.text
    assert MODEL.file_name in client.get("/models").text


def test_a_model_page_and_its_delete_with_the_credential(
    client: TestClient, peers: FakePeers
) -> None:
    page = client.get(f"/models/{MODEL.file_name}")
    assert page.status_code == 200 and "alice" in page.text
    answer = client.post(
        f"/models/{MODEL.file_name}/delete", data={"token": "s3cret"}, follow_redirects=False
    )
    assert answer.status_code == 303
    assert peers.deleted == [(MODEL.ref, "s3cret")]


def test_a_refused_delete_shows_the_registrys_line(client: TestClient, peers: FakePeers) -> None:
    peers.refuse_delete = PeerError("the registry denied the call: not yours", 403)
    page = client.post(f"/models/{MODEL.file_name}/delete", data={"token": ""})
    assert page.status_code == 403
    assert "not yours" in page.text


def test_cleanup_is_a_dry_run_first(client: TestClient, peers: FakePeers) -> None:
    plan = client.get("/models-cleanup", params={"days": 7})
    assert "1 model would be deleted" in plan.text
    assert peers.cleanups == [(7, True, None)]
    done = client.post("/models-cleanup", data={"days": "7", "token": "t"})
    assert "Deleted 1 model." in done.text
    assert peers.cleanups[-1] == (7, False, "t")


# ------------------------------------------------------------------ the service


def test_health_plotly_and_openapi(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "SERVING"}
    plotly = client.get("/static/plotly.min.js")
    assert plotly.status_code == 200 and b"plotly.js" in plotly.content[:2000]
    assert "/api/models" in client.get("/openapi.json").json()["paths"]


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMULATION_ADDR", "sim:1")
    monkeypatch.setenv("WEB_MAX_ACTIVE_RUNS", "3")
    settings = WebServiceSettings.from_env()
    assert (settings.simulation_addr, settings.max_active_runs) == ("sim:1", 3)
    monkeypatch.setenv("WEB_MAX_HELD_RUNS", "2")
    with pytest.raises(ConfigError, match="WEB_MAX_HELD_RUNS"):
        WebServiceSettings.from_env()


# ------------------------------------------------------------------ pieces


def test_the_speed_counts_training_seconds_not_the_jobs_evaluation() -> None:
    def job(episodes: int, elapsed: float, training: float) -> training_pb2.TrainingJob:
        out = training_pb2.TrainingJob(episodes_total=episodes, elapsed_seconds=elapsed)
        out.registered_model.training_seconds = training
        return out

    speed = speed_of([job(100, 30.0, 4.0), job(1000, 60.0, 36.0), job(500, 9.0, 0.0)])
    assert speed is not None
    assert speed.seconds_per_episode == pytest.approx(40.0 / 1100)
    assert speed.trainings == 2
    assert speed_of([]) is None


def test_the_oldest_finished_run_goes_first_and_a_running_one_stays() -> None:
    runs = RunStore(max_active=2, max_held=2)

    def describe(error: Any) -> PeerError:
        return PeerError("x", 502)

    def begin(call: FakeCall) -> Any:
        return runs.start(lambda: call, describe, household_name="h", episodes=1, pretrained=False)

    held = FakeCall([], hold=True)
    running = begin(held)
    done = begin(FakeCall(stream(fake_result())))
    list(done.follow(0, stop=lambda: True))  # to its end
    third = begin(FakeCall(stream(fake_result())))
    assert runs.get(running.run_id) is running
    assert runs.get(done.run_id) is None
    assert runs.get(third.run_id) is third
    held.cancel()


def test_the_web_charts_are_the_shared_charts_drawn_with_plotly() -> None:
    """Each panel of ``glidepath.charts`` becomes one figure: its axis label, its legend
    entries, where its axis stops; a comparison (no year's decisions) draws the rule's
    simulation, wealth and spending only."""
    household = load_household(EXAMPLES / "household.json").household
    result = fake_result()
    chart = result_chart(result, household)
    assert chart is not None and len(chart.panels) == 3
    drawn = figures(chart)
    assert list(drawn) == list(FIGURE_IDS)
    for key, panel in zip(FIGURE_IDS, chart.panels, strict=True):
        layout = drawn[key]["layout"]
        assert layout["yaxis"]["title"]["text"].replace("<br>", " ") == panel.axis_label
        assert layout["xaxis"]["title"]["text"] == chart.x_label
        names = {trace["name"] for trace in drawn[key]["data"]}
        assert {s.label for s in panel.series} | {v.label for v in panel.levels} <= names
        if panel.top is not None:
            assert layout["yaxis"]["range"] == [panel.bottom or 0.0, panel.top]
        assert (layout["yaxis"]["tickformat"] == ".0%") == (panel.unit is Unit.SHARE)
        assert [shape["x0"] for shape in layout["shapes"]] == [r.age for r in chart.retirements]
    compared = result_chart(compare_result(result.comparison), household)
    assert compared is not None
    assert [p.fan.quantity for p in compared.panels if p.fan] == ["wealth", "spending"]
    assert list(figures(compared)) == ["chart-wealth", "chart-spending"]
