"""A page loads what it uses, and no more (the figures are in book/appendix_performance.md)."""
import re
import time

import pytest

from .test_site import CHAPTERS

SCRIPT = re.compile(r"<script\b[^>]*\bsrc=\"([^\"?]+)")
IMG = re.compile(r"<img\b[^>]*>")


def pages(site_dir):
    return sorted(p for p in site_dir.rglob("*.html") if "_static" not in p.parts)


def scripts(page):
    return [src.rsplit("/", 1)[-1] for src in SCRIPT.findall(page.read_text(encoding="utf-8"))]


def test_no_page_loads_the_icon_font_script(site_dir):
    """The theme draws its icons with an icon font its CSS loads anyway; Font Awesome's 1.5 MB
    script only redraws them as SVG."""
    assert [p.name for p in pages(site_dir) if "fontawesome.js" in scripts(p)] == []


def test_only_the_search_page_loads_the_search_index(site_dir):
    search_tools = {"searchindex.js", "searchtools.js", "language_data.js"}
    loading = [p.name for p in pages(site_dir) if search_tools & set(scripts(p))]
    assert loading == ["search.html"]


def test_mathjax_is_loaded_by_the_pages_with_math_only(site_dir):
    wrong = []
    for page in pages(site_dir):
        html = page.read_text(encoding="utf-8")
        has_math = 'class="math' in html or "\\(" in html
        if has_math != ("tex-chtml.js" in scripts(page)):
            wrong.append(f"{page.name}: math {has_math}, MathJax {not has_math}")
    assert wrong == []
    assert "tex-chtml.js" not in scripts(site_dir / "book" / "index.html")


def test_figures_load_as_the_reader_scrolls_to_them(site_dir):
    eager, seen = [], 0
    for page in site_dir.joinpath("book").glob("*.html"):
        article = re.search(r"<article\b.*?</article>", page.read_text(encoding="utf-8"), re.S).group(0)
        for tag in IMG.findall(article):
            seen += 1
            if 'loading="lazy"' not in tag:
                eager.append(f"{page.name}: {tag[:80]}")
    assert seen > 0 and eager == []


@pytest.mark.parametrize("page, js_budget", [("book/03_2_attention.html", 1_500_000), ("book/index.html", 250_000)])
def test_a_page_stays_within_its_script_budget(driver, base_url, page, js_budget):
    """MathJax (1.2 MB) is most of a chapter's script; a page without math loads little else."""
    assert page in CHAPTERS + ["book/index.html"]
    driver.execute_cdp_cmd("Network.enable", {})
    driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": True})
    try:
        driver.get(f"{base_url}/{page}")
        time.sleep(3)
        loaded = driver.execute_script("""return performance.getEntriesByType("resource")
            .map(e => [e.name.split("?")[0], e.decodedBodySize]);""")
    finally:
        driver.execute_cdp_cmd("Network.setCacheDisabled", {"cacheDisabled": False})
    js = sum(size for name, size in loaded if name.endswith(".js"))
    names = {name.rsplit("/", 1)[-1] for name, _ in loaded}
    assert not names & {"fontawesome.js", "searchindex.js"}
    assert 0 < js <= js_budget, f"{js:,} bytes of script"
