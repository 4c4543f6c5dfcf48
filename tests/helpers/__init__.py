"""Helpers shared by the tests, imported as ``from tests.helpers.<module> import ...``.

- ``configs``: the packaged Hydra configs composed as the command-line tools compose them.
- ``registration_factory``: synthetic cohorts (ultrasound, WSI, annotations) with known geometry.
- ``registration_cases``: the geometry cohort's cases and a small valid case.
- ``dicom``: DICOM ultrasound files (calibration regions, cine loops).
- ``bombs``: small files that claim huge images.
- ``killer``, ``poison``: a callback that SIGKILLs its run and a loss that turns non-finite, named
  by ``_target_`` in the reliability tests' overrides.
"""
