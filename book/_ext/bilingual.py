"""Sphinx extension: mark the nodes of notebook markdown cells tagged `lang-zh` / `lang-en`.

MyST-NB renders a markdown cell's content straight into the page and drops its
tags. This extension wraps what a tagged cell produced in a container
`<div class="lang-zh lang-block">` (or `lang-en`), so the language switch
(`_static/lang.js` + `_static/lang.css`) can show one language or both.
A tagged cell must not contain a heading: a heading opens a section that holds
the rest of the page, so headings live in untagged, bilingual cells.
"""
from __future__ import annotations

from docutils import nodes
from sphinx.util import logging

logger = logging.getLogger(__name__)

LANG_TAGS = ("lang-zh", "lang-en")


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


def _drop_thebe(app, pagename, templatename, context, doctree):
    """Thebe (live code on the page) is off, yet sphinx-thebe still injects its loader, twice, with a CDN
    address; the duplicate declaration is a console error. The book runs code in Colab instead."""
    scripts = context.get("script_files")
    if scripts:
        scripts[:] = [
            js for js in scripts
            if "THEBE_JS_URL" not in str(getattr(js, "attributes", {}).get("body", "")) and not str(getattr(js, "filename", js)).endswith("sphinx-thebe.js")
        ]


def setup(app):
    from myst_nb.sphinx_ import SphinxNbRenderer

    if not hasattr(SphinxNbRenderer.render_nb_cell_markdown, "__wrapped__"):
        SphinxNbRenderer.render_nb_cell_markdown = _wrap_tagged_markdown(SphinxNbRenderer.render_nb_cell_markdown)
    app.add_css_file("lang.css")
    app.add_js_file("lang.js")
    app.connect("html-page-context", _drop_thebe, priority=100)
    return {"version": "1.0", "parallel_read_safe": True, "parallel_write_safe": True}
