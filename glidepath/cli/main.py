"""``glidepath``: the command line, and the one place failures become exit codes.

Each command module registers its sub-commands and the function that runs them; that
function returns an exit code or raises ``CliError``, which is printed here as one line
on stderr. Whatever else escapes a command is caught here too, so that no command ever
ends in a traceback: Ctrl-C is "interrupted" (130), a reader that went away
(``glidepath models list | head``) ends the output quietly (0, as ``cat`` does), and any
other exception is one "internal error" line asking for a report (1). See
``glidepath.cli.errors`` for the exit codes.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from glidepath.cli import models, optimize, simulate, up
from glidepath.cli.credentials import FALLBACK_TOKEN_VARIABLE, TOKEN_VARIABLE
from glidepath.cli.errors import EXIT_FAILURE, EXIT_INTERRUPTED, EXIT_OK, CliError, one_line
from glidepath.cli.peers import START_ORDER

ENVIRONMENT_HELP = "\n".join(
    [
        "environment:",
        *(
            f"  {peer.env_var:<16} {peer.title} address (default {peer.default_address})"
            for peer in reversed(START_ORDER)
        ),
        f"  {TOKEN_VARIABLE:<16} your credential (bearer token), sent with every call to",
        "                   every service; needed for changes (models delete and cleanup,",
        "                   optimize, training) on services that run with credentials",
        f"  {FALLBACK_TOKEN_VARIABLE:<16} used when {TOKEN_VARIABLE} is not set",
        "",
        "exit codes: 0 ok, 1 a service failed or is unreachable (or an internal error),",
        "2 bad input, 130 Ctrl-C",
    ]
)
# An unexpected exception's message is echoed up to this many characters; our own lines
# are longer (they echo a path and a server's message of up to MESSAGE_LIMIT).
INTERNAL_MESSAGE_LIMIT = 200
CLI_ERROR_LIMIT = 2000


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
    _mark_usage(parser)
    return parser


def _mark_usage(parser: argparse.ArgumentParser) -> None:
    """Each (sub)command's parser records itself, so that an unknown flag is reported
    with the usage of the command it was given to (``glidepath models cleanup``), not
    the top level's, which lists no flag at all."""
    parser.set_defaults(usage_parser=parser)
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for child in action.choices.values():
                _mark_usage(child)


def run(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv``, run the command, and return its exit code (never raises)."""
    try:
        code = _run(argv)
        # Written out now, inside the guard: a reader gone away shows here, not at exit.
        sys.stdout.flush()
        return code
    except CliError as error:
        # One line even when it echoes a file name with a newline in it.
        print(f"glidepath: {one_line(error.message, CLI_ERROR_LIMIT)}", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        print("glidepath: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``glidepath models list | head``): stop quietly, as cat
        # does, and point stdout at /dev/null so the interpreter's last flush is silent.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as error:  # the guard's purpose: no command ends in a traceback
        return internal_error(error)


def _run(argv: Sequence[str] | None) -> int:
    try:
        args, unknown = build_parser().parse_known_args(argv)
        if unknown:
            args.usage_parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    except SystemExit as usage:  # --help (0) or a usage error (2), already printed
        return usage.code if isinstance(usage.code, int) else EXIT_FAILURE
    code: int = args.run(args)
    return code


def internal_error(error: BaseException) -> int:
    """One line naming the unexpected exception, clipped, asking for a report."""
    message = one_line(str(error), INTERNAL_MESSAGE_LIMIT) or "(no message)"
    line = f"glidepath: internal error: {type(error).__name__}: {message}; please report it"
    print(line, file=sys.stderr)
    return EXIT_FAILURE


def main(argv: Sequence[str] | None = None) -> None:
    """The console script's entry point."""
    sys.exit(run(argv))
