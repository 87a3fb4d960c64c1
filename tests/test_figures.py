"""The paper's Figures 1 and 2, drawn by transformer_book.figures, show what the code computes."""
import inspect
import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402

from transformer_book import attention, figures, plotting  # noqa: E402
from transformer_book.attention import MultiHeadAttention, scaled_dot_product_attention  # noqa: E402

BOOK = Path(__file__).resolve().parents[1] / "book"
BOXES = {"enc_embed", "enc_add", "enc_pe", "enc_attn", "enc_norm1", "enc_ffn", "enc_norm2", "enc_stack",
         "dec_embed", "dec_add", "dec_pe", "dec_self_attn", "dec_norm1", "dec_cross_attn", "dec_norm2", "dec_ffn",
         "dec_norm3", "dec_stack", "linear", "softmax"}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def patches(fig):
    return {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid() and p.get_gid() != "follow"}


def texts(fig):
    return {t.get_gid(): t.get_text() for t in fig.axes[0].texts if t.get_gid()}


def all_text(fig):
    return [t.get_text() for t in fig.axes[0].texts if t.get_text()]


def test_figure_one_has_every_block_of_the_paper_labelled_in_both_languages():
    fig = figures.model_figure()
    assert set(patches(fig)) == BOXES
    labels = all_text(fig)
    for english, times in [("Input embedding", 1), ("Output embedding", 1), ("Positional encoding", 2),
                           ("Multi-head attention", 1), ("Masked multi-head attention", 1),
                           ("Encoder–decoder attention", 1), ("Add & Norm", 5), ("Feed forward", 2), ("Linear", 1),
                           ("Softmax", 1), ("Output probabilities", 1), ("Inputs", 1), ("Outputs (shifted right)", 1),
                           ("N×", 2), (r"$\times\sqrt{d_{\mathrm{model}}}$", 2), ("K, V", 2)]:
        assert sum(english in t.splitlines() or t.endswith(english) or english in t.split(" · ")
                   for t in labels) == times, english
    if plotting.has_cjk():
        for chinese in ["输入嵌入", "输出嵌入", "位置编码", "多头注意力", "带掩码的多头注意力", "前馈网络", "相加与归一化",
                        "线性层", "输出概率"]:
            assert any(chinese in t for t in labels), chinese


def test_figure_one_marks_the_one_matrix_shared_by_both_embeddings_and_the_pre_softmax_linear():
    fig = figures.model_figure()
    shared = {gid.split(":")[0]: text for gid, text in texts(fig).items() if gid.endswith(":shared")}
    assert shared == {"enc_embed": "$E$", "dec_embed": "$E$", "linear": r"$E^\top$"}
    assert "shared by both embeddings" in texts(fig)["legend0"]


@pytest.mark.parametrize("part", list(figures.MODEL_PARTS))
def test_the_highlight_outlines_exactly_the_part_its_section_builds(part):
    normal = patches(figures.model_figure())
    here = patches(figures.model_figure(highlight=part))
    wanted = figures.MODEL_PARTS[part][3] or BOXES
    outlined = {gid for gid, p in here.items() if p.get_edgecolor() == to_rgba(figures.HERE)}
    assert outlined == wanted & BOXES
    for gid, p in here.items():
        if gid in outlined:  # the section's own part keeps its colours
            assert p.get_facecolor() == normal[gid].get_facecolor(), gid
        else:                # every other part fades
            assert p.get_edgecolor() == to_rgba(figures.FADED["ec"]), gid
            assert p.get_fill() is False or p.get_facecolor() in (to_rgba(figures.FADED["fc"]), to_rgba("white")), gid
    residual = {tuple(to_rgba(line.get_color())) for line in figures.model_figure(part).axes[0].lines
                if line.get_gid() == "residual"}
    assert residual == {to_rgba(figures.HERE if part in ("stacks", "full") else figures.FADED["ec"])}
    number = figures.MODEL_PARTS[part][0]
    assert texts(figures.model_figure(part))["title"].endswith(f"You are here: {number} {figures.MODEL_PARTS[part][2]}")


def test_without_a_highlight_nothing_is_outlined_or_faded():
    for gid, p in patches(figures.model_figure()).items():
        assert p.get_edgecolor() == to_rgba("black"), gid


def test_an_unknown_highlight_is_a_value_error_that_lists_the_choices():
    before = plt.get_fignums()
    with pytest.raises(ValueError) as err:
        figures.model_figure(highlight="decoder")
    message = str(err.value)
    assert "'decoder'" in message and all(repr(part) in message for part in figures.MODEL_PARTS)
    assert plt.get_fignums() == before, "no half-drawn figure is left behind"


def test_sections_3_1_to_3_6_each_open_with_a_map_of_their_own_part():
    for part, (number, *_rest) in figures.MODEL_PARTS.items():
        notebook = next(BOOK.glob(f"03_{number[2]}_*.ipynb"))
        code = ["".join(c["source"]) for c in json.loads(notebook.read_text(encoding="utf-8"))["cells"]
                if c["cell_type"] == "code"]
        assert f'model_figure(highlight="{part}")' in code[1], notebook.name  # first cell after the setup cell
    overview = json.loads((BOOK / "03_model_architecture.ipynb").read_text(encoding="utf-8"))["cells"]
    assert any("".join(c["source"]).startswith("model_figure()") for c in overview if c["cell_type"] == "code")


def code_lines_are_in(fig, source):
    """Every line of code printed on a figure (comments aside) is a piece of `source`."""
    lines = [line.strip() for text in (t.get_text() for t in fig.axes[0].texts if t.get_gid() == "code")
             for line in text.splitlines() if not line.strip().startswith("#")]
    assert lines
    for line in lines:
        for piece in line.split("..."):
            assert piece.strip() in source, line


def test_figure_two_left_labels_each_block_with_the_shape_of_its_output_and_its_own_code():
    Q, K, V = torch.randn(3, 4), torch.randn(3, 4), torch.randn(3, 2)
    labels = texts(figures.scaled_dot_product_figure(Q, K, V))
    expected = {"matmul_qk": "(3, 3)", "scale": "(3, 3)", "mask": "(3, 3)", "softmax": "(3, 3)", "matmul_v": "(3, 2)"}
    assert {gid: labels[f"{gid}:label"].splitlines()[-1] for gid in expected} == expected
    assert labels["matmul_qk:label"].splitlines()[0].endswith("MatMul")
    Q, K, V = torch.randn(2, 5, 8), torch.randn(2, 7, 8), torch.randn(2, 7, 3)
    fig = figures.scaled_dot_product_figure(Q, K, V, mask=torch.ones(2, 5, 7, dtype=torch.bool))
    assert texts(fig)["matmul_v:label"].endswith("(2, 5, 3)") and texts(fig)["softmax:label"].endswith("(2, 5, 7)")
    assert patches(fig)["mask"].get_linestyle() == "--", "the optional mask is dashed"
    code_lines_are_in(fig, inspect.getsource(attention.scaled_dot_product_attention))


def test_figure_two_right_reads_its_shapes_from_the_module_and_leaves_it_as_it_was():
    torch.manual_seed(0)
    mha = MultiHeadAttention(16, 4).eval()
    query, memory = torch.randn(2, 3, 16), torch.randn(2, 5, 16)
    fig = figures.multi_head_figure(mha, query, memory, memory)
    labels = texts(fig)
    assert labels["linear_Q:label"].endswith("(2, 4, 3, 4)") and labels["linear_K:label"].endswith("(2, 4, 5, 4)")
    assert labels["attention:label"].endswith("(2, 4, 3, 5) → (2, 4, 3, 4)")
    assert labels["concat:label"].endswith("(2, 3, 16)") and labels["linear_O:label"].endswith("(2, 3, 16)")
    assert "h = 4" in labels["attention:label"]
    assert mha.fused is True and mha.attn is None, "the figure restores the module's path and weights"
    assert all(not m._forward_hooks for m in mha.modules()), "the figure removes its hooks"
    code_lines_are_in(fig, inspect.getsource(MultiHeadAttention.forward))


def read_numbers(fig):
    """{gid: printed value} of every number cell of the step figure."""
    return {t.get_gid(): float(t.get_text()) for t in fig.axes[0].texts
            if t.get_gid() and re.fullmatch(r"(q|k|v|dot|score|exp|weight|wv|output)(:\d+)+", t.get_gid())}


def test_the_step_figure_prints_the_numbers_that_scaled_dot_product_attention_computes():
    g = torch.Generator().manual_seed(3)
    T, d_k, d_v = 4, 4, 2
    q, K, V = torch.randn(d_k, generator=g), torch.randn(T, d_k, generator=g), torch.randn(T, d_v, generator=g)
    fig = figures.attention_step_figure(q, K, V, ["a", "b", "c", "d"], query_token="c")
    printed = read_numbers(fig)
    assert len(printed) == d_k + T * d_k + 4 * T + 2 * T * d_v + d_v
    output, weights = scaled_dot_product_attention(q[None], K, V)  # the chapter's function, not the figure's code
    scores = (K @ q) / d_k**0.5
    truth = {"q": q, "k": K, "v": V, "dot": K @ q, "score": scores, "exp": scores.exp(), "weight": weights[0],
             "wv": weights[0][:, None] * V, "output": output[0]}
    for gid, value in printed.items():
        column, *index = gid.split(":")
        tolerance = 0.5 * 10 ** -figures.STEP_DECIMALS[column] + 1e-6
        assert abs(value - truth[column][tuple(int(i) for i in index)].item()) <= tolerance, gid
    total = float(texts(fig)["sum"].split("=")[1])
    assert abs(total - scores.exp().sum().item()) <= 0.5e-3 + 1e-6


def test_the_step_figure_follows_the_largest_weight_unless_told_otherwise():
    q, K, V = torch.tensor([1.0, 0.0]), torch.tensor([[0.0, 1.0], [2.0, 0.0], [1.0, 1.0]]), torch.eye(3)[:, :2]
    weights = scaled_dot_product_attention(q[None], K, V)[1][0]
    fig = figures.attention_step_figure(q, K, V, ["x", "y", "z"], query_token="y")
    trace = texts(fig)["trace"]
    assert "Follow the row of “y”" in trace and f"= {weights[1]:.3f}" in trace
    assert [p.get_gid() for p in fig.axes[0].patches].count("follow") == 1
    trace = texts(figures.attention_step_figure(q, K, V, ["x", "y", "z"], "y", follow=0))["trace"]
    assert "Follow the row of “x”" in trace and f"= {weights[0]:.3f}" in trace


def test_printed_numbers_never_read_minus_zero():
    assert figures.fmt_number(-0.0001, 3) == "0.000"
    assert figures.fmt_number(-0.0006, 3) == "-0.001"
    assert figures.fmt_number(2.5, 1) == "2.5"


def test_every_label_on_the_figures_is_at_least_8_points():
    torch.manual_seed(0)
    q, K, V = torch.randn(4), torch.randn(4, 4), torch.randn(4, 2)
    drawn = [figures.model_figure("attention"), figures.scaled_dot_product_figure(K, K, V),
             figures.multi_head_figure(MultiHeadAttention(16, 4).eval(), torch.randn(1, 5, 16)),
             figures.attention_step_figure(q, K, V, list("abcd"), "c")]
    for fig in drawn:
        sizes = [t.get_fontsize() for t in fig.axes[0].texts if t.get_text()]
        assert sizes and min(sizes) >= 8


def test_a_figure_can_be_drawn_into_given_axes_beside_others():
    fig, (left, right) = plt.subplots(1, 2, figsize=(14, 7.6))
    before = plt.get_fignums()
    assert figures.model_figure("ffn", ax=right) is fig
    assert plt.get_fignums() == before and not left.patches
    assert {p.get_gid() for p in right.patches if p.get_gid()} == BOXES
