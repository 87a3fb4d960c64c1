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
