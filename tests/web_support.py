"""Helpers for the web front end's tests: the web service as a real process, and a
headless chromium driven by Selenium.

The browser is Debian's ``chromium`` with its ``chromedriver`` (``.ci/run`` installs
both when missing); Selenium Manager is kept offline (SE_OFFLINE), so nothing is
downloaded. Screenshots go to ``WEB_ARTIFACTS`` (default: the test's temp directory).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service

from web_service import household_form as hf
from web_service.form_schema import GROUPS

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
START_TIMEOUT = 60.0


@contextmanager
def web_process(tmp: Path, env: Mapping[str, str], *, log_name: str = "web.log") -> Iterator[str]:
    """``python -m web_service --port 0`` with ``env``; yields its base URL."""
    port_file = tmp / "web.port"
    port_file.unlink(missing_ok=True)
    with (tmp / log_name).open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "web_service", "--port", "0", "--port-file", str(port_file)],
            env={**os.environ, **env},
            cwd=ROOT,
            stdout=log,
            stderr=log,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not port_file.exists():
            assert process.poll() is None, (tmp / log_name).read_text()
            assert time.monotonic() < deadline, "the web service did not bind a port"
            time.sleep(0.05)
        url = f"http://127.0.0.1:{int(port_file.read_text())}"
        while True:
            try:
                with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                assert time.monotonic() < deadline, "the web service did not answer /health"
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def browser(width: int = 1280, height: int = 900) -> webdriver.Chrome:
    """Headless chromium at ``width`` x ``height``."""
    os.environ["SE_OFFLINE"] = "true"
    options = Options()
    options.binary_location = CHROMIUM
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        f"--window-size={width},{height}",
    ):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def narrow_browser(width: int = 375, height: int = 800) -> webdriver.Chrome:
    """Headless chromium showing pages ``width`` px wide, as a phone does. Its window
    cannot be narrower than 500 px, so the width is set by device emulation."""
    chrome = browser(500, height)
    chrome.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": True},
    )
    return chrome


def narrow_screenshot(driver: webdriver.Chrome, path: Path, width: int = 375) -> None:
    """The whole page at the emulated ``width``."""
    height = int(driver.execute_script("return document.documentElement.scrollHeight"))
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": min(height, 12000), "deviceScaleFactor": 1, "mobile": True},
    )
    driver.save_screenshot(str(path))


def artifacts(tmp: Path) -> Path:
    """Where screenshots go: WEB_ARTIFACTS when set, else ``tmp``."""
    where = Path(os.environ.get("WEB_ARTIFACTS", "") or tmp)
    where.mkdir(parents=True, exist_ok=True)
    return where


def full_screenshot(driver: webdriver.Chrome, path: Path) -> None:
    """The whole page, not only the window: the window grows to the page's height."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    width = driver.get_window_size()["width"]
    driver.set_window_size(width, min(int(height) + 120, 12000))
    driver.save_screenshot(str(path))


def form_fields(document: dict[str, Any]) -> dict[str, str]:
    """What the browser posts for a form showing ``document``."""
    form: dict[str, str] = {}
    for group in GROUPS:
        indices: list[int | None] = (
            list(range(hf.row_count(document, group))) if group.repeated else [None]
        )
        if group.repeated:
            form[hf.count_name(group)] = str(len(indices))
        for index in indices:
            for field in group.fields:
                name = hf.full_name(group, index, field)
                form[name] = hf.value_at(document, name)
    if "annuities" in document:
        form[hf.ANNUITIES_OFFERED] = "1"
    return form


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    events = []
    for block in text.split("\n\n"):
        kind = re.search(r"^event: (\S+)$", block, re.M)
        data = re.search(r"^data: (.*)$", block, re.M)
        if kind and data:
            events.append((kind.group(1), json.loads(data.group(1))))
    return events
