"""The web front end in a real browser (headless chromium, Selenium) over a real stack.

``local_stack(web=True)`` starts the registry, training and simulation services and the
web front end as processes on free ports, as ``glidepath up`` does. A person's path:
fill the form for the example household field by field, run option A and watch the
progress (a reload reattaches), read the result and its summary; compare the rules
without the AI box; run option B and see the stored model serve it; a bad field shows
its message; delete the model on the management page; the form at 375 px. Budgets are
small (100 episodes, 500 evaluation lives) so that the module runs in well under three
minutes. Screenshots are written to WEB_ARTIFACTS (default: the temp directory);
``docs/web.png`` is one of them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cli_support import EXAMPLE
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.ui import WebDriverWait
from web_support import (
    artifacts,
    browser,
    full_screenshot,
    narrow_browser,
    narrow_screenshot,
)

from glidepath.advice.summary import (
    BEFORE,
    NOT_ADVICE,
    RE_RUN,
    RISK,
    RUIN,
    STRATEGY,
    SUCCESS,
    THIS_YEAR,
    WORDS_USED,
)
from glidepath.cli.stack import LocalStack, local_stack
from web_service import household_form as hf
from web_service.form_schema import GROUPS

pytestmark = pytest.mark.slow

EPISODES = 100
PATHS = 500
RUN_TIMEOUT = 150.0
PORTS = {"registry": 0, "training": 0, "simulation": 0, "web": 0}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    env = {
        "TRAINING_EVAL_LIVES": "300",
        "OPTIMIZE_PROFILE_PATHS": "300",
        "RL_SHIPPED_MODELS_DIR": "",  # no generic model: option B finds the exact one
    }
    with local_stack(tmp_path_factory.mktemp("web"), ports=PORTS, env=env, web=True) as up:
        yield up


@pytest.fixture(scope="module")
def url(stack: LocalStack) -> str:
    assert stack.web_url is not None
    return stack.web_url


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return artifacts(tmp_path_factory.mktemp("shots"))


@pytest.fixture
def driver() -> Iterator[WebDriver]:
    chrome = browser()
    try:
        yield chrome
    finally:
        chrome.quit()


def set_value(driver: WebDriver, name: str, value: str) -> None:
    element = driver.find_element(By.NAME, name)
    if element.tag_name == "select":
        Select(element).select_by_value(value)
        return
    element.clear()
    if value:
        element.send_keys(value)


def fill_household(driver: WebDriver, document: dict[str, Any]) -> None:
    """Type ``document`` into the form as a person would: rows added with the page's own
    buttons, then every field typed or chosen."""
    for group in GROUPS:
        if not group.repeated:
            continue
        wanted = hf.row_count(document, group)
        while len(driver.find_elements(By.CSS_SELECTOR, f'[id^="{group.key}-"].row')) < wanted:
            driver.find_element(By.CSS_SELECTOR, f'button[value="add:{group.key}"]').click()
    for group in GROUPS:
        rows: list[int | None] = (
            list(range(hf.row_count(document, group))) if group.repeated else [None]
        )
        for index in rows:
            for field in group.fields:
                name = hf.full_name(group, index, field)
                value = hf.value_at(document, name)
                if value or driver.find_element(By.NAME, name).get_attribute("value"):
                    set_value(driver, name, value)


def run_options(driver: WebDriver, *, pretrained: bool) -> None:
    set_value(driver, "episodes", str(EPISODES))
    set_value(driver, "paths", str(PATHS))
    box = driver.find_element(By.ID, "opt-pretrained")
    if box.is_selected() != pretrained:
        box.click()
    if pretrained:
        set_value(driver, "min_episodes", "50")


def page_overflow(driver: WebDriver) -> int:
    """Pixels the page is wider than the window (> 0: it scrolls sideways)."""
    overflow: int = driver.execute_script(
        "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    return overflow


def wait_for_result(driver: WebDriver) -> None:
    WebDriverWait(driver, RUN_TIMEOUT).until(lambda d: "/results/" in d.current_url)
    WebDriverWait(driver, 30).until(
        lambda d: d.execute_script("return !!document.querySelector('#chart-wealth .main-svg')")
    )


def test_option_a_from_a_form_filled_by_hand_with_live_progress(
    driver: WebDriver, url: str, shots: Path
) -> None:
    document = json.loads(EXAMPLE.read_text())
    driver.get(url + "/")
    fill_household(driver, document)
    run_options(driver, pretrained=False)
    estimate = driver.find_element(By.ID, "estimate").text
    assert f"A training of {EPISODES} episodes should take about" in estimate
    full_screenshot(driver, shots / "form.png")
    driver.set_window_size(1280, 900)
    submitted = time.monotonic()
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()
    # The click returns before the browser has followed the redirect on a busy machine.
    WebDriverWait(driver, 20).until(lambda d: "/household" not in d.current_url)
    assert "/runs/" in driver.current_url or "/results/" in driver.current_url
    WebDriverWait(driver, RUN_TIMEOUT).until(
        lambda d: (
            "/results/" in d.current_url
            or int(d.find_element(By.ID, "bar").get_attribute("value") or 0) > 0
        )
    )
    if "/runs/" in driver.current_url:
        driver.save_screenshot(str(shots / "progress.png"))
        driver.refresh()  # reattaches: the events are replayed, then followed live
        WebDriverWait(driver, 20).until(
            lambda d: (
                "/results/" in d.current_url
                or "Household checked" in d.find_element(By.ID, "log").text
            )
        )
    wait_for_result(driver)
    took = time.monotonic() - submitted
    result_url = driver.current_url
    summary = driver.find_element(By.ID, "summary").text
    assert summary.startswith("Recommended:")
    assert_summary(summary, this_year=True)
    assert "trained now" in driver.find_element(By.ID, "served").text
    assert "Your current plan" in driver.find_element(By.CSS_SELECTOR, "table.comparison").text
    assert "rl_policy" not in driver.find_element(By.TAG_NAME, "main").text
    gate = driver.find_element(By.ID, "gate").text
    assert gate.startswith(("Passed", "Not passed"))
    full_screenshot(driver, shots / "result.png")
    print(f"option A in the browser: {took:.1f} s from submit to result")
    driver.get(result_url)  # the result has its own URL
    assert driver.find_element(By.ID, "summary").is_displayed()
    narrow = narrow_browser()
    try:
        narrow.get(result_url)
        WebDriverWait(narrow, 30).until(
            lambda d: d.execute_script("return !!document.querySelector('#chart-wealth .main-svg')")
        )
        assert page_overflow(narrow) <= 0
        assert narrow.execute_script("return document.documentElement.clientWidth") == 375
        narrow_screenshot(narrow, shots / "result-375.png")
    finally:
        narrow.quit()


def assert_summary(summary: str, *, this_year: bool) -> None:
    """The summary's key lines, as glidepath.advice writes them (the CLI prints the same)."""
    lines = summary.splitlines()
    for heading in (RISK, STRATEGY, WORDS_USED, BEFORE):
        assert heading in lines, heading
    assert (THIS_YEAR in lines) == this_year
    if this_year:
        after = lines[lines.index(THIS_YEAR) + 1]
        assert after.startswith("At age "), after
        assert any(line.startswith("Hold ") and "% in stocks" in line for line in lines)
    assert any(" runs out of money in " in line for line in lines)
    assert any(line.startswith("Why: ") for line in lines)
    for line in (SUCCESS, RUIN, RE_RUN, NOT_ADVICE):
        assert line in lines, line


def test_without_the_ai_box_the_rules_are_compared(driver: WebDriver, url: str) -> None:
    driver.get(url + "/?example=household")
    set_value(driver, "paths", str(PATHS))
    box = driver.find_element(By.ID, "opt-ai")
    if box.is_selected():
        box.click()
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()
    wait_for_result(driver)
    summary = driver.find_element(By.ID, "summary").text
    assert summary.startswith("Recommended:")
    assert_summary(summary, this_year=False)
    assert not driver.find_elements(By.ID, "gate")


def test_option_b_is_served_by_the_stored_model(driver: WebDriver, url: str) -> None:
    driver.get(url + "/?example=household")
    run_options(driver, pretrained=True)
    driver.find_element(By.CSS_SELECTOR, "button.primary").click()
    wait_for_result(driver)
    served = driver.find_element(By.ID, "served").text
    assert served.startswith("exact"), served
    assert f"_{EPISODES}ep.zip" in driver.find_element(By.CSS_SELECTOR, "#served + dt + dd").text


def test_a_bad_field_shows_its_message_and_enter_submits(
    driver: WebDriver, url: str, shots: Path
) -> None:
    driver.get(url + "/?example=household")
    age = driver.find_element(By.NAME, "adults[0].currentAge")
    age.clear()
    age.send_keys("-3", Keys.ENTER)  # the keyboard alone: Enter starts
    message = driver.find_element(By.ID, "f-adults-0-currentAge-hint")
    assert message.text == "must be an age in [0, 120], got -3"
    assert driver.find_element(By.NAME, "adults[0].currentAge").get_attribute("aria-invalid")
    full_screenshot(driver, shots / "bad-field.png")


def test_the_form_reads_at_375_pixels(url: str, shots: Path) -> None:
    narrow = narrow_browser()
    try:
        narrow.get(url + "/?example=couple")
        assert page_overflow(narrow) <= 0
        assert narrow.execute_script("return document.documentElement.clientWidth") == 375
        narrow_screenshot(narrow, shots / "form-375.png")
    finally:
        narrow.quit()


def test_a_model_is_deleted_on_the_management_page(
    driver: WebDriver, url: str, shots: Path
) -> None:
    driver.get(url + "/models")
    links = driver.find_elements(By.CSS_SELECTOR, "#models tbody a")
    assert links, "option A stored no model"
    name = links[0].text
    links[0].click()
    assert name in driver.find_element(By.TAG_NAME, "h1").text
    full_screenshot(driver, shots / "model.png")
    driver.find_element(By.ID, "delete").click()
    assert "/models" in driver.current_url
    assert f"Deleted {name}" in driver.find_element(By.CSS_SELECTOR, ".notice").text
    assert name not in driver.find_element(By.ID, "models").text
