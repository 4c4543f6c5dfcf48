"""Registration of a cohort in shards, one per machine or job, merged into one output folder.

A cohort is split by case id: case ``c`` belongs to shard ``int(sha256(c)[:16], 16) % n``, so
every machine computes the same partition from the manifest alone, and a case stays in its
shard when rows are added, removed or reordered. Every shard writes into the same ``out_dir``
(each case's label map, QC picture and cache entry are its own files, written atomically) and
its report to ``shards/report-<i>-of-<n>.csv`` instead of ``report.csv``.

The merge is a plain run over the whole manifest: every case a shard finished is served from
its cache entry, and only the cases no shard finished (a lost node, a failed case) are
registered again, so merging twice, or after a partial rerun, gives the same ``report.csv``
and ``labels/`` as a single run.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from bus_seg.errors import ConfigError
from bus_seg.io.manifest import CaseRecord

SHARD_DIR = "shards"


def check_shard(shard: int, num_shards: int) -> tuple[int, int]:
    """Validate ``shard`` of ``num_shards``.

    Raises:
        ConfigError: not whole numbers, ``num_shards < 1`` or ``shard`` outside ``0..n-1``.
    """
    if (
        not isinstance(num_shards, int)
        or isinstance(num_shards, bool)
        or num_shards < 1
        or not isinstance(shard, int)
        or isinstance(shard, bool)
        or not 0 <= shard < num_shards
    ):
        raise ConfigError(
            f"shard={shard!r} num_shards={num_shards!r}: give whole numbers with 0 <= shard < "
            "num_shards, e.g. bus-seg-register -m shard=0,1,2,3 num_shards=4 ..."
        )
    return shard, num_shards


def shard_of(case_id: str, num_shards: int) -> int:
    """The shard of a case: a stable hash of its id (the same on every machine and Python)."""
    digest = hashlib.sha256(case_id.encode("utf-8")).hexdigest()
    return int(digest[:16], 16) % num_shards


def shard_records(records: list[CaseRecord], shard: int, num_shards: int) -> list[CaseRecord]:
    """The records of shard ``shard`` of ``num_shards``, in manifest order."""
    check_shard(shard, num_shards)
    return [r for r in records if shard_of(r.case_id, num_shards) == shard]


def shard_report_path(out_dir: str | Path, shard: int, num_shards: int) -> Path:
    """``<out_dir>/shards/report-<i>-of-<n>.csv``: where a shard writes its report."""
    return Path(out_dir) / SHARD_DIR / f"report-{shard}-of-{num_shards}.csv"
