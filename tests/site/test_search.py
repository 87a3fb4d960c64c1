"""The site's search finds the book's terms, typed in Chinese or in English.

The glossary (book/appendix_glossary.md) is the list of terms and names the chapter that
introduces each. The page that introduces a term is the first page of that chapter, in the
book's order, whose text holds it (if the chapter never writes it, the first page of the book
that does); a search for the term must list that page.
"""
import re
import sys
import urllib.parse
from pathlib import Path

import pytest

from .conftest import ROOT
from .test_site import CHAPTERS, wait_for

sys.path.insert(0, str(ROOT / "book" / "_ext"))
import bilingual  # noqa: E402  the glossary's parser, shared with the build's search dictionary

FORMS = [(form, lang, row["chapter"]) for row in bilingual.glossary_rows()
         for lang in ("zh", "en") for form in row[lang]]


def _stems(text):
    import snowballstemmer

    stemmer = snowballstemmer.stemmer("porter")  # the search page's stemmer, and the index's
    return " " + " ".join(stemmer.stemWord(w) for w in re.findall(r"[a-z0-9]+", text.lower())) + " "


@pytest.fixture(scope="module")
def page_texts(site_dir):
    from bs4 import BeautifulSoup

    texts = {}
    for page in CHAPTERS:
        article = BeautifulSoup((site_dir / page).read_text(encoding="utf-8"), "html.parser").find("article")
        text = article.get_text(" ")
        texts[page] = (text, _stems(text))
    return texts


def introducing_page(form, lang, chapter, texts):
    major, _, minor = (chapter or "").partition(".")
    prefix = f"{int(major):02d}" + (f"_{minor}" if minor else "") + "_" if major.isdigit() else None
    in_chapter = [p for p in CHAPTERS if prefix and Path(p).name.startswith(prefix)]
    for page in in_chapter + CHAPTERS:
        text, stems = texts[page]
        if (form in text) if lang == "zh" else (_stems(form) in stems):
            return page
    return None


@pytest.fixture(scope="module")
def search_page(driver, base_url):
    driver.get(f"{base_url}/search.html")
    assert wait_for(lambda: driver.execute_script("return typeof Search !== 'undefined' && Search.hasIndex()"), timeout=15)
    return driver


def search(driver, query):
    """The pages Sphinx's own search code lists for `query`, best first."""
    return driver.execute_script("""
        const results = Search._performSearch(...Search._parseQuery(arguments[0]));
        return results.reverse().map(r => r[0] + ".html");""", query)


@pytest.mark.parametrize("form, lang, chapter", FORMS, ids=[f"{lang}:{form}" for form, lang, _ in FORMS])
def test_a_search_for_each_glossary_term_lists_the_page_that_introduces_it(search_page, page_texts, form, lang, chapter):
    page = introducing_page(form, lang, chapter, page_texts)
    assert page is not None, (f"the glossary's {form!r} (§{chapter}) is written on no page of the book: make the "
                              "glossary and the chapter use one term (the glossary is the one source of terms)")
    found = search(search_page, form)
    assert page in found, f"searching {form!r} lists {found[:8]}, not {page}"


@pytest.mark.parametrize("query, first", [
    ("位置编码", "book/03_5_positional_encoding.html"),
    ("位置 编码", "book/03_5_positional_encoding.html"),
    ("positional encoding", "book/03_5_positional_encoding.html"),
    ("缩放点积注意力", "book/03_2_attention.html"),
    ("缩放点积", "book/03_2_attention.html"),
    ("标签平滑", "book/05_3_regularization.html"),
])
def test_a_search_for_a_chapters_subject_lists_that_chapter_first(driver, base_url, query, first):
    driver.get(f"{base_url}/search.html?q={urllib.parse.quote(query)}")
    links = wait_for(lambda: driver.find_elements("css selector", "#search-results ul.search li > a"), timeout=15)
    assert links, f"no result for {query!r}"
    assert links[0].get_attribute("href").split("/", 3)[3].split("#")[0] == first


@pytest.mark.parametrize("mode", ["zh", "en"])
def test_search_summaries_show_the_prose_in_the_chosen_language(driver, base_url, mode):
    driver.get(f"{base_url}/book/index.html")
    driver.find_element("css selector", f".lang-switch button[data-mode='{mode}']").click()
    driver.get(f"{base_url}/search.html?q={urllib.parse.quote('位置编码' if mode == 'zh' else 'positional encoding')}")
    assert wait_for(lambda: len(driver.find_elements("css selector", "#search-results p.context")) >= 3, timeout=20)
    results = driver.find_elements("css selector", "#search-results ul.search li")
    summaries = [li.find_element("css selector", "p.context").text for li in results
                 if li.find_elements("css selector", "p.context")
                 and "appendix_glossary" not in li.find_element("css selector", "a").get_attribute("href")]
    for text in summaries:
        assert "Contents" not in text and "\\(" not in text and "\\)" not in text, text
        assert not re.search(r"(^|\s)(中文|EN)\s", text), text  # the language markers
        assert not text.startswith(("Colab", "...Colab")), text  # the header's buttons
    # The glossary's table is in both languages; other pages' English prose glosses a term in
    # Chinese now and then, no more.
    for text in summaries:
        han = len(re.findall(r"[\u4e00-\u9fff]", text)) / max(1, len(re.sub(r"\s", "", text)))
        assert han > 0.4 if mode == "zh" else han < 0.1, text


def test_one_character_terms_are_indexed(search_page):
    """键 (key) and 值 (value) are one character each; Sphinx's Chinese search drops such words
    unless the glossary names them."""
    assert "book/03_2_attention.html" in search(search_page, "键")
    assert "book/03_2_attention.html" in search(search_page, "值")
