# The two commands of README: `make book` (set up, build the website) and `make test` (set up, run every test).
VENV ?= .venv
PY := $(VENV)/bin/python
# Where the corpora live (the folder holding multi30k/). Unset: the user's cache, downloading once.
ifneq ($(wildcard ../shared/data/multi30k),)
export TRANSFORMER_BOOK_DATA ?= $(abspath ../shared/data)
endif
export PYTHONHASHSEED := 0

.PHONY: setup book test portable unit nbval site export refresh clean

setup:
	bash tools/setup.sh

## Build the website into _build/html (stored notebook outputs, Sphinx warnings are errors).
book: setup
	$(PY) tools/export.py --check
	$(VENV)/bin/jupyter-book build . --all --warningiserror --nitpick --keep-going
	@echo "Open _build/html/index.html"

## Every test: unit tests, nbval over every chapter, then the built site in headless Chromium;
## then nbval once more under other floating-point rounding (`make portable`).
test: book
	$(PY) -m pytest
	$(MAKE) --no-print-directory portable

## nbval again with PyTorch's generic CPU kernels and one thread: rounding changes as on another CPU,
## and the stored outputs must still match (README: "Outputs that survive another machine").
portable: setup
	ATEN_CPU_CAPABILITY=default OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 $(PY) -m pytest book

## Regenerate transformer_book/ modules from the notebooks' exported cells.
export: setup
	$(PY) tools/export.py

## Re-execute notebooks and store their outputs (NB=book/01_introduction.ipynb for one).
refresh: setup
	$(PY) tools/refresh.py $(NB)

clean:
	rm -rf _build
