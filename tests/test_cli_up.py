"""``glidepath up`` as a real process, and ``local_stack()`` when a service cannot start.

``up`` is run through the installed console script, stopped with SIGTERM as a supervisor
(or Ctrl-C) would, and must leave nothing listening: the next client call gets the clear
"cannot connect" line, not a traceback.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from cli_support import CLI_TIMEOUT, ROOT, cli_env, one_error_line, run_cli

from glidepath.cli.peers import REGISTRY
from glidepath.cli.stack import StackError, local_stack

pytestmark = pytest.mark.slow

CONSOLE_SCRIPT = Path(sys.executable).parent / "glidepath"


def read_addresses(process: subprocess.Popen[str]) -> dict[str, str]:
    """The "  <service>  <host:port>  log ..." lines ``up`` prints once all are SERVING."""
    assert process.stdout is not None
    addresses: dict[str, str] = {}
    for line in process.stdout:
        match = re.match(r"\s+(registry|training|simulation)\s+(\S+:\d+)\s", line)
        if match:
            addresses[match.group(1)] = match.group(2)
        web = re.match(r"Open (http://\S+:\d+) in a browser", line)
        if web:
            addresses["web"] = web.group(1)
        if line.startswith("Press Ctrl-C"):
            return addresses
    raise AssertionError(f"glidepath up ended before serving (exit {process.wait()})")


def start_up(data_dir: Path) -> subprocess.Popen[str]:
    """``glidepath up`` through the console script, every service on a free port."""
    ports = [f"--{key}-port=0" for key in ("registry", "training", "simulation", "web")]
    return subprocess.Popen(
        [str(CONSOLE_SCRIPT), "up", "--data-dir", str(data_dir), *ports],
        cwd=ROOT,
        env=cli_env({}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def children(pid: int) -> dict[str, int]:
    """The services ``up`` started: module name -> process id (Linux /proc)."""
    found: dict[str, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            command = (stat.parent / "cmdline").read_bytes().split(b"\0")
        except (OSError, IndexError, ValueError):
            continue
        if parent == pid and len(command) > 2 and command[1] == b"-m":
            found[command[2].decode()] = int(stat.parent.name)
    return found


def test_up_serves_the_client_then_stops_cleanly_and_leaves_nothing_listening(
    tmp_path: Path,
) -> None:
    process = start_up(tmp_path / "var")
    try:
        addresses = read_addresses(process)
        env = {REGISTRY.env_var: addresses["registry"]}
        listed = run_cli("models", "list", env=env)
        assert listed.returncode == 0, listed.stderr
        assert listed.stdout.strip() == "No models stored."
        with urllib.request.urlopen(f"{addresses['web']}/health", timeout=10) as health:
            assert json.load(health) == {"status": "SERVING"}
        process.send_signal(signal.SIGTERM)
        stdout, stderr = process.communicate(timeout=CLI_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 0, f"{stdout}\n{stderr}"
    assert "Stopped (web exit 0, simulation exit 0, training exit 0, registry exit 0)." in stdout
    assert (tmp_path / "var" / "models" / "rl").is_dir()
    after = run_cli("models", "list", env=env)
    line = one_error_line(after, 1)
    assert line.startswith(f"glidepath: cannot connect to the registry at {addresses['registry']}")
    assert "`glidepath up`" in line


def test_up_stops_everything_and_fails_when_a_service_dies(tmp_path: Path) -> None:
    process = start_up(tmp_path / "var")
    try:
        read_addresses(process)
        services = children(process.pid)
        assert set(services) == {
            "model_registry_service",
            "training_service",
            "simulation_service",
            "web_service",
        }
        os.kill(services["model_registry_service"], signal.SIGKILL)
        stdout, stderr = process.communicate(timeout=CLI_TIMEOUT)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.returncode == 1
    assert "simulation exit 0, training exit 0" in stdout
    assert (
        stderr.strip()
        == f"glidepath: registry stopped unexpectedly; see {tmp_path / 'var' / 'logs'}"
    )
    assert not any(Path(f"/proc/{pid}").exists() for pid in services.values())


def test_local_stack_names_a_service_that_cannot_bind_its_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        ports = {"registry": port, "training": 0, "simulation": 0}
        with (
            pytest.raises(StackError, match="registry exited with code") as caught,
            local_stack(tmp_path, ports=ports, start_timeout=60),
        ):
            pass
    assert str(tmp_path / "logs" / "registry.log") in str(caught.value)
    print(caught.value)


def test_a_second_up_says_the_port_is_in_use_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(
            "up", "--data-dir", str(tmp_path / "var"), "--training-port", str(port), env={}
        )
    line = one_error_line(result, 1)
    assert line == (
        f"glidepath: port {port} (training service) on 127.0.0.1 is in use: is another "
        "`glidepath up` running? Stop it, or choose another with --training-port"
    )
    assert not (tmp_path / "var" / "logs").exists()  # nothing was started


def test_an_address_that_is_not_this_machines_is_a_usage_error(tmp_path: Path) -> None:
    # 192.0.2.0/24 is reserved for documentation: no machine has it.
    result = run_cli("up", "--data-dir", str(tmp_path / "var"), "--host", "192.0.2.1", env={})
    line = one_error_line(result, 2)
    assert line.startswith("glidepath: cannot listen on 192.0.2.1 port 50053 (registry")
