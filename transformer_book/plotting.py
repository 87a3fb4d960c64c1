"""The book's one plotting helper: fonts, colour maps and bilingual labels.

Hand-written plumbing (not exported from a chapter). Chinese labels need a CJK
font; most machines (Colab included) have none until one is installed. This
module looks for one, registers it with matplotlib, and otherwise falls back to
English-only labels, saying once how to install a font. It never lets
matplotlib print font warnings (nbval compares stderr).
"""
from __future__ import annotations

import glob
import logging
import os
import warnings

import matplotlib
from matplotlib import font_manager

# One colour map for every attention map, one for every positional-encoding plot.
ATTN_CMAP = "viridis"
PE_CMAP = "RdBu_r"

CJK_FAMILIES = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "WenQuanYi Zen Hei",
    "SimHei",
    "Microsoft YaHei",
    "PingFang SC",
    "Heiti SC",
)
# Where Debian/Ubuntu (and so Colab after `apt-get install fonts-noto-cjk`) put the font.
_FONT_GLOBS = (
    "/usr/share/fonts/opentype/noto/NotoSansCJK-*.ttc",
    "/usr/share/fonts/truetype/noto/NotoSansCJK-*.ttc",
    "/usr/share/fonts/noto-cjk/NotoSansCJK-*.ttc",
    "/usr/share/fonts/google-noto-cjk/NotoSansCJK-*.ttc",
)
INSTALL_HINT = (
    "Note: no CJK font found, so figures use English labels only. "
    "To see the Chinese labels: apt-get install fonts-noto-cjk "
    "(in Colab: !apt-get -qq install fonts-noto-cjk), then run this cell again."
)

_state = {"cjk_family": None, "configured": False, "hinted": False}
# The smallest text any figure of the book may use, in points (a figure shrinks with the screen; below this a
# phone cannot show it). tests/test_figures.py and, under nbval, every plt.show() hold the figures to it.
MIN_FONTSIZE = 7


def find_cjk_family() -> str | None:
    """Return the name of an installed CJK font family, registering Noto CJK files if needed."""
    names = {f.name for f in font_manager.fontManager.ttflist}
    for family in CJK_FAMILIES:
        if family in names:
            return family
    # A font installed after matplotlib built its cache is unknown to it: add the files directly.
    for pattern in _FONT_GLOBS:
        for path in sorted(glob.glob(pattern)):
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError):
                continue
    names = {f.name for f in font_manager.fontManager.ttflist}
    return next((family for family in CJK_FAMILIES if family in names), None)


def setup(verbose: bool = True) -> bool:
    """Configure matplotlib for the book. Returns True when Chinese labels can be drawn."""
    logging.getLogger("matplotlib.font_manager").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", message=r"Glyph \d+ .*missing from", category=UserWarning)
    family = find_cjk_family()
    _state.update(cjk_family=family, configured=True)
    rc = matplotlib.rcParams
    rc["font.family"] = "sans-serif"
    rc["font.sans-serif"] = ([family] if family else []) + ["DejaVu Sans"]
    rc["axes.unicode_minus"] = False
    rc["figure.dpi"] = 100
    rc["savefig.dpi"] = 100
    rc["figure.figsize"] = (6.4, 4.0)
    rc["axes.titlesize"] = 12
    rc["axes.labelsize"] = 11
    rc["axes.spines.top"] = False
    rc["axes.spines.right"] = False
    rc["axes.grid"] = True
    rc["grid.alpha"] = 0.3
    rc["legend.frameon"] = False
    rc["image.cmap"] = ATTN_CMAP
    if os.environ.get("TRANSFORMER_BOOK_CHECK_FIGURES"):
        _check_figures_on_show()
    if family is None and verbose and not _state["hinted"]:
        print(INSTALL_HINT)
        _state["hinted"] = True
    return family is not None


def has_cjk() -> bool:
    """Whether Chinese labels are drawn (runs `setup` quietly on first use)."""
    if not _state["configured"]:
        setup(verbose=False)
    return _state["cjk_family"] is not None


def bi(zh: str, en: str, sep: str = " · ") -> str:
    """A bilingual label, `'注意力 · attention'`, or just `en` when no CJK font exists."""
    return f"{zh}{sep}{en}" if has_cjk() else en


def bi2(zh: str, en: str) -> str:
    """A two-line bilingual title (Chinese above English), or just `en` without a CJK font."""
    return bi(zh, en, sep="\n")


def spread(values, gap):
    """Positions for labels that belong at `values` (one column of a plot): in the same order, at least `gap`
    apart, each crowded group centred where its values are. Labels already `gap` apart stay where they are."""
    clusters = []  # [sum of the members' values, members in increasing order of value]
    for i in sorted(range(len(values)), key=values.__getitem__):
        clusters.append([values[i], [i]])
        while len(clusters) > 1:
            (s1, m1), (s2, m2) = clusters[-2], clusters[-1]
            top_of_lower = s1 / len(m1) + gap * (len(m1) - 1) / 2
            bottom_of_upper = s2 / len(m2) - gap * (len(m2) - 1) / 2
            if bottom_of_upper - top_of_lower >= gap:
                break
            clusters[-2:] = [[s1 + s2, m1 + m2]]
    out = [0.0] * len(values)
    for total, members in clusters:
        start = total / len(members) - gap * (len(members) - 1) / 2
        for k, i in enumerate(members):
            out[i] = start + k * gap
    return out


def _drawn_texts(fig):
    """The non-empty Text artists that a draw of `fig` actually shows (tick labels outside the view excluded)."""
    from matplotlib.text import Text
    ticks = set()
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            for tick in axis.get_major_ticks() + axis.get_minor_ticks():
                ticks.update((tick.label1, tick.label2))
            for tick in axis._update_ticks():  # the ticks inside the view limits: the ones drawn
                ticks.difference_update((tick.label1, tick.label2))
    return [t for t in fig.findobj(Text) if t not in ticks and t.get_visible() and t.get_text().strip()
            and (t.axes is None or t.axes.get_visible())]


def figure_problems(fig, min_fontsize=MIN_FONTSIZE):
    """What a reader would trip on in `fig`: text smaller than `min_fontsize` points, and two texts drawn over each
    other (overlapping by more than 1 pixel each way). [] when none. (Text past the figure's edge is no problem: the
    notebook saves figures with a tight bounding box, which grows to hold it.)"""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = _drawn_texts(fig)
    boxes = [t.get_window_extent(renderer) for t in texts]
    name = lambda t: repr(t.get_text()[:30])  # noqa: E731
    problems = [f"text {name(t)} is {t.get_fontsize():.1f} pt, below {min_fontsize} pt"
                for t in texts if t.get_fontsize() < min_fontsize - 1e-9]
    for i in range(len(texts)):
        for j in range(i + 1, len(texts)):
            a, b = boxes[i], boxes[j]
            if min(a.x1, b.x1) - max(a.x0, b.x0) > 1 and min(a.y1, b.y1) - max(a.y0, b.y0) > 1:
                problems.append(f"texts {name(texts[i])} and {name(texts[j])} overlap")
    return problems


def _check_figures_on_show():
    """With TRANSFORMER_BOOK_CHECK_FIGURES set (the test suite sets it), plt.show() first checks every open figure
    with figure_problems and raises AssertionError naming the problems; set to a file path, it appends them there."""
    import matplotlib.pyplot as plt
    if getattr(plt.show, "checks_figures", False):
        return
    show = plt.show

    def checked_show(*args, **kwargs):
        problems = [f"figure {num}: {p}" for num in plt.get_fignums() for p in figure_problems(plt.figure(num))]
        target = os.environ.get("TRANSFORMER_BOOK_CHECK_FIGURES", "")
        if problems and target not in ("", "1"):
            with open(target, "a", encoding="utf-8") as report:
                report.write("".join(p + "\n" for p in problems))
        elif problems:
            raise AssertionError("a figure a reader would trip on:\n" + "\n".join(problems))
        return show(*args, **kwargs)

    checked_show.checks_figures = True
    plt.show = checked_show
