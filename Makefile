# Two commands: `make run` (set up + the main job) and `make test` (set up + the test suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# The torch/torchvision pair to install first. The default is the machine wheel cache's pair;
# elsewhere any compatible pair works: `make TORCH_SPEC="torch torchvision" run`.
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=
export OMP_NUM_THREADS ?= 2

# Not --quiet: pip's "Collecting/Downloading/Installing" lines are the install's progress.
PIP := $(BIN)/python -m pip install
# "Location ... is ignored" lines come from a pip configuration that lists optional local indexes.
PIP_FILTER := grep --line-buffered -v "is ignored: it is neither a file nor a directory"

.PHONY: install run test test-slow lint docs clean-cache

$(STAMP): pyproject.toml Makefile
	@echo "[bus_seg] 1/4 virtual environment $(VENV)"
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "[bus_seg] 2/4 pip"
	$(PIP) --upgrade pip 2>&1 | $(PIP_FILTER) || true
	@echo "[bus_seg] 3/4 $(TORCH_SPEC) (the largest download)"
	$(PIP) $(TORCH_SPEC) 2>&1 | $(PIP_FILTER) ; test $${PIPESTATUS[0]} -eq 0
	@echo "[bus_seg] 4/4 bus_seg and its dev extras (loggers, sweeps, ONNX, docs, test tools)"
	$(PIP) -e ".[dev]" 2>&1 | $(PIP_FILTER) ; test $${PIPESTATUS[0]} -eq 0
	touch $(STAMP)
	@echo "[bus_seg] installed into $(VENV)"

install: $(STAMP)

# The paper's pipeline on the embedded default: simulate a phantom cohort (cached), register it,
# train a CPU-sized model, test it, and write metrics, tables, confusion matrix and overlays.
run: $(STAMP)
	$(BIN)/bus-seg-train experiment=default_pipeline

test: $(STAMP)
	$(BIN)/ruff check bus_seg tests experiments hydra_plugins
	$(BIN)/ruff format --check bus_seg tests experiments hydra_plugins
	$(MAKE) --no-print-directory docs SITE_DIR=$$(mktemp -d)
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

# The documentation site (mkdocs.yml): warnings are errors.
SITE_DIR ?= site
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir $(SITE_DIR)
	@echo "[bus_seg] docs built into $(SITE_DIR)/"

lint: $(STAMP)
	$(BIN)/ruff check bus_seg tests experiments hydra_plugins
	$(BIN)/ruff format --check bus_seg tests experiments hydra_plugins

clean-cache:
	rm -rf .cache/bus_seg
