# The VEGAN book: the two commands of the README are `make book` and `make test`.
# Both set up the environment first: the active virtual/conda environment if there is
# one, otherwise a local .venv. Torch is installed first (the CPU build, never a CUDA
# download) where no torch is present; an existing torch (Colab, a GPU machine) is kept.

PYTHON ?= python3
VENV   ?= .venv
TORCH_VERSION ?= 2.13.0
TORCH_CPU_INDEX ?= https://download.pytorch.org/whl/cpu

ifneq ($(strip $(VIRTUAL_ENV)$(CONDA_PREFIX)),)
  PY := python
else
  PY := $(abspath $(VENV))/bin/python
endif

JB := $(PY) -c "from jupyter_book.cli.main import main; main()"
JCACHE := $(PY) -c "from jupyter_cache.cli.commands.cmd_main import jcache; jcache()"
NOTEBOOKS := $(wildcard book/*.ipynb)
NB_TIMEOUT ?= 900
BOOK_FLAGS := --all -W --keep-going

.PHONY: help setup test test-full test-colab test-min test-unit test-notebooks test-book test-browser book pdf pdf-quick pdf-deps bench browser-deps clean runs-quick runs-cpu

help:
	@echo "make book   build the HTML book into _build/html (chapters executed in full mode)"
	@echo "make test   unit tests, every chapter executed once in quick mode, hygiene, book build, browser test"
	@echo "make test-full  every chapter under nbval in full mode (the cpu profile; not part of CI)"
	@echo "make test-colab  the chapters' Colab install line changes none of Colab's packages (needs the package index)"
	@echo "make test-min    the oldest versions pyproject.toml declares: unit tests + Chapter 1 (own environment .venv-min)"
	@echo "make pdf    the book as a PDF, _build/latex/vegan-book.pdf (full mode, as make book; TeX from make pdf-deps)"
	@echo "make pdf-quick  the PDF of the quick build (the chapters make test executed), _build/quick/_build/latex"
	@echo "make bench  benchmarks, results written under bench/results/"
	@echo "make setup  only create/update the environment ($(PY))"
	@echo "make browser-deps  install Chromium for the browser test of the rendered book"

setup:
	@if [ ! -x "$(PY)" ] && [ "$(PY)" != "python" ]; then \
	  echo ">> creating $(VENV)"; $(PYTHON) -m venv $(VENV); fi
	@$(PY) -m pip install -q --upgrade pip
	@if ! $(PY) -c "import torch" 2>/dev/null; then \
	  if $(PY) -c "import socket; socket.getaddrinfo('download.pytorch.org', 443)" 2>/dev/null; then \
	    echo ">> installing torch==$(TORCH_VERSION) (CPU build)"; \
	    $(PY) -m pip install -q "torch==$(TORCH_VERSION)" --index-url $(TORCH_CPU_INDEX); \
	  else \
	    echo ">> installing torch==$(TORCH_VERSION) from the configured index"; \
	    $(PY) -m pip install -q "torch==$(TORCH_VERSION)"; \
	  fi; fi
	@$(PY) -m pip install -q -e ".[test,book,browser]"
	@$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	@$(PY) -c "import torch, ot, vegan_lib; print('>> torch', torch.__version__, '| POT', ot.__version__, '| vegan_lib', vegan_lib.__version__)"

test: setup test-unit test-notebooks test-book test-browser

test-unit:
	$(PY) -m pytest tests -q -n 2 -m "not browser and not colab"

# The reference runs the chapters share (vl.reference), trained two at a time (one thread each) into
# the cache the chapters read (CACHE_DIR = ../_build/vegan_runs), before the chapters execute.
RUNS_DIR := _build/vegan_runs
runs-quick:
	VEGAN_PROGRESS=0 $(PY) -m vegan_lib.reference --profile quick --jobs 2 --cache-dir $(RUNS_DIR)

runs-cpu:
	VEGAN_PROGRESS=0 $(PY) -m vegan_lib.reference --profile cpu --jobs 2 --cache-dir $(RUNS_DIR)

# CI executes each chapter once: in quick mode, into the quick build's own folder and jupyter-cache
# (_build/quick, never mixed with the full book of `make book`), two at a time with one thread each; a
# chapter with a failing cell fails here with the cell's traceback (tests/scripts/check_executed.py).
# test-book then renders the book from that cache without executing anything again.
test-notebooks: runs-quick
	rm -rf _build/quick
	$(call execute_into_cache,_build/quick,1)
	$(PY) tests/scripts/check_executed.py _build/quick/_build/.jupyter_cache

# The full-mode claims: every chapter under nbval in full mode (the cpu profile), two chapters at a
# time, after the cpu reference runs.
test-full: setup runs-cpu
	VEGAN_QUICK=0 VEGAN_PROGRESS=0 OMP_NUM_THREADS=1 $(PY) -m pytest --nbval-lax --nbval-current-env \
	  --nbval-cell-timeout=$(NB_TIMEOUT) -n 2 --dist loadscope -q book/

# Execute the chapters into a build folder's jupyter-cache, as many at a time as there are
# cores (one thread each); the book build then renders from the cache.
# $(1): build folder, $(2): the value of VEGAN_QUICK.
define execute_into_cache
	mkdir -p $(1)/_build
	yes | $(JCACHE) notebook -p $(1)/_build/.jupyter_cache add $(NOTEBOOKS) > /dev/null
	VEGAN_QUICK=$(2) VEGAN_PROGRESS=0 OMP_NUM_THREADS=1 $(JCACHE) project -p $(1)/_build/.jupyter_cache execute \
	  --executor local-parallel --timeout $(NB_TIMEOUT)
endef

# The quick book, rendered from the chapters test-notebooks executed (warnings are errors).
test-book: test-notebooks
	VEGAN_QUICK=1 VEGAN_PROGRESS=0 $(JB) build $(BOOK_FLAGS) --path-output _build/quick .

# The Colab install check (tests/colab): pip, in an environment holding Colab's preinstalled versions
# (tests/colab/preinstalled.txt), must install the chapters' bootstrap line without changing any of them.
test-colab: setup
	$(PY) -m pytest tests/test_colab_install.py -q -m colab -p no:xdist

# The declared floors, tested (tests/min/run.sh): a fresh .venv-min with the oldest Python, numpy, scipy, POT,
# matplotlib, tqdm and pandas that pyproject.toml allows (and torch's floor where its CPU build is reachable),
# the unit tests and Chapter 1 in quick mode; the record goes to bench/results/min_versions.json.
test-min:
	PYTHON=$(PYTHON) TORCH_VERSION=$(TORCH_VERSION) bash tests/min/run.sh

# Every page of the quick build in headless Chromium, and the build's ledger of claims (tests/test_ledger_build.py) (skipped with a message without Chromium, unless
# VEGAN_REQUIRE_BROWSER=1, which .ci/run sets after installing Debian's Chromium).
test-browser:
	VEGAN_BOOK_HTML=_build/quick/_build/html $(PY) -m pytest tests/test_browser.py tests/test_ledger_build.py -q -m browser -rs

book: setup runs-cpu
	$(call execute_into_cache,.,0)
	$(PY) tests/scripts/check_executed.py _build/.jupyter_cache
	VEGAN_QUICK=0 VEGAN_PROGRESS=0 $(JB) build $(BOOK_FLAGS) .
	@echo ">> open _build/html/index.html"

# The PDF: the chapters executed into the same cache as make book (an unchanged chapter is not run again), then
# Sphinx's LaTeX builder with XeLaTeX (_config.yml, latex:). Needs Debian's TeX packages: make pdf-deps.
pdf: setup runs-cpu
	$(call execute_into_cache,.,0)
	$(PY) tests/scripts/check_executed.py _build/.jupyter_cache
	VEGAN_QUICK=0 VEGAN_PROGRESS=0 $(JB) build --builder pdflatex .
	@echo ">> _build/latex/vegan-book.pdf"

# The PDF of the quick build, from the chapters make test-notebooks executed (a check of the LaTeX pipeline).
pdf-quick: setup test-notebooks
	VEGAN_QUICK=1 VEGAN_PROGRESS=0 $(JB) build --builder pdflatex --path-output _build/quick .
	@echo ">> _build/quick/_build/latex/vegan-book.pdf"

# Debian's TeX for the PDF (needs root; about 700 MB): XeLaTeX, the LaTeX packages Sphinx uses, latexmk, xindy
# for the index, and the fonts of _config.yml (FreeSerif/FreeSans, DejaVu Sans Mono).
TEX_PACKAGES := texlive-xetex texlive-latex-recommended texlive-latex-extra texlive-fonts-recommended texlive-science \
  latexmk xindy lmodern tex-gyre fonts-freefont-otf fonts-dejavu-core
pdf-deps:
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $(TEX_PACKAGES)

# All benchmarks (long: full-mode chapters and book); BENCH_ARGS=--quick for a short check.
bench: setup
	$(PY) bench/run_all.py $(BENCH_ARGS)

# Debian's Chromium for the browser test (needs root); Playwright drives it, no browser download.
browser-deps: setup
	apt-get update && apt-get install -y chromium
	$(PY) -m pip install -q -e ".[browser]"

clean:
	rm -rf _build
