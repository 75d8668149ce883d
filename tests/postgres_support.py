"""A real PostgreSQL server for the tests: ``initdb`` into a temporary directory and
``pg_ctl`` on a free loopback port, once per session; each test gets a fresh schema.

PostgreSQL refuses to run as root, and CI runs as root: there the server runs as the
``postgres`` system user (Debian's ``postgresql`` package creates it, and ``.ci/run``
installs the package when it is missing), in a directory handed to that user. That
directory is made directly under the system's temp directory, not under pytest's: every
pytest session started on the machine resets its own base directory to mode 700, which
would lock the postgres user out of a running server's files. The
server is started with ``fsync=off``: its data dies with the session. Each test gets a
schema of its own (:meth:`PostgresServer.new_schema`).
"""

from __future__ import annotations

import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import psycopg

SUPERUSER = "glidepath"
_BIN_ROOT = Path("/usr/lib/postgresql")


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's binaries (Debian puts them under a version)."""
    versions = sorted(
        (p for p in _BIN_ROOT.glob("*/bin") if (p / "initdb").exists()),
        key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
    )
    if not versions:
        raise RuntimeError(
            f"no PostgreSQL under {_BIN_ROOT}: install Debian's postgresql package "
            f"(.ci/run does when it is missing)"
        )
    return versions[-1]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class PostgresServer:
    """One throwaway server; :meth:`new_schema` hands out an empty index's URL."""

    def __init__(self) -> None:
        directory = Path(tempfile.mkdtemp(prefix="glidepath-postgres-"))
        self.directory = directory
        self.port = _free_port()
        self._bin = postgres_bin()
        self._as_root = os.geteuid() == 0
        self._names = itertools.count(1)
        if self._as_root:
            shutil.chown(directory, user="postgres")
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", SUPERUSER, "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        options = (
            f"-c listen_addresses=127.0.0.1 -p {self.port} -k {directory} "
            f"-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.log), "-w", "start")

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def log(self) -> Path:
        return self.directory / "log"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def new_schema(self) -> str:
        """The URL of a schema created just now, empty (no table, no migration): the URL
        puts it first on the search path, so the registry's tables are made in it, and
        names it as the sessions' application_name. A schema costs a millisecond where a
        database costs a checkpoint (hundreds of milliseconds on a busy machine)."""
        name = f"test_{next(self._names)}"
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'CREATE SCHEMA "{name}"')
        return f"{self.url()}?options=-csearch_path%3D{name}&application_name={name}"

    def drop_schema(self, url: str) -> None:
        """Drop a schema :meth:`new_schema` made, with its tables."""
        name = url.rsplit("application_name=", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as admin:
            admin.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')

    def stop(self) -> None:
        """Stop the server and remove its files."""
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.directory, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [str(self._bin / program), *args]
        if self._as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace") if self.log.exists() else ""
            raise RuntimeError(
                f"{program} failed ({result.returncode}): {result.stderr.strip()}\n{log[-2000:]}"
            )
