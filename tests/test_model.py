"""§3.6: the assembled Transformer has the paper's shape, masks and parameter budget."""
import pytest
import torch

from transformer_book.attention import MultiHeadAttention

from transformer_book.model import Config, Transformer, greedy_decode, make_masks


def tiny(**changes):
    return Config.tiny(**{"P_drop": 0.0, **changes})


def batch(config, seed=0):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(3, config.src_vocab, (2, 7), generator=g)
    tgt = torch.randint(3, config.tgt_vocab, (2, 5), generator=g)
    src[0, -2:] = config.pad_id
    tgt[0, -1:] = config.pad_id
    return src, tgt


def test_presets_are_the_papers_base_and_big_models():
    base, big = Config.base(), Config.big()
    assert (base.N, base.d_model, base.d_ff, base.h, base.d_k, base.P_drop) == (6, 512, 2048, 8, 64, 0.1)
    assert (big.N, big.d_model, big.d_ff, big.h, big.d_k, big.P_drop) == (6, 1024, 4096, 16, 64, 0.3)


def test_base_model_with_a_shared_37000_token_vocabulary_has_about_65_million_parameters():
    model = Transformer(Config.base())
    n = sum(p.numel() for p in model.parameters())
    assert n == 63_082_496  # counted part by part in §3.6; the paper's Table 3 rounds to 65M
    assert 60e6 < n < 65e6


def test_shared_vocabulary_ties_both_embeddings_and_the_generator():
    model = Transformer(tiny())
    w = model.src_embed[0].lut.weight
    assert w is model.tgt_embed[0].lut.weight is model.generator.proj.weight
    untied = Transformer(tiny(share_embeddings=False))
    assert untied.src_embed[0].lut.weight is not untied.generator.proj.weight
    assert sum(p.numel() for p in untied.parameters()) - sum(p.numel() for p in model.parameters()) == 2 * w.numel()


def test_forward_gives_decoder_states_and_generator_gives_log_probabilities():
    config = tiny()
    model = Transformer(config).eval()
    src, tgt = batch(config)
    out = model(src, tgt)
    assert out.shape == (2, 5, config.d_model)
    logp = model.generator(out)
    assert torch.allclose(logp.exp().sum(-1), torch.ones(2, 5), atol=1e-5)


def test_future_target_tokens_do_not_change_earlier_outputs():
    config = tiny()
    model = Transformer(config).eval()
    src, tgt = batch(config)
    changed = tgt.clone()
    changed[1, 3:] = torch.tensor([4, 5])
    a, b = model(src, tgt), model(src, changed)
    assert torch.equal(a[1, :3], b[1, :3])
    assert not torch.allclose(a[1, 3:], b[1, 3:])


def test_padded_source_tokens_do_not_change_the_outputs():
    config = tiny()
    model = Transformer(config).eval()
    src, tgt = batch(config)
    other = src.clone()
    src_mask, tgt_mask = make_masks(src, tgt, config.pad_id)
    other[0, -2:] = 9  # change the tokens under the padding, keep the masks
    assert torch.allclose(model(src, tgt, src_mask, tgt_mask), model(other, tgt, src_mask, tgt_mask), atol=1e-6)


def test_gradients_reach_every_parameter():
    config = Config.tiny()
    model = Transformer(config).train()
    src, tgt = batch(config)
    model.generator(model(src, tgt)).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_same_seed_gives_identical_models_and_outputs_in_training_mode():
    config = Config.tiny()
    src, tgt = batch(config)
    outs = []
    for _ in range(2):
        torch.manual_seed(3)
        model = Transformer(config).train()
        outs.append(model(src, tgt))
    assert torch.equal(*outs)


@pytest.mark.parametrize("norm_first, learned", [(True, False), (False, True)])
def test_named_switches_build_the_variants(norm_first, learned):
    config = tiny(norm_first=norm_first, learned_positions=learned)
    model = Transformer(config).eval()
    src, tgt = batch(config)
    assert model(src, tgt).shape == (2, 5, config.d_model)
    assert isinstance(model.encoder.norm, torch.nn.LayerNorm) == norm_first


def test_key_size_reaches_every_attention_layer_and_is_checked():
    config = tiny(key_size=4)
    model = Transformer(config).eval()
    layers = [m for m in model.modules() if isinstance(m, MultiHeadAttention)]
    assert config.d_k == 4 and len(layers) == 3 * config.N and all(m.d_k == 4 for m in layers)
    src, tgt = batch(config)
    assert model(src, tgt).shape == (2, 5, config.d_model)
    assert tiny().d_k == tiny().d_model // tiny().h
    with pytest.raises(ValueError, match="key_size must be >= 0"):
        tiny(key_size=-1)


def test_bfloat16_forward_runs_on_cpu_and_stays_close_to_float32():
    config = tiny()
    model = Transformer(config).eval()
    src, tgt = batch(config)
    ref = model(src, tgt)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed = model(src, tgt)  # matmuls in bf16, layer norms in fp32
    low = model.to(torch.bfloat16)(src, tgt)  # everything in bf16
    assert low.dtype == torch.bfloat16
    assert (mixed.float() - ref).abs().max() < 0.15
    assert (low.float() - ref).abs().max() < 0.3


def test_greedy_decoding_starts_with_the_start_token_and_pads_after_the_end():
    config = tiny()
    torch.manual_seed(0)
    model = Transformer(config).eval()
    src, _ = batch(config)
    ys = greedy_decode(model, src, max_len=6, start_id=1, end_id=2)
    assert ys.shape[0] == 2 and 2 <= ys.shape[1] <= 7 and (ys[:, 0] == 1).all()
    for row in ys.tolist():
        if 2 in row[1:]:
            end = row.index(2, 1)
            assert all(t == config.pad_id for t in row[end + 1:])


@pytest.mark.parametrize("changes, message", [
    ({"d_model": 64, "h": 5}, "not divisible"),
    ({"src_vocab": 100, "tgt_vocab": 120}, "share_embeddings"),
    ({"P_drop": 1.0}, "P_drop"),
    ({"N": 0}, "Config.N"),
    ({"pad_id": 5000}, "pad_id"),
])
def test_inconsistent_configurations_are_refused_with_a_clear_message(changes, message):
    with pytest.raises(ValueError, match=message):
        Config.tiny(**changes)


def test_token_ids_outside_the_vocabulary_are_a_clear_error():
    config = tiny()
    model = Transformer(config).eval()
    src, tgt = batch(config)
    src[0, 0] = config.src_vocab
    with pytest.raises(ValueError, match="vocab"):
        model(src, tgt)
