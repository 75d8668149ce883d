"""The web front end when a service it calls is not there: one line on the page, no
traceback, and the run ends as failed rather than hanging.

The web service runs in-process (TestClient) with its real gRPC clients, pointed at
loopback ports where nothing listens.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from web_support import form_fields, sse

from web_service.app import build_app
from web_service.config import WebServiceSettings

EXAMPLE = Path(__file__).resolve().parent.parent / "examples" / "household.json"


def closed_port() -> str:
    """A loopback address where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{probe.getsockname()[1]}"


@pytest.fixture
def client() -> Iterator[TestClient]:
    address = closed_port()
    settings = WebServiceSettings(
        simulation_addr=address,
        training_addr=address,
        registry_addr=address,
        call_deadline_seconds=5.0,
    )
    with TestClient(build_app(settings)) as test_client:
        yield test_client


def test_a_run_whose_simulation_service_is_down_fails_with_one_line(client: TestClient) -> None:
    document = json.loads(EXAMPLE.read_text())
    form = {**form_fields(document), "action": "start", "ai": "1"}
    answer = client.post("/household", data=form, follow_redirects=False)
    assert answer.status_code == 303  # the form still opens (no speed: the first guess)
    run_id = answer.headers["location"].rsplit("/", 1)[1]
    kinds = sse(client.get(f"/runs/{run_id}/events").text)
    kind, event = kinds[-2]
    assert kind == "failed"
    assert event["message"].startswith("cannot reach the simulation service at 127.0.0.1:")
    assert client.get(f"/api/runs/{run_id}").json()["finished"] is True


def test_the_models_page_says_the_registry_is_down(client: TestClient) -> None:
    page = client.get("/models")
    assert page.status_code == 502
    assert "cannot reach the registry at 127.0.0.1:" in page.text
    assert "Traceback" not in page.text
    api = client.get("/api/models")
    assert api.status_code == 502 and "cannot reach the registry" in api.json()["detail"]
