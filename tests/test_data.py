"""§5.1 data: the joint BPE vocabulary, id pairs, token-budget batches, Batch tensors, WMT 2014 records."""
import json
import pickle
import sys
import types
import warnings

import pytest
import torch

from transformer_book import data
from transformer_book.corpus import load_multi30k
from transformer_book.data import (BOS, BPE, EOS, PAD, UNK, Batch, bpe_cache_path, encode_pairs, fixed_size_batches,
                                   joint_bpe, load_wmt14, make_batch, padding_fraction, token_batches, wmt14_pairs)
from transformer_book.model import make_masks

N_PAIRS, VOCAB = 3000, 1000


@pytest.fixture(scope="module")
def pairs():
    return load_multi30k("train")[:N_PAIRS]


@pytest.fixture(scope="module")
def lines(pairs):
    return [en for en, _ in pairs], [de for _, de in pairs]


@pytest.fixture(scope="module")
def bpe(lines):
    return BPE.train(lines[0] + lines[1], VOCAB)


@pytest.fixture(scope="module")
def ids(bpe, lines):
    return encode_pairs(bpe, *lines)


def test_the_special_ids_are_pad_unk_bos_eos(bpe):
    assert (PAD, UNK, BOS, EOS) == (0, 1, 2, 3)
    assert [bpe.sp.id_to_piece(i) for i in range(4)] == ["<pad>", "<unk>", "<s>", "</s>"]
    assert bpe.vocab_size == VOCAB


def test_decoding_the_encoding_restores_training_sentences_up_to_whitespace(bpe, lines):
    sentences = lines[0] + lines[1]
    decoded = []
    for ids in bpe.encode_many(sentences):
        assert BOS not in ids and EOS not in ids and UNK not in ids
        decoded.append(bpe.decode(ids))
    assert decoded == [" ".join(s.split()) for s in sentences]
    exact = [d == s for d, s in zip(decoded, sentences)]
    assert sum(exact) > 0.99 * len(sentences), "only sentences with unusual whitespace come back changed"


def test_encode_many_equals_encode_one_by_one(bpe, lines):
    assert bpe.encode_many(lines[1][:200]) == [bpe.encode(s) for s in lines[1][:200]]


def test_training_twice_gives_identical_model_bytes(lines):
    text = lines[0][:1000] + lines[1][:1000]
    assert BPE.train(text, 500).to_bytes() == BPE.train(text, 500).to_bytes()


def test_train_writes_the_model_atomically_and_load_reads_it_back(lines, tmp_path):
    path = tmp_path / "sub" / "bpe.model"
    trained = BPE.train(lines[0][:500], 300, path)
    assert path.read_bytes() == trained.to_bytes()
    assert [p.name for p in path.parent.iterdir()] == ["bpe.model"], "no temporary file is left behind"
    loaded = BPE.load(path)
    assert loaded.to_bytes() == trained.to_bytes() and loaded.path == path


def test_to_bytes_from_bytes_and_pickle_give_the_same_encodings(bpe, lines):
    copies = [BPE.from_bytes(bpe.to_bytes()), pickle.loads(pickle.dumps(bpe))]
    for s in lines[1][:300]:
        assert all(c.encode(s) == bpe.encode(s) for c in copies)
    assert copies[0].vocab_size == bpe.vocab_size


def test_frequent_words_stay_whole_and_rare_words_split(bpe):
    assert bpe.pieces("A man") == ["▁A", "▁man"]
    rare = bpe.pieces("Fleischverarbeitungsbetrieb")
    assert len(rare) > 2 and "".join(rare) == "▁Fleischverarbeitungsbetrieb"


def test_an_unseen_character_becomes_unk_with_a_warning_naming_it(bpe):
    with pytest.warns(UserWarning, match="'☃'"):
        ids = bpe.encode("A man ☃ with a dog")
    assert ids.count(UNK) == 1
    assert bpe.decode(ids).startswith("A man ") and bpe.decode(ids).endswith(" with a dog")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bpe.encode("A man with a dog")  # known characters: no warning


def test_decode_skips_pad_bos_eos_and_takes_tensors(bpe):
    ids = bpe.encode("Two dogs play.")
    assert bpe.decode([BOS] + ids + [EOS, PAD, PAD]) == "Two dogs play."
    assert bpe.decode(torch.tensor([BOS] + ids + [EOS])) == "Two dogs play."
    with pytest.raises(ValueError, match="outside the vocabulary"):
        bpe.decode([5, VOCAB])


def test_a_vocabulary_too_small_or_too_large_or_no_text_is_a_clear_value_error(lines):
    with pytest.raises(ValueError, match="too small"):
        BPE.train(lines[0][:100], 10)
    with pytest.raises(ValueError, match="too large: BPE can make at most"):
        BPE.train(lines[0][:20], 5000)
    with pytest.raises(ValueError, match="no non-empty lines"):
        BPE.train(["", "   "], 100)
    with pytest.raises(ValueError, match="vocab_size must be an int"):
        BPE.train(lines[0][:100], 3)


def test_not_a_model_is_a_value_error(tmp_path):
    with pytest.raises(ValueError, match="not a sentencepiece model"):
        BPE.from_bytes(b"certainly not a model")


def test_joint_bpe_trains_once_then_loads_from_the_cache(lines, tmp_path, monkeypatch):
    src, tgt = lines[0][:800], lines[1][:800]
    first = joint_bpe(src, tgt, 400, tmp_path)
    path = bpe_cache_path(src, tgt, 400, tmp_path)
    assert first.path == path and path.is_file()
    assert path.name.startswith("bpe400-") and f"spm{data.spm.__version__}" in path.name

    def no_training(*args, **kwargs):
        raise AssertionError("a cache hit must not train")

    monkeypatch.setattr(data, "train_bpe_model", no_training)
    second = joint_bpe(src, tgt, 400, tmp_path)
    assert second.to_bytes() == first.to_bytes()


def test_the_cache_key_changes_with_the_text_and_the_vocabulary_size(lines, tmp_path):
    src, tgt = lines[0][:100], lines[1][:100]
    key = bpe_cache_path(src, tgt, 400, tmp_path)
    assert bpe_cache_path(src, tgt, 401, tmp_path) != key
    assert bpe_cache_path(src[:-1], tgt, 400, tmp_path) != key
    assert bpe_cache_path(list(src), list(tgt), 400, tmp_path) == key


@pytest.mark.parametrize("damage", ["garbage", "truncated", "empty"])
def test_a_damaged_cache_file_is_never_used(lines, tmp_path, damage):
    src, tgt = lines[0][:800], lines[1][:800]
    good = joint_bpe(src, tgt, 400, tmp_path).to_bytes()
    path = bpe_cache_path(src, tgt, 400, tmp_path)
    path.write_bytes({"garbage": b"\x00not a model" * 100, "truncated": good[: len(good) // 2], "empty": b""}[damage])
    with pytest.warns(UserWarning, match="damaged"):
        again = joint_bpe(src, tgt, 400, tmp_path)
    assert again.to_bytes() == good and path.read_bytes() == good


def test_a_cached_model_of_another_size_is_not_used(lines, tmp_path):
    src, tgt = lines[0][:800], lines[1][:800]
    path = bpe_cache_path(src, tgt, 400, tmp_path)
    BPE.train(src + tgt, 300, path)  # a file under the 400 name that holds 300 tokens
    with pytest.warns(UserWarning, match="damaged"):
        assert joint_bpe(src, tgt, 400, tmp_path).vocab_size == 400


def test_encode_pairs_ends_the_source_with_eos_and_wraps_the_target_in_bos_eos(bpe, lines, ids):
    assert len(ids) == N_PAIRS
    for (src, tgt), en, de in zip(ids[:100], *lines):
        assert src == bpe.encode(en) + [EOS]
        assert tgt == [BOS] + bpe.encode(de) + [EOS]


def test_encode_pairs_drops_pairs_longer_than_max_len_and_says_how_many(bpe, lines, ids):
    max_len = 20
    kept, dropped = encode_pairs(bpe, *lines, max_len=max_len, return_dropped=True)
    expected = [p for p in ids if len(p[0]) <= max_len and len(p[1]) <= max_len]
    assert kept == expected and dropped == len(ids) - len(expected) > 0
    assert encode_pairs(bpe, *lines, max_len=max_len) == expected
    with pytest.raises(ValueError, match="source lines but"):
        encode_pairs(bpe, lines[0][:3], lines[1][:2])


def test_token_batches_use_every_pair_exactly_once(ids):
    for shuffle in (True, False):
        batches = token_batches(ids, 1000, shuffle=shuffle)
        assert sorted(i for b in batches for i in b) == list(range(len(ids)))


@pytest.mark.parametrize("max_tokens", [100, 1000, 4000])
def test_token_batches_respect_the_budget_on_both_sides(ids, max_tokens):
    batches = token_batches(ids, max_tokens, seed=3, epoch=2)
    for batch in batches:
        assert len(batch) * max(len(ids[i][0]) for i in batch) <= max_tokens
        assert len(batch) * max(len(ids[i][1]) for i in batch) <= max_tokens
    for batch in batches[:20]:
        padded = make_batch(ids, batch)
        assert padded.src.numel() <= max_tokens and padded.tgt_out.numel() <= max_tokens


def test_the_same_seed_and_epoch_give_the_same_batches_and_another_epoch_others(ids):
    assert token_batches(ids, 1000, seed=0, epoch=0) == token_batches(ids, 1000, seed=0, epoch=0)
    assert token_batches(ids, 1000, seed=0, epoch=1) != token_batches(ids, 1000, seed=0, epoch=0)
    assert token_batches(ids, 1000, seed=1, epoch=0) != token_batches(ids, 1000, seed=0, epoch=0)
    assert fixed_size_batches(len(ids), 32, seed=0, epoch=1) != fixed_size_batches(len(ids), 32, seed=0, epoch=0)


def test_token_batches_group_similar_lengths_so_padding_is_far_below_naive(ids):
    batches = token_batches(ids, 1000)
    naive = fixed_size_batches(len(ids), round(len(ids) / len(batches)))
    by_length, fixed = padding_fraction(ids, batches), padding_fraction(ids, naive)
    assert fixed > 0.3 and by_length < fixed / 4, (by_length, fixed)
    spreads = [max(len(ids[i][0]) for i in b) - min(len(ids[i][0]) for i in b) for b in batches]
    assert sum(spreads) / len(spreads) < 1, "a batch's source lengths differ by less than one token on average"


def test_token_batches_of_the_hand_example():
    lengths = [(3, 4), (7, 8), (2, 3), (6, 6), (3, 4), (2, 3), (7, 7)]
    toy = [([5] * S, [5] * T) for S, T in lengths]
    assert token_batches(toy, 16, shuffle=False) == [[2, 5, 0, 4], [3, 6], [1]]
    assert padding_fraction(toy, [[0, 1]]) == pytest.approx(1 - (3 + 7 + 4 + 8) / (2 * 7 + 2 * 8))
    assert token_batches([], 16) == []


def test_a_pair_longer_than_the_budget_is_a_clear_value_error(ids):
    with pytest.raises(ValueError, match=r"pair 1 has 7 source and 8 target tokens, more than max_tokens=6"):
        token_batches([([5] * 3, [5] * 4), ([5] * 7, [5] * 8)], 6)
    with pytest.raises(ValueError, match="max_tokens must be a positive int"):
        token_batches(ids, 0)


def test_make_batch_pads_shifts_and_masks(ids):
    indices = [5, 17, 42]
    batch = make_batch(ids, indices)
    S = max(len(ids[i][0]) for i in indices)
    T = max(len(ids[i][1]) for i in indices) - 1
    assert batch.src.shape == (3, S) and batch.tgt_in.shape == batch.tgt_out.shape == (3, T)
    assert batch.src_mask.shape == (3, 1, S) and batch.tgt_mask.shape == (3, T, T)
    assert batch.src.dtype == torch.long and batch.src_mask.dtype == torch.bool
    for row, i in enumerate(indices):
        src, tgt = ids[i]
        assert batch.src[row, :len(src)].tolist() == src and (batch.src[row, len(src):] == PAD).all()
        assert batch.tgt_in[row, :len(tgt) - 1].tolist() == tgt[:-1]
        assert batch.tgt_out[row, :len(tgt) - 1].tolist() == tgt[1:]
        assert (batch.tgt_out[row, len(tgt) - 1:] == PAD).all()
    src_mask, tgt_mask = make_masks(batch.src, batch.tgt_in, PAD)
    assert torch.equal(batch.src_mask, src_mask) and torch.equal(batch.tgt_mask, tgt_mask)
    assert not batch.tgt_mask[0].triu(1).any(), "no position sees the future"
    assert batch.n_src_tokens == sum(len(ids[i][0]) for i in indices)
    assert batch.n_tgt_tokens == sum(len(ids[i][1]) - 1 for i in indices) == int((batch.tgt_out != PAD).sum())
    assert batch.tgt_out.is_contiguous() and batch.tgt_in.is_contiguous()


def test_batch_to_moves_every_tensor_and_keeps_the_counts(ids):
    batch = make_batch(ids, [0, 1])
    moved = batch.to("cpu")
    assert isinstance(moved, Batch) and moved.n_tgt_tokens == batch.n_tgt_tokens
    assert all(torch.equal(getattr(moved, f), getattr(batch, f)) for f in ("src", "tgt_in", "tgt_out", "src_mask", "tgt_mask"))
    with pytest.raises(ValueError, match="at least one index"):
        make_batch(ids, [])


def test_wmt14_pairs_reads_records_written_as_json_lines(tmp_path):
    records = [
        {"translation": {"de": "Ein Hund läuft. ", "en": "A dog runs."}},
        {"translation": {"de": "", "en": "The German side is empty."}},
        {"translation": {"de": "Zwei Kinder.", "en": "   "}},
        {"translation": {"de": " Eine Katze schläft.", "en": "A cat sleeps.\n"}},
    ]
    path = tmp_path / "wmt14.jsonl"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n", encoding="utf-8")
    read = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    assert wmt14_pairs(read) == (["A dog runs.", "A cat sleeps."], ["Ein Hund läuft.", "Eine Katze schläft."])
    assert wmt14_pairs(read, src="de", tgt="en") == (["Ein Hund läuft.", "Eine Katze schläft."], ["A dog runs.", "A cat sleeps."])


def test_wmt14_pairs_names_the_record_that_lacks_a_language():
    records = [{"translation": {"de": "Hallo.", "en": "Hello."}}, {"translation": {"fr": "Bonjour.", "en": "Hello."}}]
    with pytest.raises(ValueError, match=r"record 1 has no 'de' text \(it has \['en', 'fr'\]\)"):
        wmt14_pairs(records)
    with pytest.raises(ValueError, match="record 0 has no 'translation' dict"):
        wmt14_pairs([{"de": "Hallo.", "en": "Hello."}])


def test_load_wmt14_without_datasets_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "datasets", None)  # makes `import datasets` fail
    with pytest.raises(ImportError, match="pip install datasets"):
        load_wmt14("validation", limit=10)
    with pytest.raises(ValueError, match="pairs English with one of"):
        load_wmt14("train", src="de", tgt="fr")


def test_load_wmt14_asks_the_hub_for_the_right_configuration_and_returns_records(monkeypatch):
    calls = []
    records = [{"translation": {"de": "Hallo Welt.", "en": "Hello world."}}]

    def load_dataset(name, config, split):
        calls.append((name, config, split))
        return records

    monkeypatch.setitem(sys.modules, "datasets", types.SimpleNamespace(load_dataset=load_dataset))
    assert wmt14_pairs(load_wmt14("validation", limit=5)) == (["Hello world."], ["Hallo Welt."])
    assert wmt14_pairs(load_wmt14("test", src="de", tgt="en"), src="de", tgt="en") == (["Hallo Welt."], ["Hello world."])
    load_wmt14("train", src="en", tgt="fr")
    assert calls == [("wmt/wmt14", "de-en", "validation[:5]"), ("wmt/wmt14", "de-en", "test"), ("wmt/wmt14", "fr-en", "train")]


def test_add_to_class_attaches_methods_and_classmethods_under_their_own_names():
    from transformer_book.data import add_to_class

    class Box:
        def __init__(self, x):
            self.x = x

    @add_to_class(Box)
    def doubled(self):
        return 2 * self.x

    @add_to_class(Box)
    @classmethod
    def of_ten(cls):
        return cls(10)

    assert Box(3).doubled() == 6 and Box.of_ten().x == 10
    assert callable(doubled), "the decorated function stays usable under its name in the module"
    assert "doubled" in vars(Box) and "of_ten" in vars(Box)
