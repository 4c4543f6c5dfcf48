"""Registration of a whole cohort: every case attempted, cached, in parallel, with a report."""

from __future__ import annotations

import logging
import multiprocessing
import os
import time
from collections import defaultdict
from collections.abc import Mapping
from concurrent.futures import Future, ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from bus_seg.errors import BusSegError, ConfigError, RegistrationError
from bus_seg.io.atomic import remove_stale_temp_files
from bus_seg.io.dicom import is_dicom
from bus_seg.io.images import write_png
from bus_seg.io.manifest import CaseRecord, Manifest, read_manifest
from bus_seg.registration.cache import CaseOutputs, case_key, qc_key, read_entry, write_entry
from bus_seg.registration.case import CaseRegistration, register_case
from bus_seg.registration.outputs import check_out_dir, check_qc_dpi, output_error_message
from bus_seg.registration.qc import write_qc
from bus_seg.registration.report import failed_row, report_frame, write_report
from bus_seg.registration.settings import RegistrationSettings
from bus_seg.registration.shards import shard_records, shard_report_path
from bus_seg.registration.workers import init_worker

logger = logging.getLogger(__name__)


@dataclass
class CohortRegistration:
    """The outcome of :func:`register_cohort`.

    Attributes:
        manifest: the manifest as read.
        report: one row per manifest case (see :mod:`bus_seg.registration.report`).
        label_paths: label map of every registered case, by case id.
        failed: ids of the cases that failed (``row <n>`` for rows without a case id).
        n_warnings: warnings of all cases plus those of the manifest's header.
        out_dir: the output folder.
        report_path: ``<out_dir>/report.csv``.
        manifest_warnings: warnings about the manifest as a whole (its header).
    """

    manifest: Manifest
    report: pd.DataFrame
    label_paths: dict[str, Path]
    failed: list[str]
    n_warnings: int
    out_dir: Path
    report_path: Path
    manifest_warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: ``registered N/M cases (F failed, W warnings) -> out_dir``."""
        return (
            f"registered {len(self.label_paths)}/{len(self.report)} cases ({len(self.failed)} "
            f"failed, {self.n_warnings} warnings) -> {self.out_dir}"
        )


def register_cohort(
    manifest_path: str | Path,
    out_dir: str | Path,
    settings: RegistrationSettings | Mapping[str, Any] | None = None,
    *,
    workers: int = 1,
    strict: bool = False,
    progress: bool = True,
    use_cache: bool = True,
    shard: tuple[int, int] | None = None,
) -> CohortRegistration:
    """Register every case of a manifest into ``out_dir`` (labels/, qc/, report.csv).

    Every case is attempted; a failed case gets a report row with its message and leaves no
    label map or QC picture behind. Rows the manifest check rejects (duplicate case ids, a
    patient in two fixed splits, unusable cells) are failed rows too. Outputs are cached per
    case (see :mod:`bus_seg.registration.cache`).

    Args:
        manifest_path: the cohort manifest CSV.
        out_dir: output folder (created).
        settings: registration settings (or a mapping for
            :meth:`RegistrationSettings.from_config`); None = defaults.
        workers: processes; 1 registers in this process.
        strict: raise after the run (report written) if any case failed.
        progress: show a progress bar.
        use_cache: reuse the outputs of unchanged cases.
        shard: ``(i, n)``: register only the cases of shard ``i`` of ``n`` and write the report
            to ``shards/report-<i>-of-<n>.csv`` (see :mod:`bus_seg.registration.shards`); a run
            without it merges the shards' outputs into ``report.csv``.

    Raises:
        ManifestError: the manifest as a whole is unusable (missing, no required column, ...).
        ConfigError: bad settings or ``workers``.
        RegistrationError: ``strict`` and some case failed.
    """
    if not isinstance(settings, RegistrationSettings):
        settings = RegistrationSettings.from_config(settings)
    if not isinstance(workers, int) or workers < 1:
        raise ConfigError(f"workers={workers!r} must be a whole number of at least 1")
    out_dir = Path(out_dir)
    if settings.qc:
        check_qc_dpi(settings.qc_dpi)
    check_out_dir(out_dir)
    remove_stale_temp_files(out_dir)  # left by a killed run
    manifest = read_manifest(
        manifest_path,
        require_tract=settings.needle != "auto",
        allow_outside_paths=settings.allow_outside_paths,
    )
    row_warnings: dict[int, list[str]] = defaultdict(list)
    manifest_warnings = []
    for issue in manifest.warnings:
        if issue.row is None:
            manifest_warnings.append(str(issue))
        else:
            row_warnings[issue.row].append(issue.message)
    records, report_path = manifest.records, out_dir / "report.csv"
    rows = _rejected_rows(manifest) if shard is None else []
    if shard is not None:
        records = shard_records(records, *shard)
        report_path = shard_report_path(out_dir, *shard)
    rows += _register_records(records, settings, out_dir, workers, progress, use_cache)
    for row in rows:
        row["warnings"] = [*row_warnings.get(row["row"], []), *row["warnings"]]
    report = report_frame(rows)
    report_path = write_report(report, report_path)
    ok = report[report["status"] == "ok"]
    failed_frame = report[report["status"] != "ok"]
    failed = [
        case_id if case_id else f"row {row}"
        for case_id, row in zip(failed_frame["case_id"], failed_frame["row"], strict=True)
    ]
    result = CohortRegistration(
        manifest=manifest,
        report=report,
        label_paths={cid: out_dir / "labels" / f"{cid}.png" for cid in ok["case_id"]},
        failed=failed,
        n_warnings=int(report["n_warnings"].fillna(0).sum()) + len(manifest_warnings),
        out_dir=out_dir,
        report_path=report_path,
        manifest_warnings=manifest_warnings,
    )
    if strict and failed:
        first = failed_frame.iloc[0]
        raise RegistrationError(
            f"{len(failed)} of {len(report)} cases failed to register (strict mode); see "
            f"{report_path}. First: {first['case_id'] or 'row ' + str(first['row'])}: {first['error']}"
        )
    return result


def _rejected_rows(manifest: Manifest) -> list[dict[str, Any]]:
    """Failed report rows of the manifest rows that its check rejected."""
    accepted = {record.row for record in manifest.records}
    errors: dict[int, list[str]] = defaultdict(list)
    case_ids: dict[int, str] = {}
    for issue in manifest.errors:
        if issue.row is None or issue.row in accepted:
            continue
        errors[issue.row].append(str(issue))
        if issue.case_id:
            case_ids[issue.row] = issue.case_id
    return [
        failed_row(case_ids.get(row, ""), None, row, "; ".join(messages))
        for row, messages in errors.items()
    ]


def _register_records(
    records: list[CaseRecord],
    settings: RegistrationSettings,
    out_dir: Path,
    workers: int,
    progress: bool,
    use_cache: bool,
) -> list[dict[str, Any]]:
    bar = tqdm(total=len(records), desc="registering", unit="case", disable=not progress)
    rows, pending = [], []
    for record in records:
        row = cached_row(record, settings, out_dir) if use_cache else None
        if row is None:
            pending.append(record)
        else:
            rows.append(row)
            bar.update()
    try:
        if workers == 1 or len(pending) <= 1:
            for record in pending:
                rows.append(process_case(record, settings, out_dir, use_cache))
                bar.update()
        else:
            context = multiprocessing.get_context("spawn")
            with ProcessPoolExecutor(
                min(workers, len(pending)),
                mp_context=context,
                initializer=init_worker,
                initargs=(os.getpid(),),
            ) as pool:
                futures = {
                    pool.submit(process_case, record, settings, out_dir, use_cache): record
                    for record in pending
                }
                for future in as_completed(futures):
                    rows.append(_future_row(future, futures[future]))
                    bar.update()
    finally:
        bar.close()
    return rows


def _future_row(future: Future, record: CaseRecord) -> dict[str, Any]:
    """The row a worker returned, or a failed row if the worker itself died (killed, out of memory)."""
    try:
        return future.result()
    except Exception as err:  # BrokenProcessPool and the like: this case fails, the run goes on
        return failed_row(
            record.case_id,
            record.patient_id,
            record.row,
            f"the worker process registering this case stopped ({type(err).__name__}: {err}); "
            "it was probably killed (out of memory?): rerun with fewer workers",
        )


def process_case(
    record: CaseRecord, settings: RegistrationSettings, out_dir: Path, use_cache: bool = True
) -> dict[str, Any]:
    """Register one case into ``out_dir`` (or reuse its cache entry) and return its report row.

    Never raises for a bad case: the row says ``failed`` with the message, and the case's
    outputs are removed.
    """
    start = time.perf_counter()
    outputs = CaseOutputs.of(out_dir, record.case_id)
    try:
        key, qc = case_key(record, settings), qc_key(settings)
        entry = read_entry(outputs, key) if use_cache else None
        if entry is not None:
            if not _qc_current(entry, outputs, qc):
                write_qc(register_case(record, settings), outputs.qc, settings.qc_dpi)
                write_entry(outputs, key, qc, entry["row"])
            return _cached_row(entry, outputs, out_dir, qc, start)
        outputs.remove()
        case = register_case(record, settings)
        row = _without_dicom_name(_ok_row(case, outputs, out_dir, settings.qc), record)
        if settings.qc:
            write_qc(case, outputs.qc, settings.qc_dpi)
        write_png(outputs.labels, case.labels)
        write_entry(outputs, key, qc, row)
        row.update(cached=False, seconds=time.perf_counter() - start)
        return row
    except BusSegError as err:
        message = str(err)
    except OSError as err:  # the output folder, not the case: full disk, read-only, ...
        message = output_error_message(err, out_dir)
    except Exception as err:  # a bug must not stop the cohort; the row names it
        logger.exception("unexpected error registering case %s", record.case_id)
        message = (
            f"unexpected error ({type(err).__name__}: {err}); this is a bug in bus_seg, please "
            "report it with the case's files"
        )
    try:
        outputs.remove()
    except OSError as err:  # the failure handler itself must not raise
        message += f" (its old outputs could not be removed: {err.strerror})"
    row = failed_row(record.case_id, record.patient_id, record.row, message)
    return _without_dicom_name(row | {"seconds": time.perf_counter() - start}, record)


def _without_dicom_name(row: dict[str, Any], record: CaseRecord) -> dict[str, Any]:
    """The row with a DICOM file's path and name replaced by ``<us_path of case ...>``.

    DICOM files are often named after the patient; the report names the case instead.
    """
    try:
        dicom = is_dicom(record.us_path)
    except OSError:
        dicom = False
    if not dicom:
        return row
    placeholder = f"<us_path of case {record.case_id}>"

    def redact(text: str) -> str:
        text = text.replace(str(record.us_path), placeholder)
        return text.replace(record.us_path.name, placeholder)

    row = dict(row)
    if isinstance(row.get("error"), str):
        row["error"] = redact(row["error"])
    row["warnings"] = [redact(w) for w in row.get("warnings") or []]
    return row


def cached_row(
    record: CaseRecord, settings: RegistrationSettings, out_dir: Path
) -> dict[str, Any] | None:
    """The report row of a case whose cache entry and QC picture are current, else None.

    Cheap (file identities and a small JSON), so a cohort run checks it before starting workers.
    """
    start = time.perf_counter()
    outputs = CaseOutputs.of(out_dir, record.case_id)
    try:
        key, qc = case_key(record, settings), qc_key(settings)
    except (BusSegError, OSError):
        return None  # process_case reports it
    entry = read_entry(outputs, key)
    if entry is None or not _qc_current(entry, outputs, qc):
        return None
    return _cached_row(entry, outputs, out_dir, qc, start)


def _qc_current(entry: dict[str, Any], outputs: CaseOutputs, qc: str | None) -> bool:
    return qc is None or (entry.get("qc_key") == qc and outputs.qc.is_file())


def _cached_row(
    entry: dict[str, Any], outputs: CaseOutputs, out_dir: Path, qc: str | None, start: float
) -> dict[str, Any]:
    row = dict(entry["row"])
    row["qc_path"] = _relative(outputs.qc, out_dir) if qc and outputs.qc.is_file() else None
    row.update(cached=True, seconds=time.perf_counter() - start)
    return row


def _ok_row(
    case: CaseRegistration, outputs: CaseOutputs, out_dir: Path, with_qc: bool
) -> dict[str, Any]:
    record = case.record
    fields = {k: v.item() if isinstance(v, np.generic) else v for k, v in case.fields.items()}
    return {
        "case_id": record.case_id,
        "patient_id": record.patient_id,
        "row": record.row,
        "status": "ok",
        "error": None,
        **fields,
        "warnings": list(case.warnings),
        "label_path": _relative(outputs.labels, out_dir),
        "qc_path": _relative(outputs.qc, out_dir) if with_qc else None,
    }


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()
