"""Registration test cases with known geometry: the geometry cohort's specs and a small valid case."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bus_seg.registration import CohortRegistration
from tests.helpers.registration_factory import CaseSpec, FragmentSpec


def geometry_specs() -> list[CaseSpec]:
    """Tracts in every quadrant, every proximal_end, 1–5 fragments, shrinkage 0–20 %, every
    WSI and annotation format."""
    return [
        CaseSpec(  # down-right tract, 3 tilted fragments with gaps, debris, OME pyramid
            "q1_ome",
            [
                FragmentSpec(3500, tilt_deg=5),
                FragmentSpec(2500, gap_um=400, tilt_deg=-6),
                FragmentSpec(2000, gap_um=300, shift_um=100),
            ],
            [(800, 2600), (4300, 5600)],
            tract=(30.5, 40.2, 125.3, 95.7),  # 10.97 mm for 8 mm of tissue (27 % shrinkage)
            debris=True,
        ),
        CaseSpec(  # down-left tract, one fragment, resolution-tag TIFF, label-image annotation
            "q2_tiff_labels",
            [FragmentSpec(6000, width_um=1000)],
            [(1500, 3800)],
            tract=(190.0, 30.0, 115.0, 80.0),  # 9.01 mm: shrinkage 33 %
            proximal_end="right",
            wsi_format="tiff",
            annotation="label_image",
            axis_jitter_deg=-3.0,
        ),
        CaseSpec(  # up-left tract, PNG + wsi_mpp, a hole, a Stroma polygon, partial polygons
            "q3_png_holes",
            [FragmentSpec(4000), FragmentSpec(2500, gap_um=500, tilt_deg=4)],
            [(400, 2500)],
            tract=(150.0, 140.0, 90.0, 60.0),  # 10 mm for 6.5 mm
            proximal_end="top",
            wsi_format="png",
            mpp=5.0,
            hole_um=(1100, 1600),
            other_class=True,
            partial=[(3000, 3700, 0.7), (4800, 5600, 0.3)],
        ),
        CaseSpec(  # up-right tract, non-integer pyramid (level 1 at 4 µm), pale stroma
            "q4_pyramid",
            [FragmentSpec(2800, tilt_deg=8), FragmentSpec(1800, gap_um=250, tilt_deg=-3)],
            [(1200, 3300)],
            tract=(40.0, 130.0, 90.0, 80.0),  # 7.07 mm for 4.6 mm
            proximal_end="bottom",
            mpp=1.6,
            pyramid_factor=2.5,
            pale_stroma=True,
        ),
        CaseSpec(  # vertical tract, five fragments, shrinkage 20 %
            "five_fragments",
            [
                FragmentSpec(1500),
                FragmentSpec(1800, gap_um=200, tilt_deg=3),
                FragmentSpec(1200, gap_um=350),
                FragmentSpec(2000, gap_um=150, tilt_deg=-4),
                FragmentSpec(1500, gap_um=300),
            ],
            [(1000, 2600), (5200, 7100)],
            tract=(100.0, 15.0, 100.0, 115.0),  # 10 mm for 8 mm: 20 % shrinkage
            mpp=6.0,
        ),
        CaseSpec(  # axis-parallel tract with integer ends (strip edges exactly at D/2), ROI
            "level_roi",
            [FragmentSpec(3000), FragmentSpec(3000, gap_um=300), FragmentSpec(2000, gap_um=200)],
            [(2500, 4100)],
            tract=(20.0, 80.0, 100.0, 80.0),  # 8 mm for 8 mm: no shrinkage
            axis_jitter_deg=0.0,
            roi_decoy=True,
            mpp=5.0,
        ),
        CaseSpec(  # a short piece wider than long: its length is along the core's axis
            "wide_piece",
            [
                FragmentSpec(4000),
                FragmentSpec(700, width_um=1300, gap_um=300),
                FragmentSpec(3000, gap_um=300),
            ],
            [(4000, 4700), (6000, 7000)],
            tract=(20.0, 100.0, 200.0, 60.0),
            mpp=5.0,
        ),
    ]


@dataclass
class RegisteredCohort:
    specs: dict[str, CaseSpec]
    root: Path
    manifest: Path
    out_dir: Path
    result: CohortRegistration


def small_spec(case_id: str, **changes) -> CaseSpec:
    """A quick two-fragment case (5 µm/px slide) for tests that need any valid case."""
    values = dict(
        case_id=case_id,
        fragments=[FragmentSpec(3000, tilt_deg=3), FragmentSpec(2000, gap_um=300)],
        cancer_um=[(1000, 2500)],
        tract=(30.0, 50.0, 110.0, 100.0),
        mpp=5.0,
    )
    values.update(changes)
    return CaseSpec(**values)
