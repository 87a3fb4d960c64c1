"""The book keeps its own rules: every page in the table of contents, both languages in every passage,
outputs stored, and the Colab setup cell pointing at the address in _config.yml."""
import json
import re
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import export  # noqa: E402
import refresh  # noqa: E402

TOC = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
HEADING = re.compile(r"^#{1,6}\s")
CJK = re.compile(r"[\u4e00-\u9fff]")
MARK = {"lang-zh": '<span class="lang-mark">中文</span>', "lang-en": '<span class="lang-mark">EN</span>'}


def toc_entries():
    found = [TOC["root"]]
    for part in TOC["parts"]:
        for chapter in part["chapters"]:
            found.append(chapter["file"])
            found += [s["file"] for s in chapter.get("sections", [])]
    return found


NOTEBOOKS = export.toc_files()
IDS = [p.stem for p in NOTEBOOKS]


def cells(nb_path):
    return json.loads(nb_path.read_text(encoding="utf-8"))["cells"]


def src(cell):
    return "".join(cell["source"])


def test_every_page_in_the_table_of_contents_exists_and_the_paper_order_is_kept():
    entries = toc_entries()
    for entry in entries:
        assert (ROOT / f"{entry}.ipynb").exists() or (ROOT / f"{entry}.md").exists(), entry
    numbers = [int(e[5:7]) for e in entries if re.match(r"book/0\d", e)]
    assert numbers == sorted(numbers), "chapters follow the paper's section order"
    for needed in ["00_prelude", "01_introduction", "02_background", "03_2_attention", "05_training", "06_results",
                   "07_conclusion", "appendix_glossary", "appendix_performance", "appendix_references"]:
        assert f"book/{needed}" in entries


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_headings_are_untagged_bilingual_cells(nb):
    md = [c for c in cells(nb) if c["cell_type"] == "markdown"]
    assert HEADING.match(src(md[0])) and src(md[0]).startswith("# "), "a chapter opens with its # heading"
    for cell in md:
        text = src(cell)
        tags = cell["metadata"].get("tags", [])
        if any(t in MARK for t in tags):
            assert not any(HEADING.match(line) for line in text.splitlines()), f"heading inside a tagged cell: {text[:60]}"
        else:
            lines = [line for line in text.splitlines() if line.strip()]
            assert len(lines) == 1 and HEADING.match(lines[0]), f"an untagged markdown cell must be one heading: {text[:80]}"
            assert CJK.search(text) and re.search(r"[A-Za-z]{3}", text), f"heading not bilingual: {text}"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_every_passage_is_chinese_then_english_and_marked(nb):
    md = [c for c in cells(nb) if c["cell_type"] == "markdown" and c["metadata"].get("tags")]
    langs = [next(t for t in c["metadata"]["tags"] if t in MARK) for c in md]
    all_cells = cells(nb)
    for i, cell in enumerate(all_cells):
        tags = cell["metadata"].get("tags", [])
        if "lang-zh" in tags:
            nxt = all_cells[i + 1] if i + 1 < len(all_cells) else {"metadata": {}}
            assert "lang-en" in nxt["metadata"].get("tags", []), f"Chinese passage without its English twin: {src(cell)[:60]}"
            assert CJK.search(src(cell)), f"no Chinese in a lang-zh cell: {src(cell)[:60]}"
        if "lang-en" in tags:
            prev = all_cells[i - 1]
            assert "lang-zh" in prev["metadata"].get("tags", []), f"English passage without its Chinese twin: {src(cell)[:60]}"
    for cell, lang in zip(md, langs):
        assert src(cell).startswith(MARK[lang]), f"{lang} cell should start with {MARK[lang]}"
    assert langs.count("lang-zh") == langs.count("lang-en") >= 1


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_both_languages_carry_about_the_same_amount_of_prose(nb):
    text = lambda lang: " ".join(src(c) for c in cells(nb) if lang in c["metadata"].get("tags", []))  # noqa: E731
    cjk = len(CJK.findall(text("lang-zh")))
    words = len([w for w in re.sub(r"\$[^$]*\$", " ", text("lang-en")).split() if re.search(r"[A-Za-z]", w)])
    if cjk + words > 300:
        assert 0.7 * words <= cjk <= 4 * words, f"{cjk} Chinese characters vs {words} English words"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_outputs_are_stored_without_errors_or_widget_state(nb):
    data = json.loads(nb.read_text(encoding="utf-8"))
    assert "widgets" not in data["metadata"], "saved widget state makes the site load scripts from a CDN"
    for cell in data["cells"]:
        if cell["cell_type"] != "code" or not src(cell).strip():
            continue
        assert cell["execution_count"] is not None, f"cell never run: {src(cell)[:60]} (run make refresh)"
        for out in cell["outputs"]:
            assert out["output_type"] != "error", f"stored error in: {src(cell)[:60]}"
            assert "application/vnd.jupyter.widget-view+json" not in out.get("data", {})


NOT_COMPARED = re.compile(r"^# not compared: (.+)$", re.M)
WHY_NO_ASSERT = ("wall-clock timing", "installed sentencepiece version")  # nothing to claim: the value is the machine's


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_outputs_left_out_of_the_comparison_say_why_and_assert_their_claim(nb):
    """README's portability rule: a cell tagged nbval-ignore-output opens with `# not compared: <why>`, and unless it
    only reports the machine (timings, versions) it states its claim with `assert`, so nbval still fails when it breaks."""
    for cell in cells(nb):
        if "nbval-ignore-output" not in cell["metadata"].get("tags", []):
            continue
        text = src(cell)
        why = NOT_COMPARED.search(text)
        assert why and text.startswith(why.group(0)), f"first line should be '# not compared: <why>': {text[:80]}"
        if not any(reason in why.group(1) for reason in WHY_NO_ASSERT):
            assert re.search(r"^\s*assert\b", text, re.M), f"a cell left out of the comparison must assert its claim: {text[:80]}"


def test_notebooks_that_change_the_thread_count_restore_it():
    """The portable nbval pass runs on one thread (OMP_NUM_THREADS=1); a notebook must not undo that for later cells."""
    for nb in NOTEBOOKS:
        code = "\n".join(src(c) for c in cells(nb) if c["cell_type"] == "code")
        sets = len(re.findall(r"torch\.set_num_threads\(", code))
        saves = len(re.findall(r"= torch\.get_num_threads\(\)", code))
        assert sets == 2 * saves, f"{nb.name}: every torch.set_num_threads(n) is followed by restoring the saved count"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_the_colab_setup_cell_comes_first_and_points_at_the_configured_repository(nb):
    code = [c for c in cells(nb) if c["cell_type"] == "code"]
    assert code and "setup" in code[0]["metadata"].get("tags", []), "the first code cell is the setup cell"
    assert src(code[0]) == refresh.setup_source(), "setup cell is stale: run `make refresh`"
    assert "remove-cell" in code[0]["metadata"]["tags"]
    url, _ = refresh.repository()
    assert re.fullmatch(r"https://github\.com/[\w.-]+/[\w.-]+", url), "Colab buttons need a GitHub URL"


def test_markdown_pages_pair_their_languages():
    for entry in toc_entries():
        page = ROOT / f"{entry}.md"
        if page.exists():
            text = page.read_text(encoding="utf-8")
            assert text.count(":::{div} lang-zh") == text.count(":::{div} lang-en") >= 1, page


def test_every_citation_is_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    pages = [p for p in (ROOT / "book").glob("*") if p.suffix in (".md", ".ipynb")]
    cited = {k.strip() for p in pages for group in re.findall(r"\{cite[:pt]*\}`([^`]+)`", p.read_text(encoding="utf-8"))
             for k in group.split(",")}
    assert cited and cited <= keys, f"unknown keys: {sorted(cited - keys)}"


MAX_CELL_LINES = 30  # STYLE.md: a code cell does one thing, which the prose right above it explains


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=IDS)
def test_no_code_cell_is_longer_than_30_lines(nb):
    long = [(i, len(src(c).splitlines()), src(c).splitlines()[0][:50]) for i, c in enumerate(cells(nb))
            if c["cell_type"] == "code" and len(src(c).splitlines()) > MAX_CELL_LINES]
    assert not long, (f"{nb.name}: code cells over {MAX_CELL_LINES} lines (cell, lines, first line): {long}; split "
                      f"each into pieces that do one thing, with the explanation above each (a long class can be "
                      f"written over several cells with transformer_book.data.add_to_class)")
