"""CSV cells that are safe to open in a spreadsheet, and read back exactly as written.

A cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or carriage return) is run as a
formula by spreadsheet programs ("CSV injection"); every CSV table bus_seg writes for people
(reports, split tables) goes through :func:`neutralise_formulas`, which prefixes such text cells
with ``'``. Numbers are never changed. Tables are read back with :func:`read_text_table`, which
keeps ids such as ``NA``, ``null``, ``None``, ``nan`` and ``1_1_6`` as the text they are.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import pandas as pd

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """``value`` with a leading ``'`` if it is text a spreadsheet would take as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        return "'" + value
    return value


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of ``frame`` whose text cells cannot run as spreadsheet formulas."""
    frame = frame.copy()
    for column in frame.columns:
        if frame[column].dtype == object or pd.api.types.is_string_dtype(frame[column]):
            frame[column] = frame[column].map(neutralise_cell)
    return frame


def read_text_table(path: str | Path, text_columns: Iterable[str]) -> pd.DataFrame:
    """Read a CSV table with ``text_columns`` as text and no NA-like word taken for missing.

    Only empty cells are missing (NaN); ``NA``, ``null``, ``None`` and ``nan`` stay text, and
    the text columns are never parsed as numbers (``1_1_6`` stays ``1_1_6``, ``007`` stays ``007``).
    """
    return pd.read_csv(
        path,
        dtype={column: str for column in text_columns},
        keep_default_na=False,
        na_values=[""],
        encoding="utf-8-sig",
    )
