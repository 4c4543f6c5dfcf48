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

.PHONY: install run test test-slow lint clean-cache

$(STAMP): pyproject.toml Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip 2>&1 | grep -v "is ignored" || true
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC) 2>&1 | grep -v "is ignored" ; test $${PIPESTATUS[0]} -eq 0
	$(BIN)/python -m pip install --quiet -e ".[dev]" 2>&1 | grep -v "is ignored" ; test $${PIPESTATUS[0]} -eq 0
	touch $(STAMP)

install: $(STAMP)

# The paper's pipeline on the embedded default: simulate a phantom cohort (cached), register it,
# train a CPU-sized model, test it, and write metrics, tables, confusion matrix and overlays.
run: $(STAMP)
	$(BIN)/bus-seg-train experiment=default_pipeline

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -n 2 --dist loadfile $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(BIN)/python -m pytest -m slow $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check bus_seg tests experiments

clean-cache:
	rm -rf .cache/bus_seg
