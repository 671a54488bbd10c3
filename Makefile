# One command each: `make demo` sets everything up and runs the main job;
# `make test` sets everything up and runs every test (CI runs this, see .ci/run).
# The course on a CPU laptop: `make setup-course`, then `make check` (docs/install.md).
VENV    ?= .venv
PY      := $(VENV)/bin/python
# A torch/torchvision pair that import together (onnx2torch and grad-cam need torchvision).
TORCH   ?= torch==2.14.1 torchvision==0.29.1
# The course's route: PyTorch's CPU builds (no CUDA libraries), from PyTorch's CPU index.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
OUT     ?= out
# `make check` uses .venv when it exists, else the active Python (a conda or pip route).
CHECK_PY = $(if $(wildcard $(PY)),$(PY),python3)
# What the notebooks need: the course's install when that is what .venv holds, else `setup`.
NOTEBOOK_SETUP = $(if $(wildcard $(VENV)/.pixelfiq-course),setup-course,setup)

.PHONY: setup setup-course check demo test notebooks-html book wheelhouse bench evaluate clean

setup: $(VENV)/.pixelfiq-ready

$(VENV)/.pixelfiq-ready: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test,notebooks,scale]'
	$(VENV)/bin/pixelfiq models fetch mobilefacenet
	$(VENV)/bin/pixelfiq models
	touch $@

# The course only, CPU only: no test tools, no Ray (`scale`), no CUDA (docs/install.md).
setup-course: $(VENV)/.pixelfiq-course

$(VENV)/.pixelfiq-course: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch torchvision --index-url $(TORCH_INDEX)
	$(PY) -m pip install -q -e '.[notebooks]'
	$(VENV)/bin/pixelfiq models fetch mobilefacenet
	touch $@

# Is this machine ready for the course? Imports, both networks, one map, a Jupyter kernel.
check:
	$(CHECK_PY) -m pixelfiq_lib.setup_check

demo: setup
	$(VENV)/bin/pixelfiq demo --out $(OUT)/demo

# Style first (ruff, settings in pyproject.toml); pytest exits 5 when it collected nothing:
# that is a failure, not a pass.
test: setup
	$(VENV)/bin/ruff check pixelfiq_lib tests tools benchmarks
	$(VENV)/bin/ruff format --check pixelfiq_lib tests tools benchmarks
	PIXELFIQ_FAST=1 MPLBACKEND=Agg $(PY) -m pytest -q -p no:cacheprovider tests \
		--nbmake notebooks --nbmake-timeout=300; \
	rc=$$?; if [ $$rc -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi; exit $$rc

notebooks-html: setup
	MPLBACKEND=Agg $(PY) -m tools.run_notebooks --out $(OUT)/notebooks

# The course book: every notebook executed (full mode; PIXELFIQ_FAST=1 for FAST) into a
# static site, with the glossary, the guides and the method diagram. Open $(OUT)/book/index.html.
book: $(NOTEBOOK_SETUP)
	MPLBACKEND=Agg $(PY) -m tools.build_book --out $(OUT)/book

# Every wheel the course installs (CPU PyTorch included), for installing without internet
# (docs/install.md, "fallbacks"). Built for this machine's platform and Python only.
# The first command fails when the CPU index does not answer, rather than falling back to
# PyPI's CUDA builds; the second finds the CPU pair in wheelhouse/ (a +cpu build ranks above
# the plain version) and builds or downloads everything else, setuptools for `pip install -e`.
wheelhouse:
	python3 -m pip wheel -q --wheel-dir wheelhouse --index-url $(TORCH_INDEX) torch torchvision
	python3 -m pip wheel -q --wheel-dir wheelhouse --find-links wheelhouse \
		--extra-index-url $(TORCH_INDEX) '.[notebooks]' 'setuptools>=68'
	@echo "wheelhouse/ is ready: copy it with the clone (docs/install.md)"

bench: setup
	$(VENV)/bin/pixelfiq bench --out benchmarks/results.json

evaluate: setup
	$(VENV)/bin/pixelfiq evaluate --data data/bbt --out $(OUT)/evaluate

clean:
	rm -rf $(VENV) $(OUT)
