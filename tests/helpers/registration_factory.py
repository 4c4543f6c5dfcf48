"""Test-only cohort factory: small cohorts with known geometry and exact truth label maps.

Independent of :mod:`bus_seg.simulate`. A core is a row of rectangular fragments laid along an
axis on the slide (each possibly tilted, shifted across and separated by a gap); cancer is given
as intervals of cumulative tissue length and drawn as polygons across each fragment (so the
profile rule's answer is known exactly). The truth label map applies the cohort format's rules
directly: the rectangle rule for the strip and ``l = L * s / |P0P1|`` along it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile
from PIL import Image

from bus_seg.io.images import write_png
from bus_seg.io.manifest import write_manifest

DISTAL_ANGLE = {"left": 0.0, "right": 180.0, "top": 90.0, "bottom": -90.0}


@dataclass
class FragmentSpec:
    """One rectangular tissue piece.

    Attributes:
        length_um: extent along the piece's own axis.
        width_um: extent across it.
        tilt_deg: angle of the piece's axis from the core's axis.
        gap_um: empty glass before the piece, along the core's axis.
        shift_um: offset of the piece's centre across the core's axis.
    """

    length_um: float
    width_um: float = 1200.0
    tilt_deg: float = 0.0
    gap_um: float = 0.0
    shift_um: float = 0.0


@dataclass
class CaseSpec:
    """A case with known geometry.

    Attributes:
        case_id: id (also the file stem).
        fragments: the pieces, proximal first.
        cancer_um: cancer intervals of cumulative tissue length (µm from the proximal end).
        tract: ``(x0, y0, x1, y1)`` ultrasound pixel centres, proximal first.
        us_shape: ``(height, width)`` of the ultrasound image.
        spacing_mm: ultrasound pixel size.
        diameter_mm: strip width.
        proximal_end: manifest value; the core's axis points away from that edge.
        axis_jitter_deg: rotation of the core's axis from the direction ``proximal_end`` gives.
        mpp: µm per level-0 pixel of the WSI.
        wsi_format: ``ome`` (pyramidal OME-TIFF), ``tiff`` (resolution tags) or ``png``.
        pyramid_factor: downsample between OME pyramid levels (may be non-integer).
        annotation: ``geojson`` or ``label_image``.
        partial: extra cancer polygons covering part of the width: ``(l0, l1, fraction)``;
            they count as cancer when ``fraction >= 0.5`` (added to the truth automatically).
        hole_um: an interval cut out of the cancer as a hole of a cancer polygon.
        other_class: add a non-cancer polygon (class ``Stroma``) over the whole core.
        debris: add small specks of dark debris.
        pale_stroma: draw non-cancer tissue very pale.
        roi_decoy: add a second core outside a ``wsi_roi`` box.
    """

    case_id: str
    fragments: list[FragmentSpec]
    cancer_um: list[tuple[float, float]]
    tract: tuple[float, float, float, float]
    us_shape: tuple[int, int] = (160, 220)
    spacing_mm: float = 0.1
    diameter_mm: float = 1.6
    proximal_end: str = "left"
    axis_jitter_deg: float = 4.0
    mpp: float = 4.0
    wsi_format: str = "ome"
    pyramid_factor: float = 2.0
    annotation: str = "geojson"
    partial: list[tuple[float, float, float]] = field(default_factory=list)
    hole_um: tuple[float, float] | None = None
    other_class: bool = False
    debris: bool = False
    pale_stroma: bool = False
    roi_decoy: bool = False
    seed: int = 0

    @property
    def total_length_um(self) -> float:
        return sum(f.length_um for f in self.fragments)

    def truth_cancer(self) -> list[tuple[float, float]]:
        """Cancer intervals the ≥ half rule gives (holes cut out, wide partial polygons added)."""
        intervals = list(self.cancer_um)
        intervals += [(a, b) for a, b, fraction in self.partial if fraction >= 0.5]
        if self.hole_um is not None:
            h0, h1 = self.hole_um
            cut = []
            for a, b in intervals:
                cut += [(a, min(b, h0))] if a < h0 else []
                cut += [(max(a, h1), b)] if b > h1 else []
            intervals = [(a, b) for a, b in cut if b > a]
        return intervals


@dataclass
class _Piece:
    centre: np.ndarray
    direction: np.ndarray
    length: float
    width: float
    offset: float

    @property
    def normal(self) -> np.ndarray:
        return np.array([-self.direction[1], self.direction[0]])

    @property
    def start(self) -> np.ndarray:
        return self.centre - self.direction * self.length / 2

    def frame_polygon(self, a0: float, a1: float, c0: float, c1: float) -> np.ndarray:
        """Corners (µm) of the region ``a0..a1`` along (from the proximal end), ``c0..c1`` across."""
        return np.array(
            [
                self.start + a * self.direction + c * self.normal
                for a, c in ((a0, c0), (a1, c0), (a1, c1), (a0, c1))
            ]
        )

    def fill(
        self, box: tuple[float, float, float, float], mpp: float, shape: tuple[int, int]
    ) -> np.ndarray:
        """Pixels whose centres lie in the frame box ``(a0, a1, c0, c1)`` (µm; corner origin)."""
        a0, a1, c0, c1 = box
        corners = self.frame_polygon(a0, a1, c0, c1) / mpp
        x_lo, y_lo = np.floor(corners.min(axis=0)).astype(int) - 1
        x_hi, y_hi = np.ceil(corners.max(axis=0)).astype(int) + 1
        x_lo, y_lo = max(x_lo, 0), max(y_lo, 0)
        x_hi, y_hi = min(x_hi, shape[1]), min(y_hi, shape[0])
        mask = np.zeros(shape, dtype=bool)
        if x_hi <= x_lo or y_hi <= y_lo:
            return mask
        ys, xs = np.mgrid[y_lo:y_hi, x_lo:x_hi]
        rel_x = (xs + 0.5) * mpp - self.start[0]
        rel_y = (ys + 0.5) * mpp - self.start[1]
        along = rel_x * self.direction[0] + rel_y * self.direction[1]
        across = rel_x * self.normal[0] + rel_y * self.normal[1]
        mask[y_lo:y_hi, x_lo:x_hi] = (along >= a0) & (along < a1) & (across >= c0) & (across < c1)
        return mask


def strip_truth(spec: CaseSpec) -> np.ndarray:
    """Truth label map: the rectangle rule and the linear stretch of the known profile."""
    height, width = spec.us_shape
    x0, y0, x1, y1 = spec.tract
    rows, cols = np.mgrid[0:height, 0:width].astype(float)
    seg = np.array([x1 - x0, y1 - y0])
    length2 = seg @ seg
    t = ((cols - x0) * seg[0] + (rows - y0) * seg[1]) / length2
    dist = np.abs((cols - x0) * seg[1] - (rows - y0) * seg[0]) / math.sqrt(length2)
    half = spec.diameter_mm / spec.spacing_mm / 2
    strip = (t >= -1e-9) & (t <= 1 + 1e-9) & (dist <= half + 1e-7)
    core_length = np.clip(t, 0, 1) * spec.total_length_um
    cancer = np.zeros(spec.us_shape, dtype=bool)
    for a, b in spec.truth_cancer():
        cancer |= (core_length >= a) & (core_length < b)
    return np.where(strip, cancer.astype(np.uint8), 255).astype(np.uint8)


def write_case(spec: CaseSpec, folder: Path) -> dict[str, object]:
    """Write the case's files into ``folder`` and return its manifest row (relative paths)."""
    rng = np.random.default_rng(spec.seed)
    folder.mkdir(parents=True, exist_ok=True)
    pieces, slide_um = _layout(spec)
    height0, width0 = (int(math.ceil(v / spec.mpp)) for v in slide_um[::-1])
    tissue = np.zeros((height0, width0), dtype=bool)
    for piece in pieces:
        tissue |= piece.fill(
            (0, piece.length, -piece.width / 2, piece.width / 2), spec.mpp, tissue.shape
        )
    cancer_boxes, hole_boxes, partial_boxes = _cancer_boxes(spec, pieces)
    cancer = np.zeros_like(tissue)
    for piece, box in cancer_boxes + partial_boxes:
        cancer |= piece.fill(box, spec.mpp, tissue.shape)
    for piece, box in hole_boxes:
        cancer &= ~piece.fill(box, spec.mpp, tissue.shape)
    cancer_polys, hole_polys, partial_polys = (
        [piece.frame_polygon(*box) for piece, box in boxes]
        for boxes in (cancer_boxes, hole_boxes, partial_boxes)
    )
    rgb = _stain(tissue, cancer & tissue, spec, rng)
    roi = None
    if spec.roi_decoy:
        decoy_top = height0
        extra = np.full((int(2000 / spec.mpp), width0, 3), 245, dtype=np.uint8)
        decoy = np.zeros(extra.shape[:2], bool)
        decoy[
            int(600 / spec.mpp) : int(1600 / spec.mpp), int(500 / spec.mpp) : int(width0 * 0.6)
        ] = True
        extra[decoy] = (150, 60, 150)
        rgb = np.concatenate([rgb, extra])
        roi = (0, 0, width0, decoy_top)
    row: dict[str, object] = {
        "case_id": spec.case_id,
        "patient_id": f"p_{spec.case_id}",
        "us_path": f"{spec.case_id}/us.png",
        "us_spacing_mm": spec.spacing_mm,
        "tract_x0": spec.tract[0],
        "tract_y0": spec.tract[1],
        "tract_x1": spec.tract[2],
        "tract_y1": spec.tract[3],
        "core_diameter_mm": spec.diameter_mm,
        "proximal_end": spec.proximal_end,
        "wsi_roi": ",".join(map(str, roi)) if roi else None,
        "label_path": f"{spec.case_id}/truth.png",
    }
    row.update(_write_wsi(spec, folder, rgb))
    row["annotation_path"] = _write_annotation(
        spec, folder, rgb.shape[:2], cancer_polys, hole_polys, partial_polys, cancer, pieces
    )
    speckle = rng.rayleigh(45.0, spec.us_shape).clip(0, 255).astype(np.uint8)
    write_png(folder / "us.png", speckle)
    write_png(folder / "truth.png", strip_truth(spec))
    return row


def write_cohort(specs: list[CaseSpec], root: Path, extra_rows: list[dict] | None = None) -> Path:
    """Write every case under ``root/<case_id>/`` and the manifest ``root/manifest.csv``."""
    rows = []
    for spec in specs:
        row = write_case(spec, root / spec.case_id)
        rows.append(row)
    rows += extra_rows or []
    return write_manifest(root / "manifest.csv", rows)


def _layout(spec: CaseSpec) -> tuple[list[_Piece], tuple[float, float]]:
    """Pieces placed along the core's axis on a slide with a margin (µm)."""
    angle = math.radians(DISTAL_ANGLE[spec.proximal_end] + spec.axis_jitter_deg)
    axis = np.array([math.cos(angle), math.sin(angle)])
    normal = np.array([-axis[1], axis[0]])
    pieces, position, offset = [], 0.0, 0.0
    for fragment in spec.fragments:
        tilt = math.radians(fragment.tilt_deg)
        extent = fragment.length_um * math.cos(tilt) + fragment.width_um * abs(math.sin(tilt))
        position += fragment.gap_um
        centre = (position + extent / 2) * axis + fragment.shift_um * normal
        direction = np.array([math.cos(angle + tilt), math.sin(angle + tilt)])
        pieces.append(_Piece(centre, direction, fragment.length_um, fragment.width_um, offset))
        position += extent
        offset += fragment.length_um
    corners = np.concatenate(
        [p.frame_polygon(0, p.length, -p.width / 2, p.width / 2) for p in pieces]
    )
    margin = 700.0
    low = corners.min(axis=0) - margin
    for piece in pieces:
        piece.centre = piece.centre - low
    size = corners.max(axis=0) + margin - low
    return pieces, (float(size[0]), float(size[1]))


def _cancer_boxes(spec: CaseSpec, pieces: list[_Piece]) -> tuple[list, list, list]:
    """Cancer boxes (wider than the tissue), hole boxes and partial-width boxes per piece.

    Each is ``(piece, (a0, a1, c0, c1))`` in the piece's frame (µm).
    """

    def boxes_for(a: float, b: float, extra: float) -> list:
        out = []
        for piece in pieces:
            lo, hi = max(a, piece.offset), min(b, piece.offset + piece.length)
            if hi > lo:
                half = piece.width / 2 + extra
                out.append((piece, (lo - piece.offset, hi - piece.offset, -half, half)))
        return out

    cancer = [box for a, b in spec.cancer_um for box in boxes_for(a, b, 150.0)]
    holes = boxes_for(*spec.hole_um, 60.0) if spec.hole_um else []
    partial = []
    for a, b, fraction in spec.partial:
        for piece, (a0, a1, c0, _) in boxes_for(a, b, 100.0):
            partial.append((piece, (a0, a1, c0, -piece.width / 2 + fraction * piece.width)))
    return cancer, holes, partial


def _stain(
    tissue: np.ndarray, cancer: np.ndarray, spec: CaseSpec, rng: np.random.Generator
) -> np.ndarray:
    """H&E-like colours with noise; optional debris specks."""
    shape = tissue.shape
    rgb = np.empty((*shape, 3), dtype=np.float32)
    rgb[:] = (243, 241, 246)
    stroma = (236, 200, 226) if spec.pale_stroma else (225, 150, 195)
    rgb[tissue] = stroma
    rgb[cancer] = (125, 70, 160)
    rgb += rng.standard_normal(rgb.shape, dtype=np.float32) * 6
    if spec.debris:
        for _ in range(12):
            r, c = rng.integers(0, shape[0]), rng.integers(0, shape[1])
            radius = int(rng.integers(2, 6))  # at most ~0.0015 mm² at 4 µm/px
            rgb[max(r - radius, 0) : r + radius, max(c - radius, 0) : c + radius] = (70, 40, 90)
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _write_wsi(spec: CaseSpec, folder: Path, rgb: np.ndarray) -> dict[str, object]:
    if spec.wsi_format == "png":
        write_png(folder / "slide.png", rgb)
        return {"wsi_path": f"{spec.case_id}/slide.png", "wsi_mpp": spec.mpp}
    if spec.wsi_format == "tiff":
        tifffile.imwrite(
            folder / "slide.tif",
            rgb,
            photometric="rgb",
            tile=(256, 256),
            compression="zlib",
            resolution=(1e4 / spec.mpp, 1e4 / spec.mpp),
            resolutionunit="CENTIMETER",
        )
        return {"wsi_path": f"{spec.case_id}/slide.tif", "wsi_mpp": None}
    path = folder / "slide.ome.tif"
    levels = [rgb]
    image = Image.fromarray(rgb)
    while min(levels[-1].shape[:2]) / spec.pyramid_factor >= 64:
        k = len(levels)
        size = (
            round(rgb.shape[1] / spec.pyramid_factor**k),
            round(rgb.shape[0] / spec.pyramid_factor**k),
        )
        levels.append(np.asarray(image.resize(size, Image.Resampling.BOX)))
    with tifffile.TiffWriter(path, ome=True) as writer:
        writer.write(
            rgb,
            subifds=len(levels) - 1,
            tile=(256, 256),
            photometric="rgb",
            compression="zlib",
            metadata={
                "axes": "YXS",
                "PhysicalSizeX": spec.mpp,
                "PhysicalSizeXUnit": "µm",
                "PhysicalSizeY": spec.mpp,
                "PhysicalSizeYUnit": "µm",
            },
        )
        for level in levels[1:]:
            writer.write(
                level, subfiletype=1, tile=(256, 256), photometric="rgb", compression="zlib"
            )
    return {"wsi_path": f"{spec.case_id}/slide.ome.tif", "wsi_mpp": None}


def _write_annotation(
    spec: CaseSpec,
    folder: Path,
    shape: tuple[int, int],
    cancer_polys: list,
    hole_polys: list,
    partial_polys: list,
    cancer_mask: np.ndarray,
    pieces: list[_Piece],
) -> str:
    if spec.annotation == "label_image":
        labels = np.zeros(shape, dtype=np.uint8)
        labels[: cancer_mask.shape[0], : cancer_mask.shape[1]][cancer_mask] = 1
        write_png(folder / "cancer.png", labels)
        return f"{spec.case_id}/cancer.png"

    def ring(corners_um: np.ndarray) -> list[list[float]]:
        points = (corners_um / spec.mpp).tolist()
        return points + points[:1]

    def feature(rings: list, name: str) -> dict:
        return {
            "type": "Feature",
            "geometry": {"type": "Polygon", "coordinates": rings},
            "properties": {
                "objectType": "annotation",
                "classification": {"name": name, "color": [200, 0, 0]},
            },
        }

    features = []
    for poly in cancer_polys:
        inner = [ring(h) for h in hole_polys if _inside(h, poly)]
        features.append(feature([ring(poly), *inner], "Tumor"))
    features += [feature([ring(p)], "Tumor") for p in partial_polys]
    if spec.other_class:
        for piece in pieces:
            whole = piece.frame_polygon(
                -50, piece.length + 50, -piece.width / 2 - 50, piece.width / 2 + 50
            )
            features.append(feature([ring(whole)], "Stroma"))
    (folder / "annotation.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": features})
    )
    return f"{spec.case_id}/annotation.geojson"


def _inside(inner: np.ndarray, outer: np.ndarray) -> bool:
    import shapely

    return shapely.Polygon(outer).contains(shapely.Polygon(inner))
