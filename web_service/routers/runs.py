"""A run's progress: its page, its live events (server-sent), cancel, and its JSON.

The events endpoint replays the run's events from ``Last-Event-ID`` (a reconnecting
browser sends it) or ``?start=N``, then goes on live until the run ends, so that a
reload of the page reattaches to a run that is still going.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Header, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, StreamingResponse

from web_service.deps import RunsDep, TemplatesDep
from web_service.runs import Run, RunStore

router = APIRouter(tags=["runs"])


def _run(runs: RunStore, run_id: str) -> Run:
    run = runs.get(run_id)
    if run is None:
        raise HTTPException(404, f"no run {run_id!r} here (runs are kept while the service runs)")
    return run


@router.get("/runs/{run_id}", response_class=HTMLResponse)
def progress_page(
    request: Request, run_id: str, runs: RunsDep, templates: TemplatesDep
) -> HTMLResponse:
    run = _run(runs, run_id)
    response: HTMLResponse = templates.TemplateResponse(request, "run.html", {"run": run})
    return response


def _stream(run: Run, start: int) -> Iterator[str]:
    """The events as SSE; a keep-alive comment every KEEP_ALIVE_SECONDS of quiet, which
    is also when a follower that has gone away is noticed and its thread freed."""
    yield "retry: 1000\n\n"
    for index, event in run.follow(start, stop=lambda: False):
        if event is None:
            yield ": keep-alive\n\n"
            continue
        yield f"id: {index + 1}\nevent: {event['kind']}\ndata: {json.dumps(event)}\n\n"
    yield "event: end\ndata: {}\n\n"


@router.get("/runs/{run_id}/events")
def events(
    run_id: str,
    runs: RunsDep,
    last_event_id: str | None = Header(default=None),
    start: int = 0,
) -> StreamingResponse:
    """Server-sent events: every event of the run from ``start`` (or Last-Event-ID)."""
    run = _run(runs, run_id)
    if last_event_id and last_event_id.isdigit():
        start = int(last_event_id)
    return StreamingResponse(
        _stream(run, max(0, start)),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


@router.post("/runs/{run_id}/cancel")
def cancel(run_id: str, runs: RunsDep) -> RedirectResponse:
    _run(runs, run_id)
    runs.cancel(run_id)
    return RedirectResponse(f"/runs/{run_id}", status_code=303)


@router.get("/api/runs/{run_id}")
def run_json(run_id: str, runs: RunsDep) -> dict[str, Any]:
    run = _run(runs, run_id)
    return {
        "run_id": run.run_id,
        "finished": run.finished,
        "cancelled": run.cancelled,
        "error": run.error.message if run.error else None,
        "events": run.events,
        "result_url": f"/results/{run.run_id}" if run.result is not None else None,
    }
