"""``glidepath up``: the three services and the web page on this machine until Ctrl-C.

No containers and no configuration: data under ``./var`` (models in ``var/models/rl``
unless RL_MODELS_DIR is set), one log per service in ``var/logs``, the default ports
50051-50053 that every client command uses when SIMULATION_ADDR, TRAINING_ADDR and
REGISTRY_ADDR are unset, and the web front end on http://127.0.0.1:8080 (``--no-web``
leaves it out). If a service dies, the others are stopped too and the exit code
is 1, so that a supervisor notices.
"""

from __future__ import annotations

import argparse
import errno
import os
import signal
import socket
import time
from pathlib import Path
from types import FrameType

from glidepath.cli.arguments import port_number
from glidepath.cli.errors import EXIT_FAILURE, EXIT_OK, EXIT_USAGE, CliError
from glidepath.cli.peers import LOOPBACK, START_ORDER, WEB
from glidepath.cli.stack import (
    DEFAULT_DATA_DIR,
    LocalStack,
    RunningService,
    StackError,
    StackLayout,
    local_stack,
)

POLL_SECONDS = 0.5
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def register(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    up = commands.add_parser(
        "up",
        help="run the three services and the web page locally until Ctrl-C",
        description="Start the registry, training and simulation services and the web "
        "front end as local processes, wait until all are SERVING, and stop them all on "
        "Ctrl-C or SIGTERM.",
    )
    up.add_argument(
        "--data-dir",
        type=Path,
        default=DEFAULT_DATA_DIR,
        help="models, training jobs and logs go here (default ./var)",
    )
    up.add_argument("--host", default=LOOPBACK, help=f"address to bind (default {LOOPBACK})")
    for peer in START_ORDER:
        up.add_argument(
            f"--{peer.key}-port",
            type=port_number,
            default=peer.default_port,
            metavar="PORT",
            help=f"{peer.title} port (default {peer.default_port}; 0 picks a free one)",
        )
    up.add_argument(
        f"--{WEB.key}-port",
        type=port_number,
        default=WEB.default_port,
        metavar="PORT",
        help=f"{WEB.title} port (default {WEB.default_port}; 0 picks a free one)",
    )
    up.add_argument("--no-web", action="store_true", help=f"do not start the {WEB.title}")
    up.set_defaults(run=run_up)


def run_up(args: argparse.Namespace) -> int:
    for signum in STOP_SIGNALS:
        signal.signal(signum, _interrupt)
    ports = {peer.key: getattr(args, f"{peer.key}_port") for peer in (*START_ORDER, WEB)}
    models_dir = Path(os.environ["RL_MODELS_DIR"]) if os.environ.get("RL_MODELS_DIR") else None
    check_ports_free(args.host, ports)
    prepare_directories(StackLayout(args.data_dir, models_dir))
    print(f"Starting the glidepath services (data in {args.data_dir.resolve()}) ...", flush=True)
    try:
        with local_stack(
            args.data_dir, host=args.host, ports=ports, models_dir=models_dir, web=not args.no_web
        ) as stack:
            print_where(stack)
            died = wait_for_stop(stack)
            print("Stopping the services ...", flush=True)
    except StackError as error:
        raise CliError(f"the stack did not start: {error}") from None
    codes = ", ".join(f"{key} exit {code}" for key, code in stack.exit_codes.items())
    print(f"Stopped ({codes}).", flush=True)
    if died:
        names = ", ".join(service.peer.title for service in died)
        raise CliError(f"{names} stopped unexpectedly; see {stack.layout.logs}")
    return EXIT_OK if all(code == 0 for code in stack.exit_codes.values()) else EXIT_FAILURE


def check_ports_free(host: str, ports: dict[str, int]) -> None:
    """Each fixed port can still be listened on; CliError naming the first that cannot.

    A second ``glidepath up`` would otherwise start the registry, see it die on a port
    the first one holds, and print the end of its traceback. The probe binds as a server
    would (SO_REUSEADDR: a port with only closed connections left is free), then lets
    go; a port taken in between still fails, as before, in the service's log.
    """
    for peer in START_ORDER:
        port = ports[peer.key]
        if port == 0:
            continue
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    reason = error.strerror or str(error)
                    message = f"cannot listen on {host} port {port} ({peer.title}): {reason}"
                    raise CliError(message, EXIT_USAGE) from None
                raise CliError(
                    f"port {port} ({peer.title}) on {host} is in use: is another "
                    f"`glidepath up` running? Stop it, or choose another with "
                    f"--{peer.key}-port",
                    EXIT_FAILURE,
                ) from None


def prepare_directories(layout: StackLayout) -> None:
    """Create the stack's directories up front: one that cannot be made (under a file, on
    a read-only file system) is one line naming it and where it came from, exit 2."""
    for directory in (layout.models, layout.training, layout.logs, layout.run):
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            given = layout.models_dir is not None and directory == layout.models
            origin = "RL_MODELS_DIR" if given else f"--data-dir {layout.data_dir}"
            reason = error.strerror or str(error)
            message = f"{origin}: cannot create {directory}: {reason}"
            raise CliError(message, EXIT_USAGE) from None


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def print_where(stack: LocalStack) -> None:
    """Where each service listens, and how to point a client at this stack."""
    print("The glidepath services are SERVING:")
    for service in stack.services.values():
        print(f"  {service.peer.key:<11} {service.address:<21} log {service.log_file}")
    if stack.web_url is not None:
        print(f"Open {stack.web_url} in a browser for the household form and the models.")
    print(f"Models in {stack.layout.models}")
    exports = " ".join(f"{name}={value}" for name, value in stack.client_env().items())
    print(f"Point clients at this stack with: export {exports}")
    print("Press Ctrl-C to stop.", flush=True)


def wait_for_stop(stack: LocalStack) -> list[RunningService]:
    """Block until a stop signal, or until a service dies (returned, to be reported)."""
    try:
        while not (died := stack.exited()):
            time.sleep(POLL_SECONDS)
        return died
    except KeyboardInterrupt:
        return []
    finally:
        # The stop that follows must not be cut short by a second Ctrl-C.
        for signum in STOP_SIGNALS:
            signal.signal(signum, signal.SIG_IGN)
