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


@pytest.mark.parametrize("values", [[0.0, 0.1, 0.15, 2.0], [-3.9, -4.0, -1.0], [5.0, 5.0, 5.0], [1.0], [],
                                    [0.3, -2.0, 0.29, 0.31, -1.95, 4.0]])
def test_spread_keeps_the_order_puts_labels_a_gap_apart_and_centres_each_crowd(values):
    gap = 0.25
    out = plotting.spread(values, gap)
    order = sorted(range(len(values)), key=values.__getitem__)
    placed = [out[i] for i in order]
    assert all(b - a >= gap - 1e-12 for a, b in zip(placed, placed[1:])), "at least a gap apart"
    assert len(out) == len(values)
    assert abs(sum(out) - sum(values)) < 1e-9, "each crowd is centred on its values, so the sum is kept"


def test_spread_leaves_labels_that_are_far_enough_apart_alone():
    assert plotting.spread([0.0, 1.0, -1.0], 0.25) == [0.0, 1.0, -1.0]
    assert plotting.spread([0.0, 0.1], 0.3) == pytest.approx([-0.1, 0.2])


def test_figure_problems_names_small_text_and_overlapping_text_and_passes_a_clean_figure():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.plot([0, 1], [0, 1])
    ax.set(xlabel="x", ylabel="y", title="clean")
    assert plotting.figure_problems(fig) == []
    ax.text(0.5, 0.5, "hello")
    ax.text(0.52, 0.5, "world")
    ax.set_title("tiny", fontsize=plotting.MIN_FONTSIZE - 1)
    problems = plotting.figure_problems(fig)
    assert problems == [f"text 'tiny' is {plotting.MIN_FONTSIZE - 1:.1f} pt, below {plotting.MIN_FONTSIZE} pt",
                        "texts 'hello' and 'world' overlap"]
    plt.close(fig)


def test_tick_labels_outside_the_view_are_not_counted():
    fig, ax = plt.subplots(figsize=(4, 3), layout="constrained")
    ax.set_xticks([-10, 0, 1, 20], ["far left", "0", "1", "far right"])
    ax.set_xlim(-0.5, 1.5)
    assert plotting.figure_problems(fig) == []
    plt.close(fig)


def test_under_the_test_suite_plt_show_refuses_a_figure_with_overlapping_text(monkeypatch):
    monkeypatch.setenv("TRANSFORMER_BOOK_CHECK_FIGURES", "1")
    monkeypatch.setattr(plt, "show", plt.show)  # restored afterwards
    plotting.setup(verbose=False)
    fig, ax = plt.subplots()
    ax.text(0.5, 0.5, "hello")
    ax.text(0.51, 0.5, "world")
    with pytest.raises(AssertionError, match="'hello' and 'world' overlap"):
        plt.show()
    plt.close(fig)
