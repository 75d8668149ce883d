"""The household form: fill, check, import, export, and start a run.

``GET /`` draws the form (empty, or an example of ``examples/``). ``POST /household``
receives it with the button pressed: add or remove a row, export the file, or start;
starting validates with the services' own validator (``household_from_json``) and, when
a field is wrong, draws the form again with each message beside its field (422). A valid
household starts an Optimize run and the browser is sent to its progress page.
``POST /household/import`` fills the form from a household file. ``GET /api/estimate``
is the time a run should take, from this machine's measured training speed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool

from glidepath.cli.inputs import HOUSEHOLD_FILE_MAX_BYTES
from glidepath.household.convert import household_to_proto
from glidepath.household.model import Household
from glidepath.simulation.v1 import simulation_pb2 as sim
from web_service import household_form as hf
from web_service.clients import OptimizeCall, Peers
from web_service.deps import PeersDep, RunsDep, SettingsDep, TemplatesDep
from web_service.form_schema import ANNUITIES, GROUPS
from web_service.runs import RunsFull, RunStore

router = APIRouter(tags=["household"])

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
EXAMPLES = ("household", "couple", "retiree")
DEFAULT_EPISODES = 1000
DEFAULT_MIN_EPISODES = 500


def _options(form: dict[str, str]) -> dict[str, Any]:
    """The run's choices as the form posted them (checkboxes absent when not ticked)."""
    return {
        "ai": bool(form.get("ai")),
        "pretrained": bool(form.get("pretrained")),
        "episodes": form.get("episodes", str(DEFAULT_EPISODES)),
        "min_episodes": form.get("min_episodes", ""),
        "paths": form.get("paths", ""),
        "seed": form.get("seed", ""),
    }


DEFAULT_OPTIONS = {
    "ai": True,
    "pretrained": False,
    "episodes": str(DEFAULT_EPISODES),
    "min_episodes": "",
    "paths": "",
    "seed": "",
}


def render_form(
    request: Request,
    templates: Jinja2Templates,
    peers: Peers,
    document: hf.Document,
    *,
    options: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    notice: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    speed = peers.training_speed()
    seconds_per_episode = (
        speed.seconds_per_episode if speed else request.app.state.settings.seconds_per_episode
    )
    response: HTMLResponse = templates.TemplateResponse(
        request,
        "household.html",
        {
            "document": document,
            "groups": GROUPS,
            "hf": hf,
            "annuities_group": ANNUITIES,
            "options": options or DEFAULT_OPTIONS,
            "errors": errors or {},
            "market_open": any(name.startswith("market") for name in errors or {}),
            "notice": notice,
            "seconds_per_episode": seconds_per_episode,
            "speed_trainings": speed.trainings if speed else 0,
            "examples": EXAMPLES,
        },
        status_code=status_code,
    )
    return response


@router.get("/", response_class=HTMLResponse)
def form_page(
    request: Request, templates: TemplatesDep, peers: PeersDep, example: str = ""
) -> HTMLResponse:
    document: hf.Document = {"adults": [{}], "accounts": [{}]}
    if example in EXAMPLES:
        document = json.loads((EXAMPLES_DIR / f"{example}.json").read_text())
    return render_form(request, templates, peers, document)


# The most episodes a training may have (OptimizeRequest.episodes: 1 to 1,000,000).
MAX_EPISODES = 1_000_000


def _int_option(
    text: str, name: str, errors: dict[str, str], minimum: int, maximum: int | None = None
) -> int | None:
    if not text.strip():
        return None
    try:
        value = int(text)
    except ValueError:
        errors[name] = f"must be a whole number, got {text!r}"
        return None
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"in [{minimum:,}, {maximum:,}]" if maximum is not None else f">= {minimum}"
        errors[name] = f"must be {bound}, got {value:,}"
        return None
    return value


def run_choices(options: dict[str, Any], errors: dict[str, str]) -> dict[str, int | None]:
    """The run's numbers, checked before anything is sent; problems go into ``errors``
    under the input's name, so that each message lands beside its input."""
    return {
        "episodes": _int_option(options["episodes"], "episodes", errors, 1, MAX_EPISODES),
        "min_episodes": _int_option(options["min_episodes"], "min_episodes", errors, 1),
        "paths": _int_option(options["paths"], "paths", errors, 1),
        "seed": _int_option(options["seed"], "seed", errors, 0),
    }


def build_request(
    household: Household, options: dict[str, Any], choices: dict[str, int | None]
) -> sim.OptimizeRequest:
    """The Optimize request the run's choices ask for."""
    request = sim.OptimizeRequest(
        household=household_to_proto(household),
        use_pretrained=options["pretrained"],
        episodes=choices["episodes"] or DEFAULT_EPISODES,
        settings=sim.SimulationSettings(seed=choices["seed"] or 0),
    )
    if choices["paths"] is not None:
        request.settings.paths = choices["paths"]
    if options["pretrained"] and choices["min_episodes"] is not None:
        request.min_episodes = choices["min_episodes"]
    return request


@router.post("/household", response_class=HTMLResponse, response_model=None)
async def submit(
    request: Request, templates: TemplatesDep, peers: PeersDep, runs: RunsDep
) -> Response:
    """Async only to read the posted form, whose input names are the household's own
    (not declared parameters); the work runs in the thread pool (:func:`handle_submit`),
    as a plain ``def`` endpoint's would."""
    posted = await request.form()
    form = {k: v for k, v in posted.items() if isinstance(v, str)}
    return await run_in_threadpool(handle_submit, request, templates, peers, runs, form)


def handle_submit(
    request: Request, templates: Jinja2Templates, peers: Peers, runs: RunStore, form: dict[str, str]
) -> Response:
    action = form.get("action", "start")
    document = hf.from_form(form)
    options = _options(form)
    if action.startswith(("add:", "remove:")):
        return render_form(
            request, templates, peers, hf.edit_rows(document, action), options=options
        )
    if action == "export":
        return Response(
            hf.to_json(document),
            media_type="application/json",
            headers={"Content-Disposition": 'attachment; filename="household.json"'},
        )
    document = hf.compact(document)
    household, errors = hf.validate(document)
    choices = run_choices(options, errors)
    if errors or household is None:
        return render_form(
            request, templates, peers, document, options=options, errors=errors, status_code=422
        )
    request_message = build_request(household, options, choices)
    token = form.get("token") or None
    if options["ai"]:
        optimize = request_message

        def open_call() -> OptimizeCall:
            return peers.optimize(optimize, token)
    else:
        compare = sim.CompareRequest(
            household=request_message.household, settings=request_message.settings
        )

        def open_call() -> OptimizeCall:
            return peers.compare(compare, token)

    try:
        run = runs.start(
            open_call,
            peers.describe_simulation,
            household_name=household.name or "your household",
            episodes=request_message.episodes,
            pretrained=options["pretrained"],
            ai=options["ai"],
            household=household,
        )
    except RunsFull as full:
        return render_form(
            request, templates, peers, document, options=options, notice=str(full), status_code=429
        )
    return RedirectResponse(f"/runs/{run.run_id}", status_code=303)


@router.post("/household/import", response_class=HTMLResponse)
def import_file(
    request: Request,
    templates: TemplatesDep,
    peers: PeersDep,
    file: Annotated[UploadFile, File(description="a household JSON file")],
) -> HTMLResponse:
    data = file.file.read(HOUSEHOLD_FILE_MAX_BYTES + 1)
    try:
        if len(data) > HOUSEHOLD_FILE_MAX_BYTES:
            raise ValueError("the file is larger than a household file may be (4 MiB)")
        document = json.loads(data.decode("utf-8"))
        if not isinstance(document, dict):
            raise ValueError("a household file holds one JSON object")
        document = hf.camel_case(document)
    except (ValueError, UnicodeDecodeError) as error:
        return render_form(
            request,
            templates,
            peers,
            {"adults": [{}]},
            notice=f"cannot read {file.filename}: {error}",
            status_code=422,
        )
    _, errors = hf.validate(document)
    return render_form(
        request,
        templates,
        peers,
        document,
        errors=errors,
        notice=f"read {file.filename}" + (": some fields need a look" if errors else ""),
    )


@router.post("/api/household/validate")
def validate_api(document: dict[str, Any]) -> dict[str, Any]:
    """The validator's answer for a household file's object: ``valid`` and messages by
    field (the file's own spelling)."""
    household, errors = hf.validate(document)
    return {"valid": household is not None, "errors": errors}


@router.get("/api/estimate")
def estimate(
    peers: PeersDep, settings: SettingsDep, episodes: int = DEFAULT_EPISODES
) -> dict[str, Any]:
    """Seconds a training of ``episodes`` should take here, and what the figure rests on."""
    speed = peers.training_speed()
    per_episode = speed.seconds_per_episode if speed else settings.seconds_per_episode
    return {
        "episodes": episodes,
        "seconds": per_episode * episodes,
        "seconds_per_episode": per_episode,
        "measured_trainings": speed.trainings if speed else 0,
    }
