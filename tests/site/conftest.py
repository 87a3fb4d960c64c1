"""Fixtures for driving the built website (_build/html) in headless Chromium.

The site is served on 127.0.0.1 from this process; Chromium runs with the flags that keep
it off the network. Without a built site or Chromium these tests skip, unless
REQUIRE_SITE_TESTS=1 (CI sets it), when they fail instead. TRANSFORMER_BOOK_SITE=DIR tests a
site built elsewhere (`jupyter-book build . --path-output X` writes X/_build/html).
"""
import functools
import http.server
import os
import shutil
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SITE = Path(os.environ.get("TRANSFORMER_BOOK_SITE") or ROOT / "_build" / "html")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


def _missing(reason):
    if os.environ.get("REQUIRE_SITE_TESTS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def site_dir():
    if not (SITE / "index.html").exists():
        _missing("no built site in _build/html: run `make book` first")
    return SITE


@pytest.fixture(scope="session")
def base_url(site_dir):
    handler = functools.partial(_QuietHandler, directory=str(site_dir))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def make_driver(accept_language="en-US"):
    if not (CHROMIUM and CHROMEDRIVER):
        _missing("Chromium and chromedriver are needed: apt-get install chromium chromium-driver")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", "--window-size=1280,1000", f"--lang={accept_language}",
                 f"--accept-lang={accept_language}"]:
        opts.add_argument(flag)
    opts.add_experimental_option("prefs", {"intl.accept_languages": accept_language})
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(CHROMEDRIVER), options=opts)


@pytest.fixture(scope="session")
def driver():
    drv = make_driver()
    yield drv
    drv.quit()


def set_width(driver, width, height=900):
    """Lay the page out as a screen `width` CSS pixels wide (a phone's below 600: touch, no
    scrollbars), as Chromium's device emulation does."""
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {
        "width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600})


def wait_for_math(driver, timeout=20):
    """Wait until MathJax (where the page loads it) has typeset the page."""
    driver.set_script_timeout(timeout)
    return driver.execute_async_script("""
        const done = arguments[arguments.length - 1];
        const start = Date.now();
        (function poll() {
          if (document.readyState === "complete" && (!document.querySelector("script[src*='mathjax']")
              || (window.MathJax && MathJax.startup && MathJax.startup.promise))) {
            const p = window.MathJax && MathJax.startup && MathJax.startup.promise;
            (p || Promise.resolve()).then(() => done(true), () => done(false));
          } else if (Date.now() - start > 15000) { done(false); } else { setTimeout(poll, 50); }
        })();""")


@pytest.fixture(scope="session")
def phone():
    """A second browser laid out as a phone 390 px wide."""
    drv = make_driver()
    set_width(drv, 390)
    yield drv
    drv.quit()
