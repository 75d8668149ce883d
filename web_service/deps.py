"""What the routers are handed: settings, the peers' clients, the runs, the templates.

Each is an ``Annotated`` alias over a function reading the app's state, so that a test
can override one (``app.dependency_overrides``) without building the others.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi.templating import Jinja2Templates

from web_service.clients import Peers
from web_service.config import WebServiceSettings
from web_service.runs import RunStore

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"


def get_settings(request: Request) -> WebServiceSettings:
    settings: WebServiceSettings = request.app.state.settings
    return settings


def get_peers(request: Request) -> Peers:
    peers: Peers = request.app.state.peers
    return peers


def get_runs(request: Request) -> RunStore:
    runs: RunStore = request.app.state.runs
    return runs


def get_templates(request: Request) -> Jinja2Templates:
    templates: Jinja2Templates = request.app.state.templates
    return templates


SettingsDep = Annotated[WebServiceSettings, Depends(get_settings)]
PeersDep = Annotated[Peers, Depends(get_peers)]
RunsDep = Annotated[RunStore, Depends(get_runs)]
TemplatesDep = Annotated[Jinja2Templates, Depends(get_templates)]
