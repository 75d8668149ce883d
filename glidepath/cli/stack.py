"""The three services as local processes: ``glidepath up``, ``make run`` and the tests.

``local_stack()`` is a context manager: on entry it starts the registry, then the training
and simulation services (each ``python -m <service>``), waits until every one reports
SERVING on the gRPC health protocol, then (``web=True``, as ``glidepath up`` asks) the web
front end, until its ``/health`` answers, and yields where each listens; on exit it stops them
all: SIGTERM (each service then finishes its in-flight calls within its own grace period),
a wait, and SIGKILL for any process still there after ``stop_grace`` seconds.

Everything lives under one data directory (``./var`` by default): the models
(``models/rl``, unless RL_MODELS_DIR says otherwise), the training service's jobs and
spool (``training``), one log file per service (``logs``) and the port files (``run``).
Port 0 picks free ports, which is how tests run several stacks side by side.

The services run in their own session, so a Ctrl-C typed in the terminal reaches only
``glidepath up``, which then stops them in order, rather than every process at once.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from glidepath.cli.peers import (
    LOOPBACK,
    REGISTRY,
    SIMULATION,
    START_ORDER,
    TRAINING,
    WEB,
    Peer,
)
from glidepath.rpc.channel import open_channel, wait_until_serving

DEFAULT_DATA_DIR = Path("var")
START_TIMEOUT_SECONDS = 120.0
# Longer than the services' own grace (10 s by default), so that SIGKILL is a last resort.
STOP_GRACE_SECONDS = 20.0
LOG_TAIL_LINES = 6
HEALTH_POLL_SECONDS = 1.0


class StackError(RuntimeError):
    """A service of the local stack could not be started."""


@dataclass
class StackLayout:
    """Where the stack keeps its files, all under one data directory."""

    data_dir: Path
    models_dir: Path | None = None

    @property
    def models(self) -> Path:
        return self.models_dir if self.models_dir is not None else self.data_dir / "models" / "rl"

    @property
    def training(self) -> Path:
        return self.data_dir / "training"

    @property
    def logs(self) -> Path:
        return self.data_dir / "logs"

    @property
    def run(self) -> Path:
        return self.data_dir / "run"

    def log_file(self, peer: Peer) -> Path:
        return self.logs / f"{peer.key}.log"

    def port_file(self, peer: Peer) -> Path:
        return self.run / f"{peer.key}.port"


@dataclass
class RunningService:
    """One started service process and where it listens."""

    peer: Peer
    process: subprocess.Popen[bytes]
    address: str
    log_file: Path


@dataclass
class LocalStack:
    """The running stack, as ``local_stack()`` yields it."""

    layout: StackLayout
    services: dict[str, RunningService] = field(default_factory=dict)
    # Each service's exit code once the stack has stopped (negative: the ending signal).
    exit_codes: dict[str, int] = field(default_factory=dict)

    def address(self, peer: Peer) -> str:
        return self.services[peer.key].address

    def client_env(self) -> dict[str, str]:
        """SIMULATION_ADDR, TRAINING_ADDR and REGISTRY_ADDR pointing at this stack."""
        return {
            service.peer.env_var: service.address
            for service in self.services.values()
            if service.peer in START_ORDER
        }

    @property
    def web_url(self) -> str | None:
        """The web front end's address (http://host:port), when the stack runs it."""
        web = self.services.get(WEB.key)
        return f"http://{web.address}" if web is not None else None

    def exited(self) -> list[RunningService]:
        """Services whose process has ended (none, while the stack is healthy)."""
        return [s for s in self.services.values() if s.process.poll() is not None]


@contextmanager
def local_stack(
    data_dir: Path = DEFAULT_DATA_DIR,
    *,
    host: str = LOOPBACK,
    ports: Mapping[str, int] | None = None,
    models_dir: Path | None = None,
    env: Mapping[str, str] | None = None,
    start_timeout: float = START_TIMEOUT_SECONDS,
    stop_grace: float = STOP_GRACE_SECONDS,
    web: bool = False,
) -> Iterator[LocalStack]:
    """Start the three services, yield the running stack, stop them all on exit.

    ``ports`` maps a peer's key ("registry", ...) to a port; missing keys get the
    service's default port, and 0 picks a free one. ``env`` adds variables to every
    service's environment (e.g. REGISTRY_TOKEN, TRAINING_EVAL_LIVES) over the stack's own.
    If any service fails to start, those already started are stopped and StackError says
    which one failed and shows the end of its log. ``web`` adds the web front end (port
    key "web", default 8080), started once the other three are SERVING.
    """
    layout = StackLayout(data_dir.resolve(), models_dir.resolve() if models_dir else None)
    for directory in (layout.models, layout.training, layout.logs, layout.run):
        directory.mkdir(parents=True, exist_ok=True)
    stack = LocalStack(layout)
    try:
        for peer in START_ORDER:
            port = (ports or {}).get(peer.key, peer.default_port)
            service_env = {**_service_env(peer, stack), **(env or {})}
            service = _start(peer, host, port, service_env, layout)
            stack.services[peer.key] = service
            _wait_for_port(service, layout, host, start_timeout)
        for service in stack.services.values():
            _wait_until_serving(service, start_timeout)
        if web:
            port = (ports or {}).get(WEB.key, WEB.default_port)
            service_env = {**_service_env(WEB, stack), **(env or {})}
            service = _start(WEB, host, port, service_env, layout)
            stack.services[WEB.key] = service
            _wait_for_port(service, layout, host, start_timeout)
            _wait_until_answering(service, start_timeout)
        yield stack
    finally:
        stack.exit_codes = stop_services(list(stack.services.values()), stop_grace)


def _service_env(peer: Peer, stack: LocalStack) -> dict[str, str]:
    """What each service is told: where its data lives and where its peers listen."""
    env: dict[str, str] = {"PYTHONUNBUFFERED": "1"}
    if peer == REGISTRY:
        env["RL_MODELS_DIR"] = str(stack.layout.models)
    if peer == TRAINING:
        env["TRAINING_DATA_DIR"] = str(stack.layout.training)
    if peer in (TRAINING, SIMULATION):
        env[REGISTRY.env_var] = stack.address(REGISTRY)
    if peer == SIMULATION:
        env[TRAINING.env_var] = stack.address(TRAINING)
    if peer == WEB:
        env.update(stack.client_env())
    return env


def _start(
    peer: Peer, host: str, port: int, env: Mapping[str, str], layout: StackLayout
) -> RunningService:
    port_file = layout.port_file(peer)
    port_file.unlink(missing_ok=True)
    command = [sys.executable, "-m", peer.module, "--host", host, "--port", str(port)]
    with layout.log_file(peer).open("ab") as log:
        log.write(f"--- glidepath: starting {peer.module} at {time.ctime()}\n".encode())
        log.flush()
        process = subprocess.Popen(
            [*command, "--port-file", str(port_file)],
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    return RunningService(peer, process, address="", log_file=layout.log_file(peer))


def _wait_for_port(service: RunningService, layout: StackLayout, host: str, timeout: float) -> None:
    """Wait for the port file the service writes once it is bound; fill in its address."""
    port_file = layout.port_file(service.peer)
    deadline = time.monotonic() + timeout
    while not port_file.exists():
        _fail_if_exited(service)
        if time.monotonic() > deadline:
            raise StackError(f"{service.peer.title} did not bind a port within {timeout:g} s")
        time.sleep(0.05)
    connect_host = LOOPBACK if host in ("0.0.0.0", "::", "[::]") else host
    service.address = f"{connect_host}:{int(port_file.read_text())}"


def _wait_until_serving(service: RunningService, timeout: float) -> None:
    """Poll the health check in short slices, so that a service that dies is noticed at once."""
    channel = open_channel(service.address)
    deadline = time.monotonic() + timeout
    try:
        while True:
            _fail_if_exited(service)
            try:
                wait_until_serving(channel, timeout=HEALTH_POLL_SECONDS)
                return
            except TimeoutError as error:
                if time.monotonic() >= deadline:
                    raise StackError(
                        f"{service.peer.title} at {service.address}: {error}"
                    ) from None
    finally:
        channel.close()


def _wait_until_answering(service: RunningService, timeout: float) -> None:
    """Poll the web front end's ``GET /health`` until it answers 200."""
    deadline = time.monotonic() + timeout
    while True:
        _fail_if_exited(service)
        try:
            with urllib.request.urlopen(
                f"http://{service.address}/health", timeout=HEALTH_POLL_SECONDS
            ) as response:
                if response.status == 200:
                    return
        except OSError as error:
            if time.monotonic() >= deadline:
                raise StackError(
                    f"{service.peer.title} at {service.address} did not answer /health: {error}"
                ) from None
        time.sleep(0.1)


def _fail_if_exited(service: RunningService) -> None:
    code = service.process.poll()
    if code is not None:
        raise StackError(
            f"{service.peer.title} exited with code {code} while starting; "
            f"end of {service.log_file}:\n{log_tail(service.log_file)}"
        )


def log_tail(path: Path, lines: int = LOG_TAIL_LINES) -> str:
    """The last lines of a log file, indented, for an error message."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "  (no log)"
    return "\n".join(f"  {line}" for line in text.splitlines()[-lines:])


def stop_services(
    services: list[RunningService], grace: float = STOP_GRACE_SECONDS
) -> dict[str, int]:
    """SIGTERM every process, wait up to ``grace`` seconds, SIGKILL what is left.

    The signal goes to all of them at once so that they drain in parallel; a training
    service stopping before the registry keeps any model it could not upload in its spool.
    Returns each service's exit code (negative: the signal that ended it).
    """
    for service in reversed(services):
        if service.process.poll() is None:
            service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace
    codes: dict[str, int] = {}
    for service in reversed(services):
        try:
            codes[service.peer.key] = service.process.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.process.kill()
            codes[service.peer.key] = service.process.wait()
    return codes
