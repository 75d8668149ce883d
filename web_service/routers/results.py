"""A run's result at its own URL: the summary first, then the charts, the comparison,
the gate's verdict and which model served, and how.

The summary is the one the CLI prints (``glidepath.advice``): this year's actions next
to the household's own plan, risk and gain, the strategy in words and why, the words
used, and the caveats; for an AI run from the Optimize answer, for a rules-only run from
the comparison (``compare_summary``: no trained policy judged, no year's decisions).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from google.protobuf import json_format

from glidepath.advice.convert import compare_summary, optimize_summary
from glidepath.advice.summary import Summary
from glidepath.cli.rungs import source_words
from glidepath.common.v1 import model_pb2
from glidepath.models import model_file_name
from glidepath.simulation.v1 import simulation_pb2 as sim
from web_service.charts import figures, result_chart
from web_service.deps import RunsDep, TemplatesDep
from web_service.runs import Run, RunStore

router = APIRouter(tags=["results"])

# How the model was served, in the words of the five ways the page names.
HOW_SERVED = {
    sim.MODEL_SOURCE_PRETRAINED: "exact",
    sim.MODEL_SOURCE_NEAR_MATCH: "near match",
    sim.MODEL_SOURCE_GENERIC: "generic",
    sim.MODEL_SOURCE_FINE_TUNED_NOW: "fine-tuned",
    sim.MODEL_SOURCE_TRAINED_NOW: "trained now",
    sim.MODEL_SOURCE_JOINED_RUNNING_JOB: "trained now",
    sim.MODEL_SOURCE_ALREADY_IN_REGISTRY: "exact",
}


def _result(runs: RunStore, run_id: str) -> sim.OptimizeResult | None:
    run = runs.get(run_id)
    if run is None:
        raise HTTPException(
            404, f"no result {run_id!r} here (results are kept while the service runs)"
        )
    result: sim.OptimizeResult | None = run.result
    return result


def _parent(model: model_pb2.ModelMetadata) -> str:
    if not model.HasField("parent"):
        return ""
    return model_file_name(model.parent.model_hash, model.parent.episodes)


def summary_of(run: Run, result: sim.OptimizeResult) -> Summary | None:
    """The run's summary; None when the answer cannot carry one (no own plan in it)."""
    if run.household is None:
        return None
    try:
        if run.ai:
            return optimize_summary(result, run.household)
        return compare_summary(result.comparison, run.household)
    except ValueError:
        return None


@router.get("/results/{run_id}", response_class=HTMLResponse, response_model=None)
def result_page(request: Request, run_id: str, runs: RunsDep, templates: TemplatesDep) -> Response:
    result = _result(runs, run_id)
    if result is None:
        return RedirectResponse(f"/runs/{run_id}", status_code=303)
    run = runs.get(run_id)
    assert run is not None
    chart = result_chart(result, run.household) if run.household is not None else None
    response: HTMLResponse = templates.TemplateResponse(
        request,
        "result.html",
        {
            "run": run,
            "result": result,
            "how_served": HOW_SERVED.get(result.source, "unknown"),
            "source_words": source_words(result.source),
            "parent": _parent(result.model),
            "chart": chart,
            "figures": figures(chart),
            "summary": summary_of(run, result),
        },
    )
    return response


@router.get("/api/results/{run_id}")
def result_json(run_id: str, runs: RunsDep) -> dict[str, Any]:
    """The OptimizeResult as the service sent it (protobuf's JSON mapping)."""
    result = _result(runs, run_id)
    if result is None:
        raise HTTPException(409, "the run has not finished")
    return json_format.MessageToDict(result)


@router.get("/api/results/{run_id}/summary")
def summary_json(run_id: str, runs: RunsDep) -> dict[str, Any]:
    """The summary the page and the CLI show, as JSON: a headline and its sections."""
    result = _result(runs, run_id)
    if result is None:
        raise HTTPException(409, "the run has not finished")
    run = runs.get(run_id)
    summary = None if run is None else summary_of(run, result)
    if summary is None:
        raise HTTPException(409, "this result carries no summary (no plan of your own in it)")
    return asdict(summary)
