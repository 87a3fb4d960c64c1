"""§5.5: decoding with a key/value cache gives what recomputing gives, beam search keeps its promises
(§6.1: beam 4, alpha 0.6, input length + 50), and sacreBLEU scores the output."""
import copy
import itertools
import math
import sys
from pathlib import Path

import pytest
import torch

from transformer_book.attention import subsequent_mask
from transformer_book.decoding import (BOS, EOS, IncrementalDecoder, RecomputingDecoder, beam_search, greedy_search,
                                       length_penalty, score_translations)
from transformer_book.model import Config, Transformer

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import decoding as bench  # noqa: E402


def random_model(seed=0, **changes):
    """A tiny float64 model with random weights, in eval mode."""
    torch.manual_seed(seed)
    config = Config.tiny(**{"src_vocab": 40, "tgt_vocab": 40, "P_drop": 0.0, **changes})
    return Transformer(config).double().eval()


def random_src(B, S=7, vocab=40, seed=0):
    """B sentences of up to S tokens ending in EOS, the later ones shorter (right-padded with PAD = 0)."""
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(4, vocab, (B, S), generator=g)
    for b in range(B):
        n = max(1, S - b)
        src[b, n - 1], src[b, n:] = EOS, 0
    return src


def full_log_probs(model, src, ys):
    """log P(next | ys) at every position of ys (B, T), by running the whole decoder."""
    src_mask = (src != model.config.pad_id)[:, None]
    out = model.decode(model.encode(src, src_mask), src_mask, ys, subsequent_mask(ys.size(1)))
    return model.generator(out)


def sequence_score(model, src, hyp, ended, alpha):
    """log P(hyp [+ EOS] | src) / lp, by teacher forcing: the score beam search gives an ended hypothesis."""
    target = hyp + ([EOS] if ended else [])
    ys = torch.tensor([[BOS] + target[:-1]])
    logp = full_log_probs(model, src, ys)[0]
    total = sum(logp[i, tok].item() for i, tok in enumerate(target))
    return total / length_penalty(len(target), alpha)


@pytest.fixture(scope="module")
def copy_model():
    """A tiny model trained for a few seconds to copy 1-6 symbols and stop: it emits EOS on its own."""
    torch.manual_seed(0)
    V = 12
    model = Transformer(Config.tiny(src_vocab=V, tgt_vocab=V, d_model=32, d_ff=64, N=2, h=4, P_drop=0.0))
    optimiser = torch.optim.Adam(model.parameters(), lr=3e-3, betas=(0.9, 0.98))
    loss_fn = torch.nn.NLLLoss(ignore_index=0)
    g = torch.Generator().manual_seed(0)
    for _ in range(150):
        src, tgt = copy_batch(64, V, g)
        logp = model.generator(model(src, tgt[:, :-1]))
        loss = loss_fn(logp.reshape(-1, V), tgt[:, 1:].reshape(-1))
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return model.eval()


def copy_batch(n, V, g, longest=6):
    """Source: symbols + [EOS]; target: [BOS] + the same symbols + [EOS]; right-padded with 0."""
    lengths = torch.randint(1, longest + 1, (n,), generator=g).tolist()
    src, tgt = torch.zeros(n, longest + 1, dtype=torch.long), torch.zeros(n, longest + 2, dtype=torch.long)
    for i, L in enumerate(lengths):
        x = torch.randint(4, V, (L,), generator=g)
        src[i, :L + 1] = torch.cat([x, torch.tensor([EOS])])
        tgt[i, :L + 2] = torch.cat([torch.tensor([BOS]), x, torch.tensor([EOS])])
    return src, tgt


# ---- the key/value cache ----------------------------------------------------------------------------

@pytest.mark.parametrize("changes", [{}, {"norm_first": True}, {"learned_positions": True},
                                     {"share_embeddings": False, "src_vocab": 30}, {"key_size": 4}],
                         ids=["post-LN", "pre-LN", "learned-positions", "untied", "smaller-d_k"])
def test_each_cached_step_equals_the_full_decoders_last_position(changes):
    model = random_model(**changes)
    src = random_src(3, vocab=model.config.src_vocab)
    ys = torch.randint(4, 40, (3, 9), generator=torch.Generator().manual_seed(1))
    ys[:, 0] = BOS
    cached = IncrementalDecoder(model, src)
    full = full_log_probs(model, src, ys)
    for t in range(ys.size(1)):
        step = cached.step(ys[:, t])
        assert step.shape == (3, 40)
        assert (step - full[:, t]).abs().max().item() <= 1e-10
    c = model.config
    assert cached.t == 9 and cached.self_kv[0][0].shape == (3, c.h, 9, c.d_k)  # keys
    assert cached.self_kv[0][1].shape == (3, c.h, 9, c.d_model // c.h)         # values: d_v = d_model / h


@pytest.mark.parametrize("B", [1, 3, 6])
@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_cached_greedy_decoding_gives_the_same_tokens_as_recomputing(B, norm_first):
    model = random_model(seed=B, norm_first=norm_first)
    src = random_src(B, seed=B)
    cached = greedy_search(model, src, max_len=15)
    assert cached == greedy_search(model, src, max_len=15, use_cache=False)
    assert len(cached) == B and all(isinstance(t, int) for hyp in cached for t in hyp)


def test_cached_and_recomputed_greedy_agree_on_a_trained_model_that_stops(copy_model):
    src, _ = copy_batch(16, 12, torch.Generator().manual_seed(5))
    assert greedy_search(copy_model, src) == greedy_search(copy_model, src, use_cache=False)


def test_reorder_keeps_the_chosen_rows_of_every_cache():
    model, src = random_model(), random_src(3)
    rows = torch.tensor([2, 0, 0, 1])
    cached, recomputing, fresh = IncrementalDecoder(model, src), RecomputingDecoder(model, src), IncrementalDecoder(model, src[rows])
    for tok in (BOS, 7):
        cached.step(torch.full((3,), tok)), recomputing.step(torch.full((3,), tok)), fresh.step(torch.full((4,), tok))
    cached.reorder(rows)
    recomputing.reorder(rows)
    y = torch.tensor([5, 6, 7, 8])
    expected = fresh.step(y)
    assert (cached.step(y) - expected).abs().max().item() <= 1e-12
    assert (recomputing.step(y) - expected).abs().max().item() <= 1e-12


def test_decoders_refuse_a_model_in_training_mode():
    model = random_model().train()
    for make in (IncrementalDecoder, RecomputingDecoder):
        with pytest.raises(ValueError, match=r"model\.eval\(\)"):
            make(model, random_src(2))
    with pytest.raises(ValueError, match="eval"):
        greedy_search(model, random_src(2), max_len=3)


# ---- greedy search: lengths and EOS ----------------------------------------------------------------

def test_greedy_search_stops_at_the_first_eos(copy_model):
    src, tgt = copy_batch(32, 12, torch.Generator().manual_seed(3))
    hyps = greedy_search(copy_model, src)
    limits = (src != 0).sum(1) + 50
    ended = 0
    for b, hyp in enumerate(hyps):
        assert EOS not in hyp and BOS not in hyp and 0 not in hyp
        ys = torch.tensor([[BOS] + hyp])
        logp = full_log_probs(copy_model, src[b:b + 1], ys)[0]
        logp[:, [0, BOS]] = -math.inf
        path = logp.argmax(-1).tolist()
        assert path[:len(hyp)] == hyp  # each token was the most probable one
        if len(hyp) < limits[b]:
            assert path[len(hyp)] == EOS  # and decoding stopped where EOS came first
            ended += 1
    copies = sum(hyp == [t for t in row[1:] if t not in (0, EOS)] for hyp, row in zip(hyps, tgt.tolist()))
    assert ended == len(hyps) and copies >= len(hyps) // 2


def test_max_len_defaults_to_the_source_length_plus_50():
    model = random_model()
    src = random_src(4)  # 7, 6, 5 and 4 real tokens
    hyps = greedy_search(model, src, min_len=1000)  # no EOS allowed: every sentence runs to its limit
    assert [len(h) for h in hyps] == [57, 56, 55, 54]
    assert [len(h) for h in beam_search(model, src, min_len=1000)] == [57, 56, 55, 54]


@pytest.mark.parametrize("max_len", [1, 4])
def test_max_len_is_respected(max_len, copy_model):
    src, _ = copy_batch(8, 12, torch.Generator().manual_seed(4))
    for hyps in (greedy_search(copy_model, src, max_len=max_len), beam_search(copy_model, src, max_len=max_len)):
        assert all(len(h) <= max_len for h in hyps)
    assert [len(h) for h in greedy_search(random_model(), random_src(3), max_len=max_len, min_len=max_len)] == [max_len] * 3


def test_min_len_forbids_an_early_eos(copy_model):
    src, _ = copy_batch(8, 12, torch.Generator().manual_seed(4))
    assert all(len(h) >= 6 for h in greedy_search(copy_model, src, min_len=6))
    assert all(len(h) >= 6 for h in beam_search(copy_model, src, min_len=6))


# ---- beam search --------------------------------------------------------------------------------

def test_length_penalty_is_the_gnmt_formula():
    assert length_penalty(1, 0.6) == 1.0
    assert length_penalty(7, 0.6) == pytest.approx(2 ** 0.6)
    assert length_penalty(25, 0.0) == 1.0
    lengths = torch.arange(1, 60, dtype=torch.float64)
    assert torch.all(length_penalty(lengths, 0.6).diff() > 0)


@pytest.mark.parametrize("norm_first", [False, True], ids=["post-LN", "pre-LN"])
def test_a_beam_of_one_is_greedy_search(norm_first, copy_model):
    model, src = random_model(seed=3, norm_first=norm_first), random_src(5, seed=3)
    assert beam_search(model, src, beam_size=1, max_len=12) == greedy_search(model, src, max_len=12)
    src, _ = copy_batch(16, 12, torch.Generator().manual_seed(6))
    assert beam_search(copy_model, src, beam_size=1) == greedy_search(copy_model, src)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 2.0])
def test_a_wide_beam_finds_the_best_hypothesis_of_a_brute_force_search(alpha):
    """Vocabulary of 6 (PAD, UNK, BOS, EOS, 4, 5), at most 3 steps: 40 possible outputs, all scored."""
    model = random_model(seed=11, src_vocab=6, tgt_vocab=6)
    src = torch.tensor([[4, 5, 4, EOS], [5, 5, EOS, 0]])
    words = [1, 4, 5]  # UNK and the two symbols; PAD and BOS are never generated
    for b in range(2):
        outputs = [(list(h), True) for n in range(3) for h in itertools.product(words, repeat=n)]
        outputs += [(list(h), False) for h in itertools.product(words, repeat=3)]  # cut at max_len
        scored = [(sequence_score(model, src[b:b + 1], h, ended, alpha), h) for h, ended in outputs]
        best_score, best = max(scored)
        (hyp,), (score,) = beam_search(model, src[b:b + 1], beam_size=32, alpha=alpha, max_len=3, return_scores=True)
        assert hyp == best and score == pytest.approx(best_score, abs=1e-12)


def test_beam_search_reports_the_length_normalised_log_probability_of_its_choice(copy_model):
    model = copy.deepcopy(copy_model).double()
    src, _ = copy_batch(6, 12, torch.Generator().manual_seed(7))
    hyps, scores = beam_search(model, src, beam_size=4, alpha=0.6, return_scores=True)
    greedy = greedy_search(model, src)
    for b, (hyp, score) in enumerate(zip(hyps, scores)):
        assert score == pytest.approx(sequence_score(model, src[b:b + 1], hyp, True, 0.6), abs=1e-9)
        assert score >= sequence_score(model, src[b:b + 1], greedy[b], True, 0.6) - 1e-9


@pytest.mark.parametrize("alpha", [0.0, 0.6])
def test_batched_beam_search_equals_searching_one_sentence_at_a_time(alpha):
    model, src = random_model(seed=2), random_src(5, seed=2)
    together = beam_search(model, src, beam_size=4, alpha=alpha, max_len=10, return_scores=True)
    alone = [beam_search(model, src[b:b + 1], beam_size=4, alpha=alpha, max_len=10, return_scores=True)
             for b in range(5)]
    assert together[0] == [a[0][0] for a in alone]
    assert together[1] == pytest.approx([a[1][0] for a in alone], abs=1e-12)


def test_beam_search_trace_shows_the_beams_of_each_step(copy_model):
    src, _ = copy_batch(2, 12, torch.Generator().manual_seed(8))
    trace = []
    beam_search(copy_model, src, beam_size=3, trace=trace)
    assert [s["step"] for s in trace] == list(range(1, len(trace) + 1))
    first = trace[0]["alive"][0]
    assert 1 <= len(first) <= 3 and all(len(prefix) == 1 for prefix, _ in first)
    assert [s for _, s in first] == sorted((s for _, s in first), reverse=True)


# ---- sacreBLEU ------------------------------------------------------------------------------------

def test_a_perfect_translation_scores_100_and_the_signatures_are_reported():
    refs = ["Ein Mann fährt Fahrrad.", "Zwei Hunde spielen im Schnee."]
    perfect = score_translations(refs, refs)
    assert perfect["bleu"] == pytest.approx(100.0) and perfect["chrf"] == pytest.approx(100.0)
    assert "tok:13a" in perfect["bleu_signature"] and "case:mixed" in perfect["bleu_signature"]
    assert "nrefs:1" in perfect["chrf_signature"] and perfect["bleu_details"].startswith("BLEU = 100.00")
    partial = score_translations(["Ein Mann fährt ein Rad.", "Zwei Katzen spielen im Schnee."], refs)
    assert 0 < partial["bleu"] < 100 and 0 < partial["chrf"] < 100


def test_bleu_is_case_sensitive_on_detokenised_text():
    lower = score_translations(["ein mann fährt fahrrad."], ["Ein Mann fährt Fahrrad."])
    assert lower["bleu"] < 100


# ---- clear errors --------------------------------------------------------------------------------

@pytest.mark.parametrize("call, match", [
    (lambda m: greedy_search(m, torch.zeros(2, 0, dtype=torch.long)), "empty"),
    (lambda m: greedy_search(m, torch.tensor([[5, 3], [0, 0]])), r"sentence\(s\) \[1\] hold only padding"),
    (lambda m: greedy_search(m, torch.tensor([5.0, 3.0])), r"\(B, S\) torch.long"),
    (lambda m: greedy_search(m, torch.tensor([[5, 3]], dtype=torch.int32)), "torch.long"),
    (lambda m: greedy_search(m, [[5, 3]]), "got list"),
    (lambda m: beam_search(m, torch.tensor([[5, 3]]), beam_size=0), "beam_size must be an integer >= 1"),
    (lambda m: beam_search(m, torch.tensor([[5, 3]]), beam_size=2.0), "beam_size"),
    (lambda m: beam_search(m, torch.tensor([[5, 3]]), alpha=-0.1), "alpha must be a number >= 0"),
    (lambda m: greedy_search(m, torch.tensor([[5, 3]]), max_len=0), "max_len must be an integer >= 1"),
    (lambda m: greedy_search(m, torch.tensor([[5, 3]]), min_len=-1), "min_len"),
    (lambda m: greedy_search(m, torch.tensor([[5, 3]]), max_len=10_000), "max_len=5000"),
    (lambda m: greedy_search(m, torch.tensor([[5, 3]]), eos_id=0), "distinct"),
    (lambda m: IncrementalDecoder(m, torch.tensor([[5, 3]])).step(torch.tensor([BOS, BOS])), r"y_t must be \(1,\)"),
    (lambda m: score_translations(["a b"], ["a b", "c"]), "one reference per hypothesis"),
    (lambda m: score_translations("a b", "a b"), "list of strings"),
    (lambda m: score_translations([], []), "at least one"),
])
def test_bad_inputs_raise_clear_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call(random_model())


# ---- the benchmark still runs ---------------------------------------------------------------------

def test_the_decoding_benchmark_runs_and_reports_the_speed_up(capsys):
    ratio = bench.main(["--preset", "tiny", "--tokens", "2", "--rounds", "1", "--src-len", "5"])
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert ratio > 0 and last.startswith("decoding speed-up with key/value cache (tiny, batch 1, greedy, 2 tokens):")
    assert last.endswith("×")
