"""Sphinx extension: the bilingual site's plumbing.

* Marks the nodes of notebook markdown cells tagged `lang-zh` / `lang-en`. MyST-NB renders a
  markdown cell's content straight into the page and drops its tags; this wraps what a tagged
  cell produced in a container `<div class="lang-zh lang-block" lang="zh-Hans">` (or `lang-en`),
  so the language switch (`_static/lang.js` + `_static/lang.css`) can show one language or both.
  A tagged cell must not contain a heading: a heading opens a section that holds the rest of
  the page, so headings live in untagged, bilingual cells.
* Chinese typography: inline math is kept on one line with the punctuation that closes (or
  opens) around it, so a line never starts with "）", "，" or "：".
* Chinese search: jieba, which Sphinx uses to cut Chinese into words for the search index, gets
  a user dictionary made from the glossary (book/appendix_glossary.md, the one list of the
  book's terms), so 位置编码 or 缩放点积注意力 are indexed as words as well as in pieces.
* Page weight: a page loads only what it uses (no icon-font script, no search index outside the
  search page, no MathJax on pages without math, figures loaded as they scroll into view).
"""
from __future__ import annotations

import re
from pathlib import Path

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

LANG_TAGS = ("lang-zh", "lang-en")
# docutils turns a class "language-X" into the attribute lang="X".
LANG_ATTRIBUTE = {"lang-zh": "language-zh-Hans", "lang-en": "language-en"}
GLOSSARY = Path(__file__).resolve().parents[1] / "appendix_glossary.md"


# --- language blocks -------------------------------------------------------------------------

def _wrap_tagged_markdown(original):
    def render_nb_cell_markdown(self, token):
        tags = token.meta.get("metadata", {}).get("tags", []) or []
        lang = next((t for t in tags if t in LANG_TAGS), None)
        if lang is None:
            return original(self, token)
        parent = self.current_node
        start = len(parent.children)
        original(self, token)
        if self.current_node is not parent:
            logger.warning(
                "markdown cell %s is tagged %s but contains a heading; "
                "put headings in their own untagged bilingual cell", token.meta.get("index"), lang,
                location=self.document.get("source"),
            )
            return None
        produced = parent.children[start:]
        del parent.children[start:]
        box = nodes.container(classes=[lang, "lang-block"])
        box.extend(produced)
        parent.append(box)
        return None

    render_nb_cell_markdown.__wrapped__ = original
    return render_nb_cell_markdown


def _tag_languages(app, doctree):
    """Give every language block (notebook cells and `:::{div} lang-zh` blocks) a lang attribute,
    so Chinese is drawn with Simplified Chinese letterforms even on a page tagged English."""
    for node in doctree.findall(nodes.Element):
        for cls, attribute in LANG_ATTRIBUTE.items():
            if cls in node.get("classes", ()) and attribute not in node["classes"]:
                node["classes"].append(attribute)


# --- Chinese typography ----------------------------------------------------------------------

CLOSING = re.compile("^[）)」』”’》〉】\\],，.。:：;；!！?？、…]+")
OPENING = re.compile("[（(「『“‘《〈【\\[]+$")


def _run(node, pattern):
    """The punctuation `pattern` finds at the edge of a text node, or ""."""
    found = pattern.search(node.astext()) if isinstance(node, nodes.Text) else None
    return found.group(0) if found else ""


def _bind_math_punctuation(app, doctree, docname):
    """Wrap inline math together with the punctuation right after (and right before) it in a
    `<span class="math-punct">` that does not break: otherwise a line may start with "）"."""
    for math in list(doctree.findall(nodes.math)):
        parent = math.parent
        i = parent.index(math)
        after = parent[i + 1] if i + 1 < len(parent) else None
        before = parent[i - 1] if i > 0 else None
        tail, head = _run(after, CLOSING), _run(before, OPENING)
        if not (tail or head):
            continue
        box = nodes.inline(classes=["math-punct"])
        if head:
            _trim(parent, before, before.astext()[: -len(head)])
            box += nodes.Text(head)
        if tail:
            _trim(parent, after, after.astext()[len(tail):])
        parent.replace(math, box)
        box += math
        if tail:
            box += nodes.Text(tail)


def _trim(parent, text, rest):
    if rest:
        parent.replace(text, nodes.Text(rest))
    else:
        parent.remove(text)


# --- Chinese search --------------------------------------------------------------------------

CJK = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff]+")


def glossary_rows(path: Path = GLOSSARY) -> list[dict]:
    """The glossary's table, one dict per term: Chinese forms, English forms, the chapters
    (as written, e.g. "§3.2") and the chapter that introduces the term. "编码器 / 解码器" gives
    two forms; maths, code and parenthesised notes are dropped, except abbreviations such as
    "(GRU)", which become a form of their own."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or len(cells) < 3 or set(cells[0]) <= set("-: ") or cells[0] == "中文":
            continue
        zh, en, chapters = cells[:3]
        zh_forms = [_plain(t) for t in zh.split("/") if _plain(t)]
        en_forms = []
        for t in en.split(" / "):
            en_forms.append(_plain(re.sub(r"\([^)]*\)", "", t)))
            en_forms += re.findall(r"\(([A-Za-z][A-Za-z0-9]*)\)", t)
        first = re.search(r"(\d+(?:\.\d+)?)", chapters)
        rows.append({"zh": zh_forms, "en": [f for f in en_forms if f], "chapters": chapters,
                     "chapter": first.group(1) if first else None})
    return rows


def _plain(text: str) -> str:
    text = re.sub(r"\$[^$]*\$", "", text)
    text = re.sub(r"`[^`]*`", "", text)
    return re.sub(r"\s+", " ", text).strip()


def jieba_words(rows: list[dict]) -> list[str]:
    """The user dictionary for jieba: every Chinese run of every glossary term (句子级 BLEU gives
    句子级), preceded by the pieces of two or more characters jieba's own dictionary cuts it into,
    so that a term held together by the dictionary is still found by a search for one of its
    pieces (点积). One-character words come only from one-character terms (键, 值)."""
    import jieba

    plain = jieba.Tokenizer()  # the default dictionary only, whatever was loaded before
    words: list[str] = []
    for row in rows:
        for form in row["zh"]:
            for run in CJK.findall(form):
                for piece in [*(p for p in plain.lcut(run) if len(p) > 1), run]:
                    if piece not in words:
                        words.append(piece)
    return words


SCORER = Path(__file__).resolve().parents[1] / "_static" / "search_scorer.js"


def _search_dictionary(app):
    """Write the jieba dictionary next to the doctrees and hand it to the Chinese search through
    `html_search_options["dict"]`; rank a page whose title holds the query first
    (`html_search_scorer`, which Sphinx opens relative to the working directory: give it whole)."""
    if not app.config.html_search_scorer and SCORER.exists():
        app.config.html_search_scorer = str(SCORER)
    if (app.config.html_search_language or app.config.language or "")[:2] != "zh" or not GLOSSARY.exists():
        return
    words = jieba_words(glossary_rows())
    path = Path(app.doctreedir) / "glossary.jieba.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{w}\n" for w in words), encoding="utf-8")
    options = dict(app.config.html_search_options or {})
    options["dict"] = str(path)
    app.config.html_search_options = options


def _glossary_search_language():
    from sphinx.search.zh import SearchChinese

    class SearchChineseGlossary(SearchChinese):
        """Sphinx's Chinese search, which also keeps one-character glossary terms (键, 值), and
        stems English words as the search page does. Sphinx's Chinese index stems with Porter2
        ("english") while its page stems the query with the original Porter algorithm, the
        one its English search uses on both sides: "key" is indexed as key but looked up as kei."""

        def init(self, options):
            import snowballstemmer

            super().init(options)
            self.stemmer = snowballstemmer.stemmer("porter")
            dict_path = options.get("dict")
            self.single = set()
            if dict_path and Path(dict_path).is_file():
                self.single = {w for w in Path(dict_path).read_text(encoding="utf-8").split() if len(w) == 1}

        def word_filter(self, stemmed_word):
            return stemmed_word in self.single or super().word_filter(stemmed_word)

    return SearchChineseGlossary


# --- page weight -----------------------------------------------------------------------------

# The theme's templates, minus what this book's pages never use: Font Awesome's 1.5 MB script
# (the icons are drawn by the theme's icon font, which its CSS loads anyway) and the search
# index with its tools on every page (only the search page searches; search-as-you-type is off;
# search.html is a template of its own and keeps them). Lines matching these are left out.
TEMPLATE_CUTS = {
    "pydata_sphinx_theme/static/webpack-macros.html": re.compile(r"fontawesome\.js|So that users can add custom icons"),
    "pydata_sphinx_theme/layout.html": re.compile(r"<script src=.*(searchtools|language_data|searchindex)\.js"),
}


def _trim_theme_templates(app):
    templates = getattr(app.builder, "templates", None)
    if templates is None or not hasattr(templates, "get_source"):
        return
    original = templates.get_source

    def get_source(environment, template):
        source, filename, uptodate = original(environment, template)
        for suffix, cut in TEMPLATE_CUTS.items():
            if Path(filename).as_posix().endswith(suffix):
                lines = source.splitlines(keepends=True)
                kept = [line for line in lines if not cut.search(line)]
                if len(kept) == len(lines):
                    logger.warning("bilingual: nothing in the theme's %s matches %r any more", suffix, cut.pattern)
                source = "".join(kept)
        return source, filename, uptodate

    templates.get_source = get_source


def _drop_unused_scripts(app, pagename, templatename, context, doctree):
    """Thebe (live code on the page) is off, yet sphinx-thebe still injects its loader, twice, with a CDN
    address; the duplicate declaration is a console error. The book runs code in Colab instead.
    MathJax is loaded on every page by Jupyter Book; keep it where there is math."""
    scripts = context.get("script_files")
    if not scripts:
        return
    has_math = True
    if app.builder.format == "html" and getattr(app.builder, "math_renderer_name", None) == "mathjax":
        # The page's own math only (MathDomain.has_equations also counts every page it lists in a toctree).
        has_math = app.env.get_domain("math").data["has_equations"].get(pagename, False) or (
            doctree is not None and _has_tex_in_html(doctree))
    mathjax = str(app.config.mathjax_path or "")

    def keep(js):
        filename = str(getattr(js, "filename", js) or "")
        body = str(getattr(js, "attributes", {}).get("body", ""))
        if "THEBE_JS_URL" in body or filename.endswith("sphinx-thebe.js"):
            return False
        if not has_math and ((mathjax and filename.endswith(mathjax)) or body.startswith("window.MathJax")):
            return False
        return True

    scripts[:] = [js for js in scripts if keep(js)]


def _has_tex_in_html(doctree):
    """Raw HTML (a notebook's HTML output) that MathJax would typeset: its delimiters are \\( and \\[."""
    return any(("\\(" in node.astext() or "\\[" in node.astext()) for node in doctree.findall(nodes.raw)
               if "html" in node.get("format", ""))


def _lazy_images(app, doctree, docname):
    """Figures below the first screen load when the reader scrolls to them."""
    for image in doctree.findall(nodes.image):
        image.setdefault("loading", "lazy")


def setup(app):
    from myst_nb.sphinx_ import SphinxNbRenderer

    if not hasattr(SphinxNbRenderer.render_nb_cell_markdown, "__wrapped__"):
        SphinxNbRenderer.render_nb_cell_markdown = _wrap_tagged_markdown(SphinxNbRenderer.render_nb_cell_markdown)
    app.add_css_file("lang.css")
    app.add_js_file("lang.js")
    app.add_search_language(_glossary_search_language())
    app.connect("builder-inited", _search_dictionary)
    app.connect("builder-inited", _trim_theme_templates)
    app.connect("doctree-read", _tag_languages)
    app.connect("doctree-resolved", _bind_math_punctuation)
    app.connect("doctree-resolved", _lazy_images)
    app.connect("html-page-context", _drop_unused_scripts, priority=900)
    return {"version": "1.1", "parallel_read_safe": True, "parallel_write_safe": True}
