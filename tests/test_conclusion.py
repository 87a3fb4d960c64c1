"""Chapter 7 (book/07_conclusion.ipynb) keeps its promises: it is a lesson like the other taught chapters, every
follow-up it draws cites a bibliography entry of the right year, and it colours the model families as chapter 0 does."""
import ast
import json
import re
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]
STEM = "07_conclusion"


def code_cells(stem):
    cells = json.loads((ROOT / "book" / f"{stem}.ipynb").read_text(encoding="utf-8"))["cells"]
    return ["".join(c["source"]) for c in cells if c["cell_type"] == "code"]


def literal(stem, name):
    """The value of the literal assigned to `name` in a code cell of the chapter."""
    for source in code_cells(stem):
        for node in ast.parse(source).body:
            if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
                return ast.literal_eval(node.value)
    raise AssertionError(f"book/{stem}.ipynb assigns no literal {name}")


def bibliography_years():
    bib = (ROOT / "book" / "references.bib").read_text(encoding="utf-8")
    entries = re.split(r"\n(?=@)", bib)
    years = {}
    for entry in entries:
        key = re.match(r"\s*@\w+\{([^,]+),", entry)
        year = re.search(r"\byear\s*=\s*\{(\d{4})\}", entry)
        if key and year:
            years[key.group(1).strip()] = int(year.group(1))
    return years


def test_every_model_and_method_the_chapter_dates_cites_an_entry_published_that_year_or_the_next():
    """Years in the chapter are years of first release (often an arXiv preprint), so the published entry may be a
    year later, never earlier and never more than a year later."""
    years = bibliography_years()
    rows = [(r[0], r[1], r[-1]) for r in literal(STEM, "FOLLOW_UPS")] + [(r[0], r[1], r[-1]) for r in literal(STEM, "LAYERS")]
    assert len(rows) >= 20
    for name, year, key in rows:
        assert key in years, f"{name}: {key} is not in book/references.bib"
        assert 0 <= years[key] - year <= 1, f"{name} dated {year}, but {key} is from {years[key]}"


def test_the_chapter_colours_the_model_families_as_chapter_0_does():
    assert literal(STEM, "FAMILY") == literal("00_prelude", "FAMILY")
    used = {r[3] for r in literal(STEM, "FOLLOW_UPS") if r[3]}
    assert used == set(literal("00_prelude", "FAMILY")), "the time line shows a model of every family of chapter 0"
