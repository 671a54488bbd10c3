# One command each: `make demo` sets everything up and runs the main job;
# `make test` sets everything up and runs every test (CI runs this, see .ci/run).
VENV    ?= .venv
PY      := $(VENV)/bin/python
# A torch/torchvision pair that import together (onnx2torch and grad-cam need torchvision).
# CPU-only users elsewhere may instead point pip at the PyTorch CPU index.
TORCH   ?= torch==2.14.1 torchvision==0.29.1
OUT     ?= out

.PHONY: setup demo test notebooks-html bench evaluate clean

setup: $(VENV)/.pixelfiq-ready

$(VENV)/.pixelfiq-ready: pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e '.[test,notebooks,scale]'
	$(VENV)/bin/pixelfiq models fetch mobilefacenet
	$(VENV)/bin/pixelfiq models
	touch $@

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

bench: setup
	$(VENV)/bin/pixelfiq bench --out benchmarks/results.json

evaluate: setup
	$(VENV)/bin/pixelfiq evaluate --data data/bbt --out $(OUT)/evaluate

clean:
	rm -rf $(VENV) $(OUT)
