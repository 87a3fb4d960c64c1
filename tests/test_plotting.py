"""The plotting helper draws Chinese where a CJK font exists and falls back cleanly where none does."""
import io
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from transformer_book import plotting  # noqa: E402


@pytest.fixture
def fresh_state(monkeypatch):
    monkeypatch.setattr(plotting, "_state", {"cjk_family": None, "configured": False, "hinted": False})


def test_without_a_cjk_font_labels_are_english_and_the_hint_is_printed_once(fresh_state, monkeypatch, capsys):
    monkeypatch.setattr(plotting, "find_cjk_family", lambda: None)
    assert plotting.setup() is False
    assert plotting.setup() is False
    out, err = capsys.readouterr()
    assert out.count("Note: no CJK font found") == 1 and err == ""
    assert plotting.bi("注意力", "attention") == "attention"
    assert plotting.bi2("注意力", "attention") == "attention"


def test_the_hint_matches_the_nbval_sanitizer():
    import configparser
    import re
    from pathlib import Path

    cfg = configparser.ConfigParser()
    cfg.read(Path(__file__).parent / "nbval_sanitize.cfg")
    pattern = cfg["cjk-font-hint"]["regex"]
    assert re.sub(pattern, "", plotting.INSTALL_HINT + "\n") == ""


def test_with_a_cjk_font_labels_are_bilingual_and_drawing_is_silent(fresh_state, capsys):
    if plotting.find_cjk_family() is None:
        pytest.skip("no CJK font on this machine (apt-get install fonts-noto-cjk)")
    assert plotting.setup() is True
    assert plotting.bi("注意力", "attention") == "注意力 · attention"
    assert plotting.bi2("注意力", "attention") == "注意力\nattention"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig, ax = plt.subplots()
        ax.set_title(plotting.bi2("位置编码", "positional encoding"))
        ax.plot([0, 1], [1, -1])
        fig.savefig(io.BytesIO(), format="png")
        plt.close(fig)
    assert capsys.readouterr().err == ""


def test_chinese_text_without_a_font_would_warn_so_the_fallback_matters(fresh_state, monkeypatch):
    """Why the fallback exists: DejaVu Sans has no Chinese glyphs and matplotlib warns about each."""
    monkeypatch.setattr(plotting, "find_cjk_family", lambda: None)
    plotting.setup(verbose=False)
    fig, ax = plt.subplots()
    ax.set_title(plotting.bi("注意力", "attention"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig.savefig(io.BytesIO(), format="png")  # English only: no glyph warnings
    plt.close(fig)
