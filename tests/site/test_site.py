"""The built website works offline, switches language, links to Colab and renders math."""
import re
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, make_driver

sys.path.insert(0, str(ROOT / "tools"))
import export  # noqa: E402

CHAPTERS = [p.relative_to(ROOT).with_suffix(".html").as_posix() for p in export.toc_files()]
EXTERNAL = re.compile(r"""<(?:script|link|img|iframe|source)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.I)


def wait_for(predicate, timeout=10.0):
    end = time.time() + timeout
    while time.time() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    return predicate()


def visible(driver, selector):
    return [e for e in driver.find_elements("css selector", selector) if e.is_displayed()]


def test_no_page_loads_anything_from_another_host(site_dir):
    offenders = []
    for page in site_dir.rglob("*.html"):
        offenders += [f"{page.relative_to(site_dir)}: {m}" for m in EXTERNAL.findall(page.read_text(encoding="utf-8"))]
    for css in site_dir.rglob("*.css"):
        offenders += [f"{css.relative_to(site_dir)}: {m}" for m in
                      re.findall(r"@import\s+url\(\s*['\"]?https?://[^)]*\)", css.read_text(encoding="utf-8", errors="replace"))]
    assert offenders == []


@pytest.mark.parametrize("page", CHAPTERS + ["book/index.html", "book/appendix_glossary.html"])
def test_every_page_loads_without_console_errors(driver, base_url, page):
    driver.get(f"{base_url}/{page}")
    assert wait_for(lambda: driver.find_elements("css selector", ".lang-switch button"))
    errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
    assert errors == []


@pytest.mark.parametrize("page", CHAPTERS)
def test_every_chapter_has_a_colab_button_for_its_notebook(driver, base_url, page):
    driver.get(f"{base_url}/{page}")
    links = [a.get_attribute("href") for a in driver.find_elements("css selector", "a[href*='colab.research.google.com']")]
    notebook = Path(page).with_suffix(".ipynb").as_posix()
    assert any(re.fullmatch(rf"https://colab\.research\.google\.com/github/[\w.-]+/[\w.-]+/blob/\w+/{notebook}", h)
               for h in links), links


def test_language_switch_changes_the_page_and_is_remembered_across_pages(driver, base_url):
    driver.get(f"{base_url}/book/01_introduction.html")
    driver.find_element("css selector", ".lang-switch button[data-mode='zh']").click()
    assert wait_for(lambda: visible(driver, ".lang-zh") and not visible(driver, ".lang-en"))
    assert driver.execute_script("return document.documentElement.lang") == "zh-CN"

    driver.get(f"{base_url}/book/02_background.html")  # another page: the choice holds
    assert driver.find_element("tag name", "html").get_attribute("data-lang") == "zh"
    assert visible(driver, ".lang-zh") and not visible(driver, ".lang-en")

    driver.find_element("css selector", ".lang-switch button[data-mode='en']").click()
    assert wait_for(lambda: visible(driver, ".lang-en") and not visible(driver, ".lang-zh"))
    assert not visible(driver, ".lang-mark")

    driver.find_element("css selector", ".lang-switch button[data-mode='both']").click()
    assert wait_for(lambda: visible(driver, ".lang-en") and visible(driver, ".lang-zh") and visible(driver, ".lang-mark"))
    pressed = driver.find_element("css selector", ".lang-switch button[aria-pressed='true']")
    assert pressed.get_attribute("data-mode") == "both"

    driver.get(f"{base_url}/book/index.html")
    assert driver.find_element("tag name", "html").get_attribute("data-lang") == "both"


@pytest.mark.parametrize("language, mode", [("zh-CN", "zh"), ("en-US", "en")])
def test_a_first_visit_follows_the_browser_language(base_url, language, mode):
    drv = make_driver(accept_language=language)
    try:
        drv.get(f"{base_url}/book/index.html")
        assert drv.find_element("tag name", "html").get_attribute("data-lang") == mode
    finally:
        drv.quit()


def test_math_is_rendered_by_the_local_mathjax(driver, base_url):
    driver.get(f"{base_url}/book/03_model_architecture.html")
    assert wait_for(lambda: driver.find_elements("css selector", "mjx-container"), timeout=15)
    text = driver.find_element("tag name", "article").text
    assert "\\(" not in text and "$$" not in text


@pytest.mark.parametrize("query", ["注意力", "attention"])
def test_search_finds_pages_in_both_languages(driver, base_url, query):
    driver.get(f"{base_url}/search.html?q={query}")
    # Results are listed one by one: wait for a second one, or for the search to finish.
    wait_for(lambda: len(driver.find_elements("css selector", "#search-results ul.search li")) >= 2
             or driver.find_elements("css selector", "#search-results p.search-summary:not(:empty)"), timeout=15)
    results = driver.find_elements("css selector", "#search-results ul.search li")
    assert len(results) >= 2, f"search for {query!r} found {len(results)} pages"
