"""The dashboard in a real browser: Debian's chromium, headless, driven by selenium through
Debian's chromedriver (a maintained client for DOM queries, screenshots and the DevTools
network log, instead of a hand-written DevTools websocket client).

The page loads from `serve --source examples/hello.wav` with the bundled models, its chart
draws and grows as decisions arrive, the CSP-protected script runs without console errors,
and every request the page made went to its own loopback origin (the browser also resolves
no other host name at all).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from conftest import REPO
from fixtures.services import Served, chromium, requested_urls, serve
from fixtures.synth import silence, syllables
from fixtures.tiny import TINY

from edge.wav import write_wav

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    driver = chromium(tmp_path_factory.mktemp("chromium-profile"))
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def points(driver) -> int:  # type: ignore[no-untyped-def]
    return int(driver.find_element("id", "chart").get_attribute("data-points"))


def wait(cond, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if cond():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def check_only_own_origin(driver, served: Served) -> None:  # type: ignore[no-untyped-def]
    origin = f"http://127.0.0.1:{served.port}/"
    urls = requested_urls(driver)
    assert any(u.startswith(origin + "events") for u in urls)
    assert [u for u in urls if not (u.startswith(origin) or u.startswith("data:"))] == []
    severe = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []  # no CSP violation, no failed fetch, no script error


def test_the_page_loads_and_draws_from_hello_wav(browser, tmp_path: Path) -> None:
    served = serve("--source", str(REPO / "examples" / "hello.wav"), "--realtime",
                   "--device-name", "living-room")
    try:
        browser.get_log("performance")  # start the network log from here
        browser.get(served.url)
        wait(lambda: points(browser) >= 1)
        label = browser.find_element("id", "label").get_attribute("textContent")
        assert label in ("neutral", "happy", "sad", "angry", "uncertain", "silence")
        assert browser.find_element("id", "device").text == "living-room"
        facts = browser.find_element("id", "facts").text
        assert "members" in facts and "neutral, happy, sad, angry" in facts
        served.stderr_until("the input has ended")
        wait(lambda: "no (end of input)" in browser.find_element("id", "listening").text, 10)
        # each label's line runs to the time heard, however few decisions there were (the
        # bundled models may hold one decision over the whole file)
        lines = browser.find_elements("css selector", "#chart polyline")
        assert len(lines) == 4 and all(ln.get_attribute("points").count(",") >= 2
                                       for ln in lines)
        heard = float(browser.find_element("id", "chart").get_attribute("data-latest"))
        assert heard == pytest.approx(8.8, abs=0.1)  # hello.wav is 8.8 s
        shot = tmp_path / "serve-dashboard.png"
        browser.save_screenshot(str(shot))
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
        check_only_own_origin(browser, served)
    finally:
        err = served.stop()
    assert served.proc.returncode == 0 and "Traceback" not in err


def test_the_chart_grows_as_decisions_arrive(browser, tmp_path: Path) -> None:
    y = np.concatenate([np.concatenate([syllables(k, 1.2, seed=k), silence(0.5, seed=k)])
                        for k in (4, 0, 7, 3, 5, 2, 6, 1)])
    wav = write_wav(tmp_path / "long.wav", y, 16000)
    served = serve("--source", str(wav), "--realtime", "--models", str(TINY))
    try:
        browser.get_log("performance")
        browser.get(served.url)
        wait(lambda: points(browser) >= 1)
        seen = [points(browser)]
        for _ in range(3):
            wait(lambda: points(browser) > seen[-1], 10)
            seen.append(points(browser))
        served.stderr_until("the input has ended")
        time.sleep(0.5)
        final = points(browser)
        status, hist = served.get("/api/history?seconds=600")
        assert status == 200 and final == len(hist["decisions"]) > seen[0]
        latest = float(browser.find_element("id", "chart").get_attribute("data-latest"))
        assert latest == hist["decisions"][-1]["t"]
        check_only_own_origin(browser, served)
    finally:
        served.stop()
