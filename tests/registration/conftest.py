"""Fixtures of the registration tests: cohorts with known geometry, registered once per session."""

from __future__ import annotations

import os

import pytest

from bus_seg.registration import RegistrationSettings, register_cohort
from tests.helpers.registration_cases import RegisteredCohort, geometry_specs
from tests.helpers.registration_factory import write_cohort

os.environ.setdefault("OMP_NUM_THREADS", "1")


@pytest.fixture(scope="session")
def geometry_cohort(tmp_path_factory: pytest.TempPathFactory) -> RegisteredCohort:
    """The geometry cohort, registered with the default settings."""
    root = tmp_path_factory.mktemp("geometry_cohort")
    specs = geometry_specs()
    manifest = write_cohort(specs, root)
    out_dir = root / "registered"
    result = register_cohort(manifest, out_dir, RegistrationSettings(), progress=False)
    return RegisteredCohort({s.case_id: s for s in specs}, root, manifest, out_dir, result)
