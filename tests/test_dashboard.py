"""The dashboard in headless Chromium against a running server with the bundled data."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from service.installation import installation
from service.keys import create_key
from store.db import make_engine
from tests.conftest import SECRET, served_settings, serving
from training import issuing
from training.track_record import record_outcomes

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"

# A real browser (Debian's Chromium) against live servers: run by `make test-integration`.
pytestmark = pytest.mark.integration


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "the dashboard test needs Debian's chromium: `make test` installs it"
    return found


@pytest.fixture
def server(sqlite_served_home: Path) -> Iterator[tuple[str, dict[str, str], str]]:
    yield from _server(sqlite_served_home, "admin")


@pytest.fixture
def private_server(sqlite_served_home: Path) -> Iterator[tuple[str, dict[str, str], str]]:
    yield from _server(sqlite_served_home, "reader", public_forecasts="false")


def _server(home: Path, role: str, **extra: str) -> Iterator[tuple[str, dict[str, str], str]]:
    engine = make_engine(f"sqlite:///{home / 'threatcast.db'}")
    key = create_key(engine, f"dashboard-{role}", role)[1]
    record_outcomes(engine)  # the forecasts issued at 2021-10 for 2021-11 and 2021-12 are scored
    engine.dispose()
    settings = {"refresh_s": "0.3", **extra}
    env = {**os.environ, "THREATCAST_HOME": str(home), "THREATCAST_DATABASE_URL": "",
           "THREATCAST_SECRET_KEY": SECRET}  # fmt: skip
    with serving(home, **settings) as (_, url):
        yield url, env, key


def _post(url: str, body: dict[str, object], key: str) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
    )  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201


def _fills(page: Page) -> dict[str, str]:
    return page.eval_on_selector_all(
        "#map path",
        "paths => Object.fromEntries(paths.map(p => [p.dataset.region, p.getAttribute('fill')]))",
    )


def test_dashboard_map_chart_alerts_offline(server: tuple[str, dict[str, str], str]) -> None:
    url, env, admin = server
    requested: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        # Playwright's string predicates need eval, which the page's CSP forbids; the page itself
        # is checked against its CSP below.
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        page.on("request", lambda request: requested.append(request.url))
        page.goto(f"{url}/?refresh=1")
        page.wait_for_function("document.querySelectorAll('#map path').length === 7")
        fills = _fills(page)
        assert sorted(fills) == ["PK-BA", "PK-GB", "PK-IS", "PK-JK", "PK-KP", "PK-PB", "PK-SD"]
        assert all(colour.startswith("#") and colour != "#ccc" for colour in fills.values())
        assert len(set(fills.values())) >= 3  # a scale, not one colour
        assert page.locator("#map-table tbody tr").count() == 7  # the text alternative
        banner = page.locator("#stale-banner")  # the bundled data end in 2021: say so
        assert banner.is_visible() and "Data end 2021-12" in banner.inner_text()
        assert "months old" in banner.inner_text() and "pak-ucdp-month" in banner.inner_text()
        picker = page.locator("#series")  # one series at a time: sources are never added
        assert picker.input_value() == "pak-ucdp-month"
        assert "UCDP, monthly (data to 2021-12)" in picker.inner_text()

        # One actor group's forecasts: the map and its legend follow the group.
        kp_label = (
            'document.querySelector(\'#map path[data-region="PK-KP"]\').getAttribute("aria-label")'
        )
        all_actors = page.evaluate(kp_label)
        page.select_option("#actor", "baloch")
        page.wait_for_function(
            "document.getElementById('legend').textContent.includes('Baloch separatists')"
        )
        assert page.locator('#target option[value="p_severe"]').is_disabled()
        ba = page.get_attribute('#map path[data-region="PK-BA"]', "aria-label") or ""
        assert ba.startswith("Balochistan: probability of an event")
        assert page.evaluate(kp_label) != all_actors  # Baloch events in KP are rarer than all
        page.select_option("#actor", "")
        page.wait_for_function(
            "!document.getElementById('legend').textContent.includes('Baloch separatists')"
        )

        page.locator('#map path[data-region="PK-KP"]').click()
        page.wait_for_function("document.querySelectorAll('#chart rect').length > 20")
        assert "Khyber Pakhtunkhwa" in page.inner_text("#chart-title")
        assert "80% forecast intervals" in page.inner_text("#chart-desc")
        # The model's interval coverage, of randomized PITs beside whole counts.
        page.wait_for_function(
            "document.getElementById('model-facts').textContent.includes('of PITs')"
        )
        page.wait_for_function("document.querySelectorAll('#change li').length > 1")
        assert "at the 2021-10 issue" in page.inner_text("#change")  # why it moved since then

        page.locator('#map path[data-region="PK-BA"]').focus()
        page.keyboard.press("Enter")  # keyboard use
        page.wait_for_function(
            "document.getElementById('chart-title').textContent.includes('Balochistan')"
        )

        page.wait_for_function("document.querySelectorAll('#reliability circle').length > 0")
        page.wait_for_function("document.querySelectorAll('#skill-chart polyline').length === 7")
        assert "2 months scored" in page.inner_text("#skill-summary")
        assert "Brier skill against the trailing-12 share" in page.inner_text("#skill-summary")
        assert "No firing alerts" in page.inner_text("#alerts")

        _post(
            f"{url}/v1/alert-rules",
            {"name": "KP attack risk", "region": "PK-KP", "threshold": 0.5, "severity": "critical"},
            admin,
        )
        subprocess.run(
            [sys.executable, "-m", "service", "forecast", "--output", str(Path(env["THREATCAST_HOME"]) / "f.csv")],
            env=env, check=True, capture_output=True,
        )  # fmt: skip
        page.wait_for_function(
            "document.getElementById('alerts').textContent.includes('KP attack risk')",
            timeout=20000,
        )
        assert "critical" in page.inner_text("#alerts")

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard.png"), full_page=True)

        strict = browser.new_page()  # the page under its own Content-Security-Policy
        messages: list[str] = []
        strict.on("console", lambda message: messages.append(message.text))
        strict.goto(url)
        strict.locator("#legend .bar").wait_for(state="attached")
        strict.locator("#map path").nth(6).wait_for(state="attached")
        assert not [m for m in messages if "Content Security Policy" in m], messages
        browser.close()
    assert (ARTIFACTS / "dashboard.png").stat().st_size > 10_000
    outside = [u for u in requested if not u.startswith(url)]
    assert outside == [], outside


def test_the_dashboard_reads_a_private_server_with_a_reader_key(
    private_server: tuple[str, dict[str, str], str],
) -> None:
    url, _, reader = private_server
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(bypass_csp=True)
        page.goto(f"{url}/?refresh=1")
        page.wait_for_function(
            "document.getElementById('model-line').textContent.includes('HTTP 401')"
        )
        page.fill("#api-key", reader)
        page.dispatch_event("#api-key", "change")
        page.wait_for_function("document.querySelectorAll('#map path').length === 7")
        assert "pak-ucdp-month: model " in page.inner_text("#model-line")
        browser.close()


def test_the_dashboard_draws_the_country_of_the_series(south_asia_home: Path) -> None:
    with (
        serving(south_asia_home, default_series="afg-acled-month") as (_, url),
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        page.goto(f"{url}/?refresh=1")
        page.wait_for_function("document.querySelectorAll('#map path').length === 34")
        fills = _fills(page)
        assert all(code.startswith("AF-") for code in fills) and "AF-KNR" in fills
        assert all(colour != "#ccc" for colour in fills.values())
        assert "Afghanistan" in page.inner_text("#map-title")
        assert "Afghanistan: ACLED, monthly" in page.inner_text("#series")
        actors = page.eval_on_selector_all("#actor option", "o => o.map(x => x.textContent)")
        assert actors == ["All actors", "Taliban", "ISKP / Islamic State",
                          "Anti-Taliban resistance"]  # fmt: skip
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-afghanistan.png"), full_page=True)
        # India was defined from its data's names: no boundaries, so a table, not a map.
        page.select_option("#series", "ind-acled-month")
        page.wait_for_function("document.getElementById('map').hasAttribute('hidden')")
        assert page.locator("#no-map").is_visible()
        page.wait_for_function("document.querySelectorAll('#map-table tbody tr').length === 3")
        assert "Jammu and Kashmir" in page.inner_text("#map-table")
        browser.close()


def test_the_dashboard_drills_down_to_a_provinces_districts(
    district_template: Path, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    shutil.copytree(district_template, home)
    (home / "database_url.txt").write_text(f"sqlite:///{home / 'threatcast.db'}")
    settings = served_settings(home)
    engine = make_engine(settings.database_url)
    version = (home / "district_version.txt").read_text()
    issuing.promote(engine, installation(settings), version, "ops", "districts")
    engine.dispose()
    with serving(home, refresh_s="0.3") as (_, url), sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
        page.goto(f"{url}/?refresh=1")
        page.wait_for_function("document.querySelectorAll('#map path').length === 7")
        # District series are reached from their province, not listed beside it.
        assert page.eval_on_selector_all("#series option", "o => o.map(x => x.value)") == [
            "pak-ucdp-month"
        ]
        page.click("#map path[data-region='PK-KP']")
        page.wait_for_selector("#drill:not([hidden])")
        page.click("#drill")
        page.wait_for_function("document.querySelectorAll('#map path').length === 31")
        fills = _fills(page)
        assert all(code.startswith("PK-KP-") for code in fills)
        assert all(colour != "#ccc" for colour in fills.values())
        assert "Risk by district: Khyber Pakhtunkhwa" in page.inner_text("#map-title")
        # The table lists the remainder too: events placed only in the province.
        page.wait_for_function("document.querySelectorAll('#map-table tbody tr').length === 32")
        assert "Khyber Pakhtunkhwa, not placed in a district" in page.inner_text("#map-table")
        page.click("#map path[data-region='PK-KP-NORTH_WAZIRISTAN']")
        page.wait_for_function(
            "document.getElementById('chart-title').textContent.startsWith('North Waziristan')"
        )
        assert page.locator("#chart rect").count() > 24  # its observed months and forecasts
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "dashboard-districts.png"), full_page=True)
        page.click("#back")
        page.wait_for_function("document.querySelectorAll('#map path').length === 7")
        page.wait_for_function(
            "document.getElementById('chart-title').textContent.startsWith('Khyber Pakhtunkhwa')"
        )
        browser.close()
