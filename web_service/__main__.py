"""``python -m web_service [--host 127.0.0.1] [--port 8080] [--port-file F]``.

The rest of the configuration comes from the environment (docs/web.md). The socket is
bound before the server starts, so that ``--port 0`` picks a free port and the port file
(written once bound, as the gRPC services do) says which. SIGTERM / SIGINT: uvicorn
stops accepting, finishes the requests in flight, and exits 0.
"""

from __future__ import annotations

import argparse
import socket
import sys
from pathlib import Path
from types import FrameType

import uvicorn

from glidepath.config import ConfigError
from web_service.app import build_app
from web_service.config import DEFAULT_PORT, WebServiceSettings

# Seconds uvicorn gives the requests in flight (a progress page's event stream among
# them) once told to stop.
GRACEFUL_SECONDS = 5


class _Server(uvicorn.Server):
    """uvicorn's server, ending with exit code 0 after a graceful stop on SIGTERM.

    uvicorn re-raises the signal it caught once it has shut down, so that the process
    dies of it (exit -15); a supervisor (``glidepath up``, docker) would read that as a
    crash. The stop is the same; only the re-raise is left out.
    """

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        super().handle_exit(sig, frame)
        self._captured_signals.clear()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m web_service")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 picks one)"
    )
    parser.add_argument(
        "--port-file", type=Path, default=None, help="write the bound port to this file"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    try:
        settings = WebServiceSettings.from_env()
    except ConfigError as exc:
        sys.exit(f"web_service: {exc}")
    family = socket.AF_INET6 if ":" in args.host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio sets TCP_NODELAY only on sockets that say
    # they are TCP, and without it every answer's body waited ~40 ms behind its headers
    # (Nagle's algorithm against the client's delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except OSError as error:
        sys.exit(f"web_service: cannot listen on {args.host}:{args.port}: {error.strerror}")
    sock.listen(128)
    if args.port_file is not None:
        tmp = args.port_file.with_suffix(args.port_file.suffix + ".tmp")
        tmp.write_text(str(sock.getsockname()[1]))
        tmp.replace(args.port_file)
    config = uvicorn.Config(
        build_app(settings),
        log_level="info",
        timeout_graceful_shutdown=GRACEFUL_SECONDS,
    )
    _Server(config).run(sockets=[sock])


if __name__ == "__main__":
    main()
