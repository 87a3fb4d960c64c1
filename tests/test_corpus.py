"""The data function finds Multi30k in the documented order and never keeps a damaged file."""
import gzip
import shutil
from pathlib import Path

import pytest

from transformer_book import corpus
from transformer_book.corpus import CorpusError, locate_corpus, load_multi30k, read_lines

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def shared_data() -> Path:
    """A folder holding a complete multi30k/: $TRANSFORMER_BOOK_DATA (CI's local mirror), the mirror
    beside the checkout, or else the user's cache, filled by the checked download."""
    import os
    folder = Path(os.environ.get(corpus.ENV_VAR) or SHARED)
    if (folder / "multi30k" / "val.en.gz").is_file():
        return folder
    return corpus.locate_corpus("multi30k").parent


@pytest.fixture
def isolated(monkeypatch, tmp_path):
    """No env var, a private cache, and a 'remote' that is a local folder of files."""
    monkeypatch.delenv(corpus.ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    remote = tmp_path / "remote"
    remote.mkdir()
    monkeypatch.setitem(corpus.CORPORA, "multi30k", (remote.as_uri() + "/{name}", corpus.MULTI30K_SHA256))
    return remote


def test_shared_mirror_matches_the_published_checksums():
    folder = shared_data() / "multi30k"
    for name, digest in corpus.MULTI30K_SHA256.items():
        assert corpus.sha256_of(folder / name) == digest, name


def test_multi30k_splits_have_the_documented_sizes():
    data = shared_data()
    assert len(load_multi30k("train", "en", "de", data_dir=data)) == 29000
    assert len(load_multi30k("val", "en", "de", data_dir=data)) == 1014
    pairs = load_multi30k("test_2016_flickr", "en", "fr", data_dir=data)
    assert len(pairs) == 1000 and all(src and tgt for src, tgt in pairs)


def test_explicit_data_dir_wins_over_the_environment(monkeypatch, tmp_path):
    data = shared_data()
    monkeypatch.setenv(corpus.ENV_VAR, str(tmp_path / "nowhere"))
    assert locate_corpus("multi30k", data, files=["val.en.gz"]) == data / "multi30k"


def test_environment_variable_is_used_when_no_data_dir_is_given(monkeypatch):
    monkeypatch.setenv(corpus.ENV_VAR, str(shared_data()))
    assert locate_corpus("multi30k", files=["val.de.gz"]) == shared_data() / "multi30k"


def test_a_data_dir_without_the_files_is_a_clear_error(tmp_path):
    with pytest.raises(CorpusError, match="lacks val.en.gz"):
        locate_corpus("multi30k", tmp_path, files=["val.en.gz"])


def test_a_damaged_local_file_is_reported(tmp_path):
    (tmp_path / "multi30k").mkdir()
    shutil.copy(shared_data() / "multi30k" / "val.en.gz", tmp_path / "multi30k" / "val.de.gz")
    with pytest.raises(CorpusError, match="damaged"):
        locate_corpus("multi30k", tmp_path, files=["val.de.gz"])


def test_missing_files_are_downloaded_into_the_cache_and_verified(isolated, tmp_path):
    shutil.copy(shared_data() / "multi30k" / "val.en.gz", isolated / "val.en.gz")
    lines = read_lines("val", "en")
    assert len(lines) == 1014
    cached = tmp_path / "cache" / "transformer_book" / "multi30k"
    assert sorted(p.name for p in cached.iterdir()) == ["val.en.gz"]  # no temporary files left
    # A second call finds the cache and downloads nothing.
    (isolated / "val.en.gz").unlink()
    assert read_lines("val", "en") == lines


def test_a_truncated_download_is_reported_and_never_left_in_the_cache(isolated, tmp_path):
    data = (shared_data() / "multi30k" / "val.en.gz").read_bytes()
    (isolated / "val.en.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(CorpusError, match="damaged or truncated"):
        read_lines("val", "en")
    cached = tmp_path / "cache" / "transformer_book" / "multi30k"
    assert list(cached.iterdir()) == []


def test_a_damaged_cached_file_is_replaced_by_a_fresh_download(isolated, tmp_path):
    shutil.copy(shared_data() / "multi30k" / "val.en.gz", isolated / "val.en.gz")
    cached = tmp_path / "cache" / "transformer_book" / "multi30k"
    cached.mkdir(parents=True)
    with gzip.open(cached / "val.en.gz", "wt") as f:
        f.write("not the real file\n")
    assert len(read_lines("val", "en")) == 1014


def test_no_network_gives_advice_instead_of_a_traceback(isolated):
    with pytest.raises(CorpusError, match="TRANSFORMER_BOOK_DATA"):
        read_lines("val", "fr")  # the fake remote has no such file


def test_unknown_split_or_language_names_what_exists():
    with pytest.raises(CorpusError, match="splits"):
        read_lines("dev", "en")
    with pytest.raises(CorpusError, match="languages"):
        read_lines("val", "cs")
