"""Assemble the web service: settings -> clients, runs, templates -> a FastAPI app.

Shared by ``python -m web_service`` and the tests, so that what is tested is what runs.
``main`` only includes the routers, one per resource (``web_service.routers``). Plotly's
own ``plotly.min.js``, from the pinned ``plotly`` package, is served at
``/static/plotly.min.js``: nothing is fetched from a CDN, and nothing third-party is
copied into the repository.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import lru_cache

from fastapi import FastAPI
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from web_service import filters
from web_service.clients import Peers
from web_service.config import WebServiceSettings
from web_service.deps import STATIC_DIR, TEMPLATES_DIR
from web_service.routers import health, household, models, results, runs
from web_service.runs import RunStore

PLOTLY_PATH = "/static/plotly.min.js"


@lru_cache(maxsize=1)
def plotly_js() -> bytes:
    """The plotly package's bundled library (about 4.6 MB), read once."""
    from plotly.offline import get_plotlyjs

    return str(get_plotlyjs()).encode()


def build_app(settings: WebServiceSettings, peers: Peers | None = None) -> FastAPI:
    """The app; ``peers`` lets a test hand in clients of its own (default: real ones)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        app.state.peers.close()

    app = FastAPI(
        title="glidepath",
        description="Retirement planning: the household form, runs, results and models.",
        lifespan=lifespan,
    )
    templates = Jinja2Templates(directory=TEMPLATES_DIR)
    filters.install(templates.env)
    app.state.settings = settings
    app.state.peers = peers if peers is not None else Peers(settings)
    app.state.runs = RunStore(settings.max_active_runs, settings.max_held_runs)
    app.state.templates = templates

    @app.get(PLOTLY_PATH, include_in_schema=False)
    def plotly() -> Response:
        return Response(
            plotly_js(),
            media_type="application/javascript",
            headers={"Cache-Control": "public, max-age=86400"},
        )

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    for router in (health.router, household.router, runs.router, results.router, models.router):
        app.include_router(router)
    return app
