"""``glidepath``: the command line, and the one place failures become exit codes.

Each command module registers its sub-commands and the function that runs them; that
function returns an exit code or raises ``CliError``, which is printed here as one line
on stderr (never a traceback). See ``glidepath.cli.errors`` for the exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from glidepath.cli import models, optimize, simulate, up
from glidepath.cli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, CliError
from glidepath.cli.peers import START_ORDER

ENVIRONMENT_HELP = "\n".join(
    [
        "environment:",
        *(
            f"  {peer.env_var:<16} {peer.title} address (default {peer.default_address})"
            for peer in reversed(START_ORDER)
        ),
        "  REGISTRY_TOKEN   bearer token for `models delete` and `models cleanup`",
        "",
        "exit codes: 0 ok, 1 a service failed or is unreachable, 2 bad input, 130 Ctrl-C",
    ]
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glidepath",
        description="Retirement planning by Monte Carlo and reinforcement learning.",
        epilog=ENVIRONMENT_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (up, simulate, optimize, models):
        module.register(commands)
    return parser


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, and return its exit code."""
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
        return code
    except CliError as error:
        print(f"glidepath: {error.message}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("glidepath: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``glidepath models list | head``): stop quietly, as cat does.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> None:
    """The console script's entry point."""
    sys.exit(run(argv))
