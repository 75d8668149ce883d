"""A glidepath service as a real child process: started with ``--port 0 --port-file``,
its stderr (the JSON log) captured to a file, killed or stopped by the test."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from glidepath.rpc.channel import open_channel, wait_until_serving
from glidepath.rpc.tls import ClientTls

ROOT = Path(__file__).resolve().parent.parent


class ServiceProcess:
    """``python -m <module>`` on a free loopback port; ``address`` once it serves."""

    def __init__(
        self,
        module: str,
        workdir: Path,
        env: Mapping[str, str],
        *,
        service_name: str = "",
        tls: ClientTls | None = None,
        timeout: float = 30.0,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port_file = workdir / f"{module}.port"
        self.port_file.unlink(missing_ok=True)
        self.log_path = workdir / f"{module}.{time.monotonic_ns()}.log"
        self._log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", module, "--port", "0", "--port-file", str(self.port_file)],
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=subprocess.DEVNULL,
            stderr=self._log,
        )
        self.port = self._wait_for_port(timeout)
        self.address = f"127.0.0.1:{self.port}"
        self.channel = open_channel(self.address, tls)
        wait_until_serving(self.channel, service_name, timeout=timeout)

    def _wait_for_port(self, timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.port_file.exists():
                return int(self.port_file.read_text())
            if self.process.poll() is not None:
                raise AssertionError(f"the service exited early:\n{self.log()}")
            time.sleep(0.05)
        raise AssertionError(f"the service never wrote its port file:\n{self.log()}")

    def log(self) -> str:
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """SIGKILL: no handler runs, nothing is cleaned up (a crash, a power cut)."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)
        self.close()

    def stop(self) -> int:
        """SIGTERM and wait; the exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self.close()
        return self.process.returncode

    def close(self) -> None:
        self.channel.close()
        self._log.close()
