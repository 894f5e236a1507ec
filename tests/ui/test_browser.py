"""The dashboard in a real browser: headless Chromium (Debian's package) driven by Playwright,
against real uvicorn. The runs list follows a run submitted through the API to `completed`
without a reload; a run page shows the decision, the plots and the step log; the model page
shows the champion history; API-key sign-in works and a reader cannot submit; the event stream
resumes after a dropped connection with no event lost.

Screenshots of each page are saved under pytest's temporary directory (printed at the end of
the run) for a person to look at. Without Chromium these tests skip locally; in CI (CI=true)
they fail instead, so a missing install step cannot hide behind a skip.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.main import create_app
from app.settings import Settings
from tests.support.auth import KEYS, api_keys_setting
from tests.support.fakebackend import build
from tests.support.http import LiveServer, wait_for
from tests.support.sse import SseClient

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# Known to work here: no sandbox (root in a container), no GPU, nothing that phones home.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def chromium() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        message = "Chromium is not installed (apt-get install chromium): the browser tests need it"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        # Playwright gives every launch a fresh, temporary profile (user data dir).
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    return folder


@pytest.fixture
def browser_page(chromium: Any, shots: Path) -> Iterator[Any]:
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda error: problems.append(str(error)))
    page.on("console", lambda message: message.type == "error" and problems.append(message.text))
    yield page
    context.close()  # closes the page's event streams before its server stops
    assert problems == [], problems


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The real local backend (steps really run) behind real uvicorn."""
    data_dir = tmp_path_factory.mktemp("browser") / "data"
    with LiveServer(create_app(Settings(data_dir=data_dir))) as live:
        yield live


def no_reload_marker(page: Any) -> None:
    page.evaluate("window.trainctlMarker = 'still the same document'")


def same_document(page: Any) -> bool:
    return bool(page.evaluate("window.trainctlMarker === 'still the same document'"))


def until_true(page: Any, expression: str, timeout: float = 30) -> None:
    """Poll a JavaScript expression from here: the page's own CSP (rightly) forbids the eval
    Playwright's wait_for_function would run inside it."""
    wait_for(lambda: page.evaluate(expression), timeout=timeout, interval=0.1)


def live(page: Any) -> None:
    until_true(page, "document.getElementById('live-status').textContent.startsWith('Live')")


def test_the_runs_list_follows_a_run_from_the_api_to_completed(
    browser_page: Any, service: LiveServer, shots: Path
) -> None:
    page = browser_page
    page.goto(f"{service.url}/ui/runs")
    live(page)
    no_reload_marker(page)
    count = int(page.locator("#run-count").get_attribute("data-count"))
    body = {"kind": "pipeline", "model_name": "browser-list", "hyperparameters": {"reg_rate": 0.0771}}
    run_id = httpx.post(f"{service.url}/v1/training-runs", json=body, timeout=30).json()["id"]
    row = page.locator(f"#run-{run_id}")
    row.wait_for(timeout=15_000)
    page.screenshot(path=shots / "runs-arriving.png", full_page=True)
    row.locator(".status-completed").wait_for(timeout=120_000)
    assert same_document(page), "the page reloaded"
    assert "local" in row.inner_text()  # who submitted
    assert page.locator("#run-count").get_attribute("data-count") == str(count + 1)
    assert row.locator("[data-ended]").inner_text().endswith("s")  # its duration
    page.screenshot(path=shots / "runs.png", full_page=True)
    page.set_viewport_size({"width": 375, "height": 800})
    page.screenshot(path=shots / "runs-375px.png", full_page=True)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375 + 1  # no sideways page


def test_a_run_page_shows_the_decision_the_plots_and_the_step_log(
    browser_page: Any, service: LiveServer, shots: Path
) -> None:
    page = browser_page
    body = {"kind": "pipeline", "model_name": "browser-run", "hyperparameters": {"reg_rate": 0.0662}}
    run_id = httpx.post(f"{service.url}/v1/training-runs", json=body, timeout=30).json()["id"]
    page.goto(f"{service.url}/ui/runs/{run_id}")
    live(page)
    no_reload_marker(page)
    page.locator(".verdict").wait_for(timeout=120_000)
    assert "Promoted: version 1 is now the champion of browser-run" in page.locator(".verdict").inner_text()
    assert "no champion yet" in page.inner_text("main")
    assert page.locator("table.decision tr.rule th").inner_text().startswith("roc_auc")
    plots = page.locator(".plots img")
    assert plots.count() >= 3
    page.wait_for_function(
        "[...document.querySelectorAll('.plots img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    wait_for(
        lambda: (
            "Successfully registered model" in page.locator("pre.log[data-step=register-model]").inner_text()
        )
    )
    assert same_document(page), "the page reloaded"
    page.screenshot(path=shots / "run.png", full_page=True)
    # The keyboard reaches every link and the logs.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"


def test_the_model_page_shows_the_champion_history(
    browser_page: Any, service: LiveServer, shots: Path
) -> None:
    page = browser_page
    model = "browser-model"
    for reg_rate in (0.0551, 0.0552):
        body = {"kind": "pipeline", "model_name": model, "hyperparameters": {"reg_rate": reg_rate}}
        run_id = httpx.post(f"{service.url}/v1/training-runs", json=body, timeout=30).json()["id"]
        httpx.get(f"{service.url}/v1/training-runs/{run_id}/wait", params={"timeout": 120}, timeout=130)
    history = httpx.get(f"{service.url}/v1/models/{model}", timeout=30).json()["champion_history"]
    page.goto(f"{service.url}/ui/models/{model}")
    entries = page.locator("ol.timeline-list li")
    assert entries.count() == len(history) >= 1
    newest = history[-1]
    assert f"Version {newest['version']} became champion" in entries.first.inner_text()
    assert page.locator("svg.chart circle.champion").count() == 1
    assert "★ champion" in page.locator("tr.is-champion").inner_text()
    page.screenshot(path=shots / "model.png", full_page=True)
    page.goto(f"{service.url}/ui/models")
    assert model in page.inner_text("main")
    page.screenshot(path=shots / "models.png", full_page=True)


@pytest.fixture(scope="module")
def keyed_service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    built = build(
        tmp_path_factory.mktemp("browser-keyed") / "data", auth_mode="api-key", api_keys=api_keys_setting()
    )
    with LiveServer(built.app) as live:
        yield live


def sign_in(page: Any, url: str, role: str) -> None:
    page.goto(f"{url}/ui/runs")
    page.wait_for_url("**/ui/signin**")
    page.fill("input[name=api_key]", KEYS[role])
    page.click("button:has-text('Sign in')")
    page.wait_for_url("**/ui/runs")


def test_sign_in_with_an_api_key_and_a_reader_cannot_submit(
    chromium: Any, keyed_service: LiveServer, shots: Path
) -> None:
    reader = chromium.new_context()
    page = reader.new_page()
    sign_in(page, keyed_service.url, "reader")
    assert "reader" in page.inner_text("header")
    assert page.locator("nav a[href='/ui/submit']").count() == 0
    cookies = {c["name"]: c for c in reader.cookies()}
    assert cookies["trainctl_session"]["httpOnly"] and cookies["trainctl_session"]["sameSite"] == "Strict"
    answer = page.goto(f"{keyed_service.url}/ui/submit")
    assert answer.status == 403 and "needs the submitter role" in page.inner_text("main")
    page.screenshot(path=shots / "reader-cannot-submit.png", full_page=True)
    reader.close()

    submitter = chromium.new_context()
    page = submitter.new_page()
    sign_in(page, keyed_service.url, "submitter")
    page.click("nav a[href='/ui/submit']")
    page.fill("input[name=model_name]", "signed-in-model")
    page.screenshot(path=shots / "submit.png", full_page=True)
    page.dblclick("button:has-text('Submit')")  # a double click makes one run
    page.wait_for_url("**/ui/runs/run-*")
    page.locator(".verdict").wait_for(timeout=30_000)
    listed = httpx.get(
        f"{keyed_service.url}/v1/training-runs",
        params={"model_name": "signed-in-model"},
        headers={"X-API-Key": KEYS["reader"]},
    ).json()["items"]
    assert len(listed) == 1
    submitter.close()


def test_the_event_stream_resumes_after_a_dropped_connection_with_no_event_lost(
    browser_page: Any, tmp_path_factory: pytest.TempPathFactory, shots: Path
) -> None:
    page = browser_page
    built = build(tmp_path_factory.mktemp("browser-resume") / "data")
    with LiveServer(built.app) as server:
        hub = built.app.state.services.lifecycle.hub
        page.goto(f"{server.url}/ui/runs")
        live(page)
        no_reload_marker(page)
        start = int(page.evaluate("document.body.dataset.lastEventId"))

        def submit(n: int) -> list[str]:
            runs = [
                httpx.post(
                    f"{server.url}/v1/training-runs", json={"kind": "job", "model_name": f"resume-{i}"}
                ).json()["id"]
                for i in range(n)
            ]
            for run in runs:
                httpx.get(f"{server.url}/v1/training-runs/{run}/wait", params={"timeout": 30})
            return runs

        before = submit(2)
        # The server drops every stream; runs go on while the browser is away.
        hub._loop.call_soon_threadsafe(hub.close_streams)
        page.wait_for_function(
            "document.getElementById('live-status').textContent.startsWith('Connection lost')"
        )
        during = submit(3)
        after = submit(1)
        runs = before + during + after
        for run in runs:
            page.locator(f"#run-{run} .status-completed").wait_for(timeout=20_000)
        assert same_document(page), "the page reloaded"

        # Every event the page's filter selects, straight from the API, for comparison.
        expected: list[int] = []
        params = {"last_event_id": start, "kind": ["run.created", "run.state"]}
        with SseClient(f"{server.url}/v1/events", params=params) as stream:
            frames = stream.until(
                lambda f: f.json["run_id"] == after[-1] and f.json["data"]["status"] == "completed"
            )
            expected = [f.id for f in frames]
        seen = page.evaluate("window.trainctlEvents")
        deadline = time.monotonic() + 10
        while seen[: len(expected)] != expected and time.monotonic() < deadline:
            time.sleep(0.2)
            seen = page.evaluate("window.trainctlEvents")
        assert seen[: len(expected)] == expected  # all of them, in order, none twice
        page.screenshot(path=shots / "runs-after-reconnect.png", full_page=True)
        page.close()


def test_zz_where_the_screenshots_are(shots: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with capsys.disabled():
        print(f"\nbrowser screenshots: {shots}")
    assert shots.is_dir()
