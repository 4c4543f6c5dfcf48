"""A readable summary of a simulated cohort, from its ``simulation.json``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np


def summarise(record: dict[str, Any]) -> dict[str, Any]:
    """Counts and ranges of a cohort record (see :func:`bus_seg.simulate.cohort.read_record`)."""
    cases = list(record.get("cases", {}).values())
    skipped = record.get("skipped", [])
    shrinkage = [c["shrinkage"] for c in cases]
    share = [c["reference_cancer_share"] for c in cases]
    return {
        "cases": len(cases),
        "skipped": len(skipped),
        "skip_reasons": dict(Counter(s["reason"] for s in skipped).most_common()),
        "patients": len({c["patient_id"] for c in cases}),
        "fragments": dict(sorted(Counter(c["fragments"] for c in cases).items())),
        "shrinkage_range": [min(shrinkage), max(shrinkage)] if shrinkage else None,
        "cancer_share_mean": float(np.mean(share)) if share else None,
        "cancer_share_range": [min(share), max(share)] if share else None,
        "wsi_formats": dict(sorted(Counter(c["wsi_format"] for c in cases).items())),
        "annotation_formats": dict(sorted(Counter(c["annotation_format"] for c in cases).items())),
        "serial_sections": sum(c["serial_section"] for c in cases),
        "debris_specks": sum(c["debris"] for c in cases),
        "us_spacing_mm": record.get("us_spacing_mm"),
        "spacing_assumed": record.get("spacing_assumed", False),
        "difficulty": record.get("settings", {}).get("faults", {}).get("difficulty"),
        "seed": record.get("seed"),
    }


def format_summary(record: dict[str, Any]) -> str:
    """Multi-line text summary of a cohort record."""
    s = summarise(record)
    spacing = f"{s['us_spacing_mm']:g} mm/px" + (" (assumed)" if s["spacing_assumed"] else "")
    lines = [
        f"cases written: {s['cases']} ({s['patients']} patients), skipped: {s['skipped']}",
        f"difficulty: {s['difficulty']}, seed: {s['seed']}, ultrasound spacing: {spacing}",
    ]
    for reason, count in s["skip_reasons"].items():
        lines.append(f"  skipped {count}×: {reason}")
    for entry in record.get("skipped", [])[:10]:
        lines.append(f"    {entry['source_image'] or entry['case_id']}")
    if s["cases"]:
        histogram = ", ".join(f"{k}: {v}" for k, v in s["fragments"].items())
        low, high = s["shrinkage_range"]
        share_low, share_high = s["cancer_share_range"]
        lines += [
            f"fragments per core: {histogram}",
            f"shrinkage: {low:.3f}-{high:.3f}",
            f"cancer share of the strip: mean {s['cancer_share_mean']:.2f} "
            f"(range {share_low:.2f}-{share_high:.2f})",
            "WSI formats: " + ", ".join(f"{k} {v}" for k, v in s["wsi_formats"].items()),
            "annotations: " + ", ".join(f"{k} {v}" for k, v in s["annotation_formats"].items()),
            f"serial sections: {s['serial_sections']}, debris specks: {s['debris_specks']}",
        ]
    return "\n".join(lines)
