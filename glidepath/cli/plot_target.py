"""Where ``--plot`` writes, settled before anything is computed.

A chart that cannot be written must not cost a simulation or a training first, and
"wrote PATH" must name the file that exists afterwards. So the path is checked when the
command starts: its extension picks the format (``PLOT_FORMATS``; anything else is
refused here rather than by matplotlib deep inside ``savefig``); an existing directory
gets a file named after the household file and the command inside it
(``charts/household-simulate.png``, replaced when it exists, as any named target is);
a directory that does not exist or cannot be written to is refused.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from glidepath.cli.errors import EXIT_USAGE, CliError

FLAG = "--plot"
# The formats the chart is offered in: a picture, and two that scale for print.
PLOT_FORMATS = ("png", "svg", "pdf")
DEFAULT_FORMAT = "png"
_SUPPORTED = ", ".join(f".{name}" for name in PLOT_FORMATS)
PLOT_HELP = (
    f"write a chart to PATH ({_SUPPORTED}), or into the directory PATH as "
    f"<household file>-<command>.{DEFAULT_FORMAT}"
)


def plot_target(path: Path, household_file: Path, command: str) -> Path:
    """The file ``--plot PATH`` will write; CliError (exit 2) when it cannot be written."""
    if path.is_dir():
        path = path / f"{household_file.stem or 'household'}-{command}.{DEFAULT_FORMAT}"
    plot_format(path)
    _check_writable(path)
    return path


def plot_format(path: Path) -> str:
    """The format named by the path's extension; CliError (exit 2) for any other."""
    suffix = path.suffix.lower().removeprefix(".")
    if suffix in PLOT_FORMATS:
        return suffix
    problem = f"unsupported format .{suffix}" if suffix else "the file name has no extension"
    raise CliError(f"{FLAG} {path}: {problem} (supported: {_SUPPORTED})", EXIT_USAGE)


def _check_writable(path: Path) -> None:
    """The directory exists and takes a new file (tried for real: permissions, read-only
    file systems and quotas all answer the same way), and the path is no device or fifo."""
    directory = path.parent
    if not directory.is_dir():
        raise CliError(f"{FLAG} {path}: the directory {directory} does not exist", EXIT_USAGE)
    if path.exists() and not path.is_file():
        raise CliError(f"{FLAG} {path}: exists and is not a regular file", EXIT_USAGE)
    try:
        with tempfile.NamedTemporaryFile(dir=directory, prefix=f".{path.name}.", suffix=".tmp"):
            pass
    except OSError as error:
        reason = error.strerror or str(error)
        message = f"{FLAG} {path}: cannot write in {directory}: {reason}"
        raise CliError(message, EXIT_USAGE) from None
