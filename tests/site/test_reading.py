"""The site reads well on a phone and on a desktop, in 中文, English and 双语.

Each page is loaded once per browser (a phone 390 px wide, a desktop 1280 px wide); what the
tests check is measured in that one visit and kept in a cache.
"""
import re

import pytest

from .conftest import set_width, wait_for_math
from .test_site import CHAPTERS

PAGES = CHAPTERS + ["book/index.html", "book/appendix_glossary.html", "book/appendix_performance.html",
                    "book/appendix_references.html", "search.html"]
MODES = ("zh", "en", "both")
PHONE_WIDTHS = (390, 360)

# Measured in one mode at one width: whether the page scrolls sideways and what widens it, the
# header's buttons that do not fit, language labels that wrap, inline math that a line break
# separates from its punctuation.
MEASURE = r"""
const mode = arguments[0];
const button = document.querySelector(`.lang-switch button[data-mode="${mode}"]`);
if (button) button.click();
const cw = document.documentElement.clientWidth;
const clipped = (e) => { for (let p = e.parentElement; p && p !== document.body; p = p.parentElement)
  if (getComputedStyle(p).overflowX !== "visible") return true; return false; };
const wideners = [];
if (document.documentElement.scrollWidth > cw) {
  for (const e of document.querySelectorAll("body *")) {
    const r = e.getBoundingClientRect();
    if (r.width > 0 && r.right > cw + 1 && getComputedStyle(e).position !== "fixed" && !clipped(e)) {
      const parent = e.parentElement.getBoundingClientRect();
      if (parent.right <= cw + 1 || clipped(e.parentElement))
        wideners.push(`${e.tagName.toLowerCase()}.${String(e.className).split(" ")[0]} ` +
                      `"${(e.textContent || "").trim().slice(0, 40)}" reaches ${Math.round(r.right)}px`);
    }
  }
}
const header = [];
for (const sel of [".lang-switch", ".dropdown-launch-buttons", ".dropdown-download-buttons",
                   ".theme-switch-button", ".search-button__button"]) {
  const e = document.querySelector(`.bd-header-article ${sel}`);
  if (!e) continue;
  const r = e.getBoundingClientRect();
  if (!e.offsetParent || r.width === 0) header.push(`${sel} is hidden`);
  else if (r.left < 0 || r.right > cw + 0.5) header.push(`${sel} spans ${Math.round(r.left)}-${Math.round(r.right)}px`);
}
for (const b of document.querySelectorAll(".lang-switch button")) {
  const label = [...b.children].find((c) => c.offsetParent) || b;
  if (label.getClientRects().length > 1) header.push(`"${label.textContent}" wraps`);
}
const broken = [];
for (const box of document.querySelectorAll(".math-punct")) {
  if (box.offsetParent && box.getClientRects().length > 1) broken.push(box.textContent.trim().slice(0, 40));
}
const unbound = [];
for (const m of document.querySelectorAll("span.math")) {
  if (m.closest(".math-punct")) continue;
  const next = m.nextSibling;
  if (next && next.nodeType === 3 && /^[）)，,：:。；;]/.test(next.nodeValue)) unbound.push(m.textContent + next.nodeValue.slice(0, 3));
}
return {scrollWidth: document.documentElement.scrollWidth, clientWidth: cw, wideners: wideners.slice(0, 8),
        header, broken, unbound};
"""

# Display math wider than its box must scroll; a notebook's output must fit its box (it wraps);
# MathJax must have understood every formula (no error, no backslash left in what it rendered).
DESKTOP = r"""
document.querySelector('.lang-switch button[data-mode="both"]').click();
const column = document.querySelector("article.bd-article").getBoundingClientRect();
const math = [], outputs = [], tex = [];
for (const m of document.querySelectorAll('mjx-container[display="true"]')) {
  if (!m.offsetParent) continue;
  const r = m.getBoundingClientRect();
  const scrolls = ["auto", "scroll"].includes(getComputedStyle(m).overflowX);
  if ((m.scrollWidth > m.clientWidth + 1 && !scrolls) || r.right > column.right + 1)
    math.push(`${m.scrollWidth}px formula in a ${m.clientWidth}px box, overflow-x ${getComputedStyle(m).overflowX}`);
}
for (const pre of document.querySelectorAll(".cell_output pre")) {
  if (pre.offsetParent && pre.scrollWidth > pre.clientWidth + 1)
    outputs.push(`${pre.scrollWidth}px output in a ${pre.clientWidth}px box: ${pre.textContent.trim().slice(0, 50)}`);
}
for (const e of document.querySelectorAll("mjx-merror")) tex.push("MathJax error: " + e.textContent);
for (const e of document.querySelectorAll("mjx-assistive-mml")) {
  if (e.textContent.includes("\\")) tex.push(e.textContent.trim().slice(0, 60));
}
return {math, outputs, tex};
"""

_phone_reports, _desktop_reports = {}, {}


def phone_report(phone, base_url, page):
    if page not in _phone_reports:
        set_width(phone, PHONE_WIDTHS[0])
        phone.get(f"{base_url}/{page}")
        wait_for_math(phone)
        report = {}
        for width in PHONE_WIDTHS:
            set_width(phone, width)
            for mode in MODES:
                report[width, mode] = phone.execute_script(MEASURE, mode)
        set_width(phone, PHONE_WIDTHS[0])
        _phone_reports[page] = report
    return _phone_reports[page]


def desktop_report(driver, base_url, page):
    if page not in _desktop_reports:
        driver.get(f"{base_url}/{page}")
        assert wait_for_math(driver), "MathJax did not finish"
        _desktop_reports[page] = driver.execute_script(DESKTOP)
    return _desktop_reports[page]


@pytest.mark.parametrize("page", PAGES)
def test_no_page_scrolls_sideways_on_a_phone(phone, base_url, page):
    report = phone_report(phone, base_url, page)
    wide = {f"{w}px {mode}": f"{r['scrollWidth']}px wide: {r['wideners']}"
            for (w, mode), r in report.items() if r["scrollWidth"] > r["clientWidth"]}
    assert wide == {}


@pytest.mark.parametrize("page", PAGES)
def test_the_header_buttons_fit_a_phone_and_labels_stay_on_one_line(phone, base_url, page):
    report = phone_report(phone, base_url, page)
    misfits = {f"{w}px {mode}": r["header"] for (w, mode), r in report.items() if r["header"]}
    assert misfits == {}


def test_a_chapter_header_offers_every_button_on_a_phone(phone, base_url):
    set_width(phone, 360)
    phone.get(f"{base_url}/book/03_2_attention.html")
    shown = phone.execute_script("""return [".lang-switch", ".dropdown-launch-buttons", ".dropdown-download-buttons",
        ".theme-switch-button", ".search-button__button"].filter(s => {
          const e = document.querySelector(".bd-header-article " + s); return e && e.offsetParent; });""")
    set_width(phone, 390)
    assert len(shown) == 5, shown


@pytest.mark.parametrize("page", CHAPTERS)
def test_no_line_starts_with_closing_punctuation_after_math(phone, base_url, page):
    report = phone_report(phone, base_url, page)
    for (width, mode), r in report.items():
        assert r["unbound"] == [], f"inline math not kept with the punctuation after it ({mode})"
        assert r["broken"] == [], f"a line breaks between math and its punctuation at {width}px ({mode})"


@pytest.mark.parametrize("page", CHAPTERS + ["book/appendix_glossary.html", "book/appendix_performance.html"])
def test_wide_formulas_scroll_in_their_own_box(driver, base_url, page):
    assert desktop_report(driver, base_url, page)["math"] == []


@pytest.mark.parametrize("page", CHAPTERS)
def test_outputs_wider_than_the_column_wrap_so_they_can_be_read(driver, base_url, page):
    assert desktop_report(driver, base_url, page)["outputs"] == []


@pytest.mark.parametrize("page", CHAPTERS + ["book/appendix_glossary.html", "book/appendix_performance.html"])
def test_no_formula_shows_raw_tex_or_a_mathjax_error(driver, base_url, page):
    assert desktop_report(driver, base_url, page)["tex"] == []


HAN = re.compile(r"[\u3400-\u9fff]")


@pytest.mark.parametrize("page", ["book/03_2_attention.html", "book/index.html", "book/appendix_glossary.html"])
def test_chinese_is_tagged_simplified_chinese_in_english_mode(driver, base_url, page):
    driver.get(f"{base_url}/{page}")
    driver.find_element("css selector", ".lang-switch button[data-mode='en']").click()
    untagged = driver.execute_script(r"""
        const found = [];
        const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
        while (walker.nextNode()) {
          const t = walker.currentNode, el = t.parentElement;
          if (!/[\u3400-\u9fff]/.test(t.nodeValue) || el.closest("script,style,pre,code,.math,mjx-container")) continue;
          const tagged = el.closest("[lang]");
          if (!tagged || tagged === document.documentElement || !/^zh/i.test(tagged.getAttribute("lang")))
            found.push(t.nodeValue.trim().slice(0, 30));
        }
        return found.slice(0, 10);""")
    assert driver.execute_script("return document.documentElement.lang") == "en"
    assert untagged == []


def test_language_blocks_carry_their_language_in_the_html(site_dir):
    """Without any script, a language block says which language it is in."""
    missing = []
    for page in site_dir.joinpath("book").glob("*.html"):
        for tag in re.findall(r"<div[^>]*\blang-(?:zh|en) lang-block[^>]*>", page.read_text(encoding="utf-8")):
            want = 'lang="zh-Hans"' if "lang-zh" in tag else 'lang="en"'
            if want not in tag:
                missing.append(f"{page.name}: {tag}")
    assert missing == []


def test_english_mode_draws_chinese_with_simplified_chinese_letterforms(driver, base_url):
    """A page in English mode is tagged English; the Chinese left in its headings and sidebar must
    not fall back to a Japanese face (a centred "：" and other Japanese letterforms)."""
    driver.get(f"{base_url}/book/03_2_attention.html")
    driver.find_element("css selector", ".lang-switch button[data-mode='en']").click()
    driver.execute_cdp_cmd("DOM.enable", {})
    driver.execute_cdp_cmd("CSS.enable", {})
    families = set()
    for selector in ["article h1", ".bd-sidebar-primary nav a"]:
        root = driver.execute_cdp_cmd("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        node = driver.execute_cdp_cmd("DOM.querySelector", {"nodeId": root, "selector": selector})["nodeId"]
        fonts = driver.execute_cdp_cmd("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        families |= {f["familyName"] for f in fonts}
    if not any("CJK" in f or "Han" in f for f in families):
        pytest.skip(f"no CJK font installed (fonts used: {sorted(families)})")
    assert not [f for f in families if re.search(r"\bJP\b|Japanese|Jpan", f)], sorted(families)
