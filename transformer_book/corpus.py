"""Finding the book's corpora on disk, or downloading them once (hand-written plumbing).

`locate_corpus` looks, in this order, in
  1. the `data_dir` argument (`--data-dir` on command lines),
  2. the folder named by the environment variable TRANSFORMER_BOOK_DATA,
  3. the user's cache folder (~/.cache/transformer_book, or $XDG_CACHE_HOME/transformer_book),
  4. and otherwise downloads the files into that cache.
Each of these folders holds one sub-folder per corpus (`multi30k/`). Every file's
SHA-256 is checked; a damaged download is deleted, never left in the cache.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from pathlib import Path

ENV_VAR = "TRANSFORMER_BOOK_DATA"

MULTI30K_URL = "https://github.com/multi30k/dataset/raw/master/data/task1/raw/{name}"
MULTI30K_SPLITS = ("train", "val", "test_2016_flickr")
MULTI30K_LANGS = ("en", "de", "fr")
# From the Multi30k repository (task 1, raw); the same files that ../shared/data/multi30k holds.
MULTI30K_SHA256 = {
    "test_2016_flickr.de.gz": "9204244e408ccb38d2a55cfcd344df15005fc42a07a6e55ca6c52b6ababb8cc8",
    "test_2016_flickr.en.gz": "611d361c6334bc7246101d48097c13cf5c4413c5befc793cc629934359d532d9",
    "test_2016_flickr.fr.gz": "6d326e188d259fb1d04ac19eae3af956559b3a0b93d7635e56c90987c40c8b90",
    "train.de.gz": "726e39b2fa9eb9ffb6dc763fb35a179f80fae06ffc5d28b6ace5faa883de28a6",
    "train.en.gz": "d79cfa999dd4c51d2cb42499b6796d5a882c3a8a961923c25a898c90f8bbd56f",
    "train.fr.gz": "622e75069e9f4c577425c4f277116ce66e63a2401c0a2312d90073cb12379a3c",
    "val.de.gz": "f0cba2f995189cf5770f29a8a9a537a3ad3f51657ad873405082ff6863a5e75a",
    "val.en.gz": "14f7d25ddd868909a9213e361768460edcacdd6ab9d1e77b92560dc10c10dc28",
    "val.fr.gz": "ca3106f1a72390591d25f6c45cb4cd39dec4cd3f123e099748a3ce5256c160e9",
}
CORPORA = {"multi30k": (MULTI30K_URL, MULTI30K_SHA256)}


class CorpusError(RuntimeError):
    """A corpus could not be found or fetched; the message says what to do."""


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "transformer_book"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _check_folder(folder: Path, files: dict[str, str], origin: str) -> Path:
    """Raise CorpusError unless every file is in `folder` with the right checksum."""
    missing = [name for name in files if not (folder / name).is_file()]
    if missing:
        raise CorpusError(
            f"{origin} is {folder.parent}, but {folder} lacks {', '.join(sorted(missing))}. "
            f"Point it at the folder that holds '{folder.name}/', or unset it to use the cache and download."
        )
    for name, expected in files.items():
        if sha256_of(folder / name) != expected:
            raise CorpusError(
                f"{folder / name} is damaged (its SHA-256 is not {expected}). "
                "Replace it with a fresh copy of the original file."
            )
    return folder


def download(url: str, dest: Path, sha256: str, timeout: float = 60.0) -> Path:
    """Fetch `url` into `dest` atomically; a file whose checksum is wrong is never kept."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
            for block in iter(lambda: response.read(1 << 20), b""):
                digest.update(block)
                out.write(block)
        if digest.hexdigest() != sha256:
            raise CorpusError(
                f"the download of {url} is damaged or truncated (SHA-256 {digest.hexdigest()}, expected {sha256}); "
                f"nothing was kept in {dest.parent}. Run again to retry, or download the file by hand into "
                f"{dest.parent} and set {ENV_VAR} to the folder above it."
            )
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise CorpusError(
            f"could not download {url} ({exc}). Without network, copy the files into a folder "
            f"'<DIR>/{dest.parent.name}/' and pass data_dir=<DIR> (--data-dir) or set {ENV_VAR}=<DIR>."
        ) from exc
    finally:
        tmp.unlink(missing_ok=True)


def locate_corpus(name: str = "multi30k", data_dir: str | os.PathLike | None = None, *,
                  files: list[str] | None = None, download_missing: bool = True) -> Path:
    """Return the folder that holds corpus `name`, downloading it into the cache if needed.

    `files` limits the check (and the download) to some of the corpus's files.
    """
    if name not in CORPORA:
        raise CorpusError(f"unknown corpus {name!r}; known: {', '.join(CORPORA)}")
    url_template, sums = CORPORA[name]
    unknown = sorted(set(files or ()) - set(sums))
    if unknown:
        raise CorpusError(f"unknown file(s) {unknown} for corpus {name!r}")
    wanted = {f: sums[f] for f in (files or sums)}
    if data_dir is not None:
        return _check_folder(Path(data_dir).expanduser() / name, wanted, "data_dir (--data-dir)")
    if os.environ.get(ENV_VAR):
        return _check_folder(Path(os.environ[ENV_VAR]).expanduser() / name, wanted, f"${ENV_VAR}")
    folder = cache_dir() / name
    for fname, expected in wanted.items():
        path = folder / fname
        if path.is_file() and sha256_of(path) == expected:
            continue
        if not download_missing:
            raise CorpusError(f"{path} is missing and downloads are off; set {ENV_VAR} or pass data_dir")
        path.unlink(missing_ok=True)  # a damaged cached copy is replaced, never used
        download(url_template.format(name=fname), path, expected)
    return folder


def read_lines(split: str, lang: str, data_dir: str | os.PathLike | None = None, corpus: str = "multi30k") -> list[str]:
    """The sentences of one split and language, one string per line (trailing newline removed)."""
    if split not in MULTI30K_SPLITS or lang not in MULTI30K_LANGS:
        raise CorpusError(f"no {corpus} file for split={split!r}, lang={lang!r}; "
                          f"splits: {MULTI30K_SPLITS}, languages: {MULTI30K_LANGS}")
    fname = f"{split}.{lang}.gz"
    folder = locate_corpus(corpus, data_dir, files=[fname])
    with gzip.open(folder / fname, "rt", encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def load_multi30k(split: str, src: str = "en", tgt: str = "de",
                  data_dir: str | os.PathLike | None = None) -> list[tuple[str, str]]:
    """Aligned (source, target) sentence pairs of a Multi30k split."""
    source, target = read_lines(split, src, data_dir), read_lines(split, tgt, data_dir)
    if len(source) != len(target):
        raise CorpusError(f"{split}.{src} has {len(source)} lines but {split}.{tgt} has {len(target)}")
    return list(zip(source, target))
