#!/usr/bin/env bash
# Set up everything the book needs, idempotently: a virtual environment in .venv with the pinned
# requirements and this package (editable), a CJK font for the figures, and MathJax for the site.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating $VENV"
  "$PY" -m venv "$VENV"
fi
stamp="$VENV/.requirements-installed"
if [ ! -f "$stamp" ] || ! cmp -s requirements.txt "$stamp"; then
  echo "== installing requirements.txt into $VENV (torch==2.13.0; see README for the CPU build)"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  if [ "${TORCH_CPU:-0}" = 1 ]; then
    # No GPU: take PyTorch's CPU-only build (about 200 MB instead of several GB of CUDA libraries).
    "$VENV/bin/python" -m pip install -q torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
  fi
  "$VENV/bin/python" -m pip install -q -r requirements.txt
  cp requirements.txt "$stamp"
fi
"$VENV/bin/python" -m pip install -q --no-deps --no-build-isolation -e . 2>/dev/null \
  || "$VENV/bin/python" -m pip install -q --no-deps -e .

# Figures carry Chinese labels: they need a CJK font (Debian/Ubuntu: fonts-noto-cjk).
if ! fc-list 2>/dev/null | grep -i "Noto Sans CJK" >/dev/null; then
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "== installing fonts-noto-cjk"
    (apt-get install -y -qq fonts-noto-cjk >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq fonts-noto-cjk >/dev/null; }) \
      || echo "warning: could not install fonts-noto-cjk; figures will use English labels only"
  else
    echo "note: no CJK font found; figures will use English labels only. Install one with: sudo apt-get install fonts-noto-cjk"
  fi
fi

bash tools/fetch_assets.sh
