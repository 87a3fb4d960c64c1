"""Every taught chapter is a lesson (issue 11): it opens with what the reader will be able to do and what to read
first, and closes with a summary and exercises whose answers are written out, folded, and checked when the book runs.

The pattern to copy is described in README's contributor section; book/00_prelude.ipynb follows it. Chapters join
REQUIRED once they follow it; a chapter with an Exercises heading is checked in any case."""
import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import export  # noqa: E402

REQUIRED = ["00_prelude", "01_introduction", "02_background", "04_why_self_attention", "05_2_hardware_optimizer",
            "05_3_regularization", "03_4_embeddings_softmax", "03_5_positional_encoding", "03_6_full_model",
            "03_1_encoder_decoder_stacks", "03_2_attention", "03_3_feed_forward", "05_1_data_batching",
            "05_4_training_loop", "05_5_decoding", "06_results", "07_conclusion", "03_model_architecture"]


def _has_exercises(path):
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    return any(c["cell_type"] == "markdown" and "练习 · Exercises" in "".join(c["source"]).split("\n")[0] for c in cells)


# The chapters that must follow the pattern, and every other chapter that has started to (it has an Exercises heading).
TAUGHT = REQUIRED + [p.stem for p in export.toc_files() if p.stem not in REQUIRED and _has_exercises(p)]

ZH_MARK = '<span class="lang-mark">中文</span>'
EN_MARK = '<span class="lang-mark">EN</span>'
OBJECTIVES = {"lang-zh": "**学完本章你将能够**", "lang-en": "**After this chapter you can**"}
PREREQUISITES = {"lang-zh": "**需要先读**：", "lang-en": "**Prerequisites**:"}
SUMMARY = re.compile(r"^##\s+(\d+(\.\d+)*\s+)?小结 · Summary\s*$")
EXERCISES = re.compile(r"^##\s+(\d+(\.\d+)*\s+)?练习 · Exercises\s*$")
DROPDOWN = {"lang-zh": "答案", "lang-en": "Answer"}
ANSWER_CELL = re.compile(r"^# Answer (\d+)\b")
EXAMPLE = "see the pattern in book/00_prelude.ipynb"


def src(cell):
    return "".join(cell["source"])


def tags(cell):
    return cell["metadata"].get("tags", [])


def lang(cell):
    return next((t for t in tags(cell) if t in ("lang-zh", "lang-en")), None)


def is_heading(cell):
    return cell["cell_type"] == "markdown" and not lang(cell) and src(cell).lstrip().startswith("#")


def load(stem):
    path = ROOT / "book" / f"{stem}.ipynb"
    assert path.exists(), f"TAUGHT names book/{stem}.ipynb, which does not exist"
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def bullets(text):
    return [line for line in text.splitlines() if line.startswith("- ")]


def outside_dropdowns(text):
    """The text of a cell with every `:::{dropdown}` ... `:::` block removed (answers may contain lists)."""
    kept, depth = [], 0
    for line in text.splitlines():
        if line.startswith(":::{"):
            depth += 1
        elif line.strip() == ":::" and depth:
            depth -= 1
        elif not depth:
            kept.append(line)
    return "\n".join(kept)


def exercise_numbers(text):
    return [int(m.group(1)) for m in re.finditer(r"^(\d+)\. ", outside_dropdowns(text), re.M)]


def closing_sections(stem):
    """(summary cells, exercise cells, answer code cells) of a chapter, asserting the closing headings' order."""
    cells = load(stem)
    headings = [i for i, c in enumerate(cells) if is_heading(c)]
    names = [src(cells[i]).strip() for i in headings]
    assert len(headings) >= 2 and EXERCISES.match(names[-1]), (
        f"{stem}: the last heading must be '## N.M 练习 · Exercises' (found {names[-1]!r}); add it after the summary "
        f"as the chapter's last section ({EXAMPLE})")
    assert SUMMARY.match(names[-2]), (
        f"{stem}: the heading before the exercises must be '## N.M 小结 · Summary' (found {names[-2]!r}); move or "
        f"add the summary so it comes right before the exercises ({EXAMPLE})")
    summary = cells[headings[-2] + 1:headings[-1]]
    rest = cells[headings[-1] + 1:]
    return summary, [c for c in rest if lang(c)], [c for c in rest if c["cell_type"] == "code"]


@pytest.mark.parametrize("stem", TAUGHT)
def test_the_chapter_opens_with_what_you_will_be_able_to_do_and_what_to_read_first(stem):
    cells = load(stem)
    first_section = next((i for i, c in enumerate(cells) if is_heading(c) and src(c).startswith("## ")), len(cells))
    top = cells[:first_section]
    found = {}
    for i, cell in enumerate(top):
        if lang(cell) == "lang-zh" and OBJECTIVES["lang-zh"] in src(cell):
            found["lang-zh"] = cell
            nxt = top[i + 1] if i + 1 < len(top) else None
            assert nxt is not None and lang(nxt) == "lang-en" and OBJECTIVES["lang-en"] in src(nxt), (
                f"{stem}: the zh objectives cell must be followed by its English twin, a lang-en cell "
                f"'{EN_MARK} {OBJECTIVES['lang-en']}' with the same bullets")
            found["lang-en"] = nxt
    assert found, (f"{stem}: add a zh/en pair before the first '## ' heading: '{ZH_MARK} {OBJECTIVES['lang-zh']}' "
                   f"and '{EN_MARK} {OBJECTIVES['lang-en']}', each with 3-5 '- ' bullets of concrete abilities "
                   f"and a prerequisites line ({EXAMPLE})")
    counts = {}
    for key, cell in found.items():
        text = src(cell)
        counts[key] = len(bullets(text))
        assert 3 <= counts[key] <= 5, f"{stem}: the {key} objectives need 3-5 '- ' bullets, found {counts[key]}"
        assert PREREQUISITES[key] in text, (
            f"{stem}: end the {key} objectives cell with a line '{PREREQUISITES[key]} [chapter](file.ipynb), ...' "
            f"(or '无' / 'none' when nothing is needed)")
    assert counts["lang-zh"] == counts["lang-en"], f"{stem}: the two languages list different numbers of objectives"


@pytest.mark.parametrize("stem", TAUGHT)
def test_the_chapter_closes_with_a_summary_and_then_exercises(stem):
    summary, exercises, _ = closing_sections(stem)
    pairs = [c for c in summary if lang(c)]
    assert [lang(c) for c in pairs] == ["lang-zh", "lang-en"], (
        f"{stem}: under the summary heading put exactly one zh/en pair of bullet lists (found {len(pairs)} cells)")
    for cell in pairs:
        n = len(bullets(src(cell)))
        assert 3 <= n <= 6, (f"{stem}: the {lang(cell)} summary needs 3-6 '- ' bullets (what was built, what was "
                             f"measured, the one number to remember), found {n}")
    assert exercises, f"{stem}: the exercises heading has no zh/en cells under it; add the numbered exercises"


@pytest.mark.parametrize("stem", TAUGHT)
def test_every_exercise_is_posed_in_both_languages_and_has_a_folded_answer(stem):
    _, exercises, code = closing_sections(stem)
    text = {key: "\n".join(src(c) for c in exercises if lang(c) == key) for key in ("lang-zh", "lang-en")}
    numbers = {key: exercise_numbers(text[key]) for key in text}
    for key, found in numbers.items():
        assert len(found) >= 4, (f"{stem}: pose at least 4 exercises as a numbered list ('1. ', '2. ', ...) in the "
                                 f"{key} cell under the exercises heading; found {len(found)}")
        assert found == list(range(1, len(found) + 1)), (
            f"{stem}: the {key} exercises are numbered {found}, not 1..N; each '1. ', '2. ', ... must start its own "
            f"line (after the language mark put a sentence and a blank line, then '1. '), or it is not a list")
    assert len(numbers["lang-zh"]) == len(numbers["lang-en"]), (
        f"{stem}: {len(numbers['lang-zh'])} exercises in Chinese but {len(numbers['lang-en'])} in English")
    in_code = {int(m.group(1)) for c in code if (m := ANSWER_CELL.match(src(c)))}
    for key in text:
        opened = len(re.findall(r"^:::\{dropdown\}", text[key], re.M))
        closed = len(re.findall(r"^:::\s*$", text[key], re.M))
        assert opened == closed, f"{stem}: a dropdown in the {key} exercises is not closed with ':::'"
        for n in numbers[key]:
            folded = re.search(rf"^:::\{{dropdown\}} {DROPDOWN[key]} {n}\s*$", text[key], re.M)
            assert folded or n in in_code, (
                f"{stem}: exercise {n} has no answer in {key}; write it out in ':::{{dropdown}} {DROPDOWN[key]} {n}' "
                f"... ':::' in the same cell, or add a code cell after the pair whose first line is '# Answer {n}: ...'")


@pytest.mark.parametrize("stem", TAUGHT)
def test_coding_answers_are_folded_and_check_their_claim(stem):
    _, _, code = closing_sections(stem)
    for cell in code:
        text = src(cell)
        first = text.splitlines()[0] if text else ""
        if "nbval-ignore-output" in tags(cell) and first.startswith("# not compared:"):
            first = text.splitlines()[1] if len(text.splitlines()) > 1 else ""
        assert ANSWER_CELL.match(first), (
            f"{stem}: a code cell after the exercises should be an answer whose first line is '# Answer N: <what it "
            f"shows>' (after '# not compared: <why>' if its output is left out): {text[:60]!r}")
        assert "hide-input" in tags(cell), f"{stem}: tag the answer cell {first!r} 'hide-input' so the site folds it"
        assert cell["metadata"].get("jupyter", {}).get("source_hidden") is True, (
            f"{stem}: give the answer cell {first!r} the metadata \"jupyter\": {{\"source_hidden\": true}} so it is "
            f"folded in Jupyter and Colab")
        compared = ("nbval-ignore-output" not in tags(cell) and "nbval-skip" not in tags(cell)
                    and any(o.get("output_type") in ("stream", "execute_result") for o in cell.get("outputs", [])))
        assert re.search(r"^\s*assert\b", text, re.M) or compared, (
            f"{stem}: the answer cell {first!r} checks nothing; make it assert what the answer claims")


NOTEBOOKS = export.toc_files()


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_cell_holds_an_ascii_control_character(nb):
    """A TeX command written from Python without a raw string ('\\alpha' -> BEL + 'lpha') leaves a control character."""
    for i, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
        text = src(cell)
        bad = sorted({f"\\x{ord(ch):02x}" for ch in text if ord(ch) < 32 and ch not in "\n\t"})
        assert not bad, (f"{nb.name}, cell {i}: control character {', '.join(bad)} in {text[:60]!r}; a TeX command "
                         f"written without a raw string? Replace it with the backslash sequence it lost")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_no_list_starts_on_the_language_mark_line(nb):
    """'<span class="lang-mark">EN</span> 1. ...' renders as one paragraph, not a list: Markdown sees the mark first."""
    for i, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
        text = src(cell)
        for mark in (ZH_MARK, EN_MARK):
            if text.startswith(mark):
                rest = text[len(mark):].lstrip(" ")
                assert not re.match(r"(- |\* |\d+\. )", rest), (
                    f"{nb.name}, cell {i}: the list starts on the line of {mark!r}, so it renders as a paragraph; "
                    f"put a short lead sentence after the mark, then a blank line, then the list")


DRAWING = re.compile(r"^\s*(plt\.|ax\.|axes\[|fig\.|ax[0-9a-z_]*\.|for ax in|cbar|im = |line, = |plotting\.|fig, )")


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_cells_that_mostly_draw_are_folded_on_the_site(nb):
    """Plotting code should not stand between the prose and its figure: a cell of 8 or more lines, most of them
    drawing calls, that shows a figure is tagged hide-input (folded on the site, still open in Colab)."""
    for i, cell in enumerate(json.loads(nb.read_text(encoding="utf-8"))["cells"]):
        text = src(cell)
        lines = [line for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
        if cell["cell_type"] != "code" or text.startswith("#| export") or len(lines) < 8:
            continue
        if not any("image/png" in o.get("data", {}) for o in cell.get("outputs", [])):
            continue
        if sum(bool(DRAWING.match(line)) for line in lines) / len(lines) >= 0.6:
            assert {"hide-input", "remove-input"} & set(tags(cell)), (
                f"{nb.name}, cell {i}: it mostly draws ({text[:50]!r}...); tag it hide-input so the site folds it")
