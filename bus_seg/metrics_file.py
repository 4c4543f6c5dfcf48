"""The one layout of every ``metrics.json`` (a run's, and its evaluation's in ``test/``).

::

    {
      "schema": "bus_seg.metrics/2",
      "metrics": {"test/dice": 0.95, "test/lesion_dice": 0.23, "val/dice": ..., ...},
      "metric_sources": {"test/*": "best checkpoint .../epoch_3.ckpt, native resolution", ...},
      "provenance": {"bus_seg_version": ..., "commit": ..., "dirty": ..., "versions": {...},
                     "command": ..., "python": ..., "date": ...},
      ... fields of the file (run: best_checkpoint, seed, ...; evaluation: n_images, rules, ...)
    }

A metric name means the same figure in every file: ``test/dice`` is the pooled strip Dice of the
test images at native resolution whether it comes from the run or from its evaluation.
``metric_sources`` maps name patterns (fnmatch) to where their values come from (which checkpoint,
which epoch, which resolution). NaN is stored as null.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from typing import Any

from bus_seg.provenance import run_provenance

SCHEMA = "bus_seg.metrics/2"


def json_number(value: Any) -> Any:
    """Plain Python numbers for JSON (numpy/torch scalars unwrapped), NaN and inf as None."""
    if hasattr(value, "item") and callable(value.item):
        value = value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool | numbers.Integral):
        value = float(value)
        return value if math.isfinite(value) else None
    return value


def metrics_document(
    metrics: Mapping[str, Any], sources: Mapping[str, str], **fields: Any
) -> dict[str, Any]:
    """A ``metrics.json`` document in the shared layout.

    Args:
        metrics: flat ``stage/name`` -> number.
        sources: fnmatch pattern of metric names -> where those values come from.
        **fields: further top-level fields of the file.
    """
    return {
        "schema": SCHEMA,
        "metrics": {name: json_number(value) for name, value in metrics.items()},
        "metric_sources": dict(sources),
        **fields,
        "provenance": run_provenance(),
    }
