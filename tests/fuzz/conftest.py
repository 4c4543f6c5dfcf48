"""Hypothesis profiles of the fuzz tests: a bounded "ci" run in `make test`, a long "slow" run.

The profile is chosen when pytest starts, before the test modules are imported (Hypothesis
binds the settings of a test when it is decorated):

- ``BUS_SEG_FUZZ_PROFILE=ci|slow`` chooses it explicitly;
- otherwise a run that selects slow tests (``pytest -m slow``, i.e. ``make test-slow``) gets
  "slow", and every other run "ci".

Under "slow" the fuzz tests carry the ``slow`` marker, so ``make test-slow`` runs them with 500
examples each; under "ci" they are ordinary tests of ``make test`` with 25 examples each, drawn
from a fixed seed (``derandomize``) so that CI runs are reproducible.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

PROFILE_VARIABLE = "BUS_SEG_FUZZ_PROFILE"
HERE = Path(__file__).parent

settings.register_profile(
    "ci",
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    "slow",
    max_examples=500,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def selected_profile(config: pytest.Config) -> str:
    """The profile named by ``BUS_SEG_FUZZ_PROFILE``, else "slow" for ``-m slow`` runs, else "ci"."""
    named = os.environ.get(PROFILE_VARIABLE)
    if named:
        if named not in ("ci", "slow"):
            raise pytest.UsageError(f"{PROFILE_VARIABLE}={named!r}: use ci or slow")
        return named
    markexpr = " ".join((config.getoption("markexpr", "") or "").split())
    return "slow" if markexpr == "slow" else "ci"


def pytest_configure(config: pytest.Config) -> None:
    settings.load_profile(selected_profile(config))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under the "slow" profile, mark the fuzz tests slow (before ``-m`` deselects anything)."""
    if selected_profile(config) != "slow":
        return
    for item in items:
        if HERE in Path(item.fspath).parents:
            item.add_marker(pytest.mark.slow)
