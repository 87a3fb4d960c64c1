"""Refresh the notebooks: Colab setup cells, exported modules, stored outputs.

    python tools/refresh.py                 # every notebook in _toc.yml
    python tools/refresh.py book/01_*.ipynb # just these

For each notebook it (1) rewrites the setup cell (the code cell tagged `setup`)
from the template below with the repository address in `_config.yml`,
(2) runs `tools/export.py`, and (3) executes the notebook top to bottom in
this Python environment and stores the outputs. Saved widget state is dropped,
so the website shows the static figure beside each widget and needs no CDN.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import nbformat
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tools"))
import export  # noqa: E402

SETUP_TEMPLATE = '''\
# Setup · 环境准备 — only in Colab: install this book's package and a CJK font (torch is already there).
import sys
if "google.colab" in sys.modules:
    import subprocess
    REPO_URL, BRANCH = "{url}", "{branch}"
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", f"git+{{REPO_URL}}@{{BRANCH}}"], check=True)
    subprocess.run("apt-get -qq install -y fonts-noto-cjk > /dev/null", shell=True)'''


def repository(root: Path = ROOT) -> tuple[str, str]:
    config = yaml.safe_load((root / "_config.yml").read_text(encoding="utf-8"))
    repo = config.get("repository", {})
    return repo["url"].rstrip("/"), repo.get("branch", "main")


def setup_source(root: Path = ROOT) -> str:
    url, branch = repository(root)
    return SETUP_TEMPLATE.format(url=url, branch=branch)


def setup_cells(nb) -> list:
    return [c for c in nb.cells if c.cell_type == "code" and "setup" in c.metadata.get("tags", [])]


def write_setup_cell(nb, root: Path = ROOT) -> None:
    cells = setup_cells(nb)
    if not cells:
        raise SystemExit("a notebook has no code cell tagged `setup`; add one as its first code cell")
    cells[0].source = setup_source(root)
    tags = cells[0].metadata.setdefault("tags", [])
    if "remove-cell" not in tags:
        tags.append("remove-cell")


def execute(path: Path, timeout: int) -> float:
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    write_setup_cell(nb)
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    start = time.time()
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", record_timing=False,
                            resources={"metadata": {"path": str(path.parent)}})
    client.execute()
    nb.metadata.pop("widgets", None)  # nbclient writes the widget state back while executing
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        for out in cell.get("outputs", []):
            if out.get("output_type") in ("display_data", "execute_result"):
                out.get("data", {}).pop("application/vnd.jupyter.widget-view+json", None)
    tmp = path.with_suffix(".ipynb.tmp")
    nbformat.write(nb, tmp)
    tmp.replace(path)
    return time.time() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("notebooks", nargs="*", type=Path, help="notebooks to refresh (default: all in _toc.yml)")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds allowed per cell")
    parser.add_argument("--no-execute", action="store_true", help="only rewrite setup cells and export")
    args = parser.parse_args(argv)
    notebooks = [p.resolve() for p in args.notebooks] or export.toc_files()
    os.environ.setdefault("PYTHONHASHSEED", "0")
    for path in notebooks:
        nb = nbformat.read(path, as_version=4)
        write_setup_cell(nb)
        nbformat.write(nb, path)
    export.main([])
    if args.no_execute:
        return 0
    for path in notebooks:
        seconds = execute(path, args.timeout)
        print(f"executed {path.relative_to(ROOT)} in {seconds:.0f} s")
    export.main([])
    return 0


if __name__ == "__main__":
    sys.exit(main())
