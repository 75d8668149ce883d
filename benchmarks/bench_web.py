"""The web front end's speed: the form's first byte, and the first progress event after
a submit, each beside the health endpoint's in the same run. Prints, never asserts.

A real local stack (``local_stack(web=True)``: the three services and the web service as
processes on free ports) is started in a temp directory. The form (``GET /``) and the
health endpoint (``GET /health``) are each fetched ``--requests`` times on one
keep-alive connection, timing the first byte of the answer; then the example household
is submitted ``--runs`` times (a 100-episode option A), timing from the POST to the
first server-sent event of the run, which is cancelled at once. The issue's targets:
the form's first byte <= 50 ms, the first progress event <= 0.5 s.

    PYTHONPATH=. python benchmarks/bench_web.py [--requests 50] [--runs 5]
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from glidepath.cli.stack import local_stack  # noqa: E402
from web_service import household_form as hf  # noqa: E402
from web_service.form_schema import GROUPS  # noqa: E402

PORTS = {"registry": 0, "training": 0, "simulation": 0, "web": 0}


def first_byte(connection: http.client.HTTPConnection, path: str) -> float:
    """Seconds from sending GET ``path`` to its first byte (the body then read whole)."""
    start = time.perf_counter()
    connection.request("GET", path)
    response = connection.getresponse()
    response.read(1)
    took = time.perf_counter() - start
    response.read()
    assert response.status == 200, (path, response.status)
    return took


def form_body() -> str:
    """The example household as the browser posts the form, with the run's choices."""
    document = json.loads((ROOT / "examples" / "household.json").read_text())
    form: dict[str, str] = {}
    for group in GROUPS:
        rows = range(hf.row_count(document, group)) if group.repeated else [None]
        if group.repeated:
            form[hf.count_name(group)] = str(len(rows))
        for index in rows:
            for field in group.fields:
                name = hf.full_name(group, index, field)
                form[name] = hf.value_at(document, name)
    form.update(action="start", ai="1", episodes="100", paths="500")
    return urllib.parse.urlencode(form)


def first_event(host: str, port: int, body: str) -> float:
    """Seconds from the POST of the form to the run's first server-sent event."""
    start = time.perf_counter()
    post = http.client.HTTPConnection(host, port, timeout=30)
    post.request("POST", "/household", body, {"Content-Type": "application/x-www-form-urlencoded"})
    answer = post.getresponse()
    answer.read()
    assert answer.status == 303, answer.status
    run = answer.getheader("Location", "")
    events = http.client.HTTPConnection(host, port, timeout=30)
    events.request("GET", f"{run}/events")
    stream = events.getresponse()
    while not stream.readline().startswith(b"event:"):
        pass
    took = time.perf_counter() - start
    events.close()
    post.request("POST", f"{run}/cancel")
    post.getresponse().read()
    post.close()
    return took


def line(name: str, seconds: list[float], health: float) -> str:
    median = statistics.median(seconds)
    return (
        f"{name:<34} median {1000 * median:8.1f} ms   max {1000 * max(seconds):8.1f} ms   "
        f"{median / health:6.1f} x health"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory() as tmp,
        local_stack(Path(tmp), ports=PORTS, web=True) as stack,
    ):
        assert stack.web_url is not None
        where = urllib.parse.urlsplit(stack.web_url)
        host, port = where.hostname or "127.0.0.1", where.port or 80
        connection = http.client.HTTPConnection(host, port, timeout=30)
        first_byte(connection, "/")  # templates compiled, channels connected
        health = [first_byte(connection, "/health") for _ in range(args.requests)]
        form = [first_byte(connection, "/") for _ in range(args.requests)]
        body = form_body()
        events = [first_event(host, port, body) for _ in range(args.runs)]
    reference = statistics.median(health)
    print(f"web front end, {args.requests} requests, {args.runs} runs (local stack)")
    print(line("GET /health, first byte", health, reference))
    print(line("GET / (the form), first byte", form, reference) + "   target <= 50 ms")
    print(line("submit -> first progress event", events, reference) + "   target <= 500 ms")


if __name__ == "__main__":
    main()
