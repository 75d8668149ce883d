"""Model management: the list (filters by hash, kind, owner), one model (metadata,
evaluation, lineage), delete, and cleanup by age, a dry run first.

Reads go with the service's own credential, if any; writes (delete, cleanup) send the
credential typed on the page, so that on a shared stack each user deletes only what the
registry lets them. Every failure is the registry's answer in one line on the page.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from google.protobuf import json_format

from glidepath.cli.lineage import lineage_names, lineage_tree
from glidepath.common.v1 import model_pb2
from glidepath.models import parse_model_file_name
from glidepath.registry.v1 import registry_pb2
from web_service.clients import PeerError, Peers
from web_service.deps import PeersDep, TemplatesDep

router = APIRouter(tags=["models"])

KINDS = {
    "": model_pb2.MODEL_KIND_UNSPECIFIED,
    "profile": model_pb2.MODEL_KIND_PROFILE,
    "generic": model_pb2.MODEL_KIND_GENERIC,
}
DEFAULT_MAX_AGE_DAYS = 30


def _ref(file_name: str) -> model_pb2.ModelRef:
    key = parse_model_file_name(file_name)
    if key is None:
        raise HTTPException(
            404, f"{file_name!r} is not a model's file name (rl_model_{{hash}}_{{N}}ep.zip)"
        )
    return model_pb2.ModelRef(model_hash=key.model_hash, episodes=key.episodes)


def _query(hash: str, kind: str, owner: str) -> registry_pb2.ListModelsRequest:
    return registry_pb2.ListModelsRequest(
        model_hash=hash.strip(),
        kind=KINDS.get(kind, model_pb2.MODEL_KIND_UNSPECIFIED),
        owner=owner.strip(),
    )


def _page(
    request: Request,
    templates: Jinja2Templates,
    name: str,
    context: dict[str, Any],
    status: int = 200,
) -> HTMLResponse:
    response: HTMLResponse = templates.TemplateResponse(request, name, context, status_code=status)
    return response


def _error_page(request: Request, templates: Jinja2Templates, error: PeerError) -> HTMLResponse:
    """The service's one-line refusal, under the status it maps to."""
    return _page(request, templates, "error.html", {"message": error.message}, error.http_status)


@router.get("/models", response_class=HTMLResponse)
def list_page(
    request: Request,
    templates: TemplatesDep,
    peers: PeersDep,
    hash: str = "",
    kind: str = "",
    owner: str = "",
    notice: str = "",
) -> HTMLResponse:
    context: dict[str, Any] = {
        "filters": {"hash": hash, "kind": kind, "owner": owner},
        "notice": notice,
        "models": [],
        "error": "",
        "days": DEFAULT_MAX_AGE_DAYS,
    }
    try:
        context["models"] = peers.list_models(_query(hash, kind, owner))
    except PeerError as error:
        context["error"] = error.message
        return _page(request, templates, "models.html", context, error.http_status)
    return _page(request, templates, "models.html", context)


@router.get("/api/models")
def list_api(peers: PeersDep, hash: str = "", kind: str = "", owner: str = "") -> dict[str, Any]:
    try:
        models = peers.list_models(_query(hash, kind, owner))
    except PeerError as error:
        raise HTTPException(error.http_status, error.message) from None
    return {"models": [json_format.MessageToDict(m) for m in models]}


def _lineage(peers: Peers, model: model_pb2.ModelMetadata) -> tuple[list[str], str]:
    """The file names of this model's tree (its ancestors and their fine-tunings) in
    the tree's order, and the tree as the CLI's ``models tree`` draws it."""
    everything = peers.list_models(registry_pb2.ListModelsRequest())
    return lineage_names(everything, model.ref), lineage_tree(everything, model.ref)


@router.get("/models/{file_name}", response_class=HTMLResponse)
def model_page(
    request: Request, file_name: str, templates: TemplatesDep, peers: PeersDep
) -> HTMLResponse:
    ref = _ref(file_name)
    try:
        model = peers.get_model(ref)
        lineage, tree = _lineage(peers, model)
    except PeerError as error:
        return _error_page(request, templates, error)
    return _page(
        request,
        templates,
        "model.html",
        {"model": model, "lineage": lineage, "tree": tree, "error": ""},
    )


@router.get("/api/models/{file_name}")
def model_api(file_name: str, peers: PeersDep) -> dict[str, Any]:
    try:
        return json_format.MessageToDict(peers.get_model(_ref(file_name)))
    except PeerError as error:
        raise HTTPException(error.http_status, error.message) from None


@router.post("/models/{file_name}/delete", response_class=HTMLResponse, response_model=None)
def delete(
    request: Request,
    file_name: str,
    templates: TemplatesDep,
    peers: PeersDep,
    token: Annotated[str, Form()] = "",
) -> Response:
    ref = _ref(file_name)
    try:
        deleted = peers.delete_model(ref, token.strip() or None)
    except PeerError as error:
        try:
            model = peers.get_model(ref)
        except PeerError:
            return _error_page(request, templates, error)
        return _page(
            request,
            templates,
            "model.html",
            {"model": model, "lineage": [], "tree": "", "error": error.message},
            error.http_status,
        )
    return RedirectResponse(f"/models?notice=Deleted+{deleted.file_name}", status_code=303)


@router.get("/models-cleanup", response_class=HTMLResponse)
def cleanup_plan(
    request: Request,
    templates: TemplatesDep,
    peers: PeersDep,
    days: int = DEFAULT_MAX_AGE_DAYS,
) -> HTMLResponse:
    """The dry run: which models a cleanup of those older than ``days`` would delete."""
    if days < 1:
        raise HTTPException(422, f"days must be at least 1, got {days}")
    try:
        planned = peers.cleanup(days, dry_run=True)
    except PeerError as error:
        return _error_page(request, templates, error)
    return _page(
        request,
        templates,
        "cleanup.html",
        {"days": days, "planned": planned, "deleted": None, "error": ""},
    )


@router.post("/models-cleanup", response_class=HTMLResponse)
def cleanup_run(
    request: Request,
    templates: TemplatesDep,
    peers: PeersDep,
    days: Annotated[int, Form()],
    token: Annotated[str, Form()] = "",
) -> HTMLResponse:
    planned = peers.cleanup(days, dry_run=True)
    try:
        done = peers.cleanup(
            days, dry_run=False, planned=len(planned.models), token=token.strip() or None
        )
    except PeerError as error:
        return _page(
            request,
            templates,
            "cleanup.html",
            {"days": days, "planned": planned, "deleted": None, "error": error.message},
            error.http_status,
        )
    return _page(
        request,
        templates,
        "cleanup.html",
        {"days": days, "planned": planned, "deleted": done, "error": ""},
    )
