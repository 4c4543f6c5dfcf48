"""Each bomb of issue 12 is refused by a fresh process with peak RSS under 500 MB (slow: 5 processes)."""

from __future__ import annotations

from pathlib import Path

import pytest

from experiments.reliability.bomb_rss import LIMIT_MB, make_bombs, measure


@pytest.mark.slow
def test_every_bomb_is_refused_in_bounded_memory(tmp_path: Path) -> None:
    for name, path, reader in make_bombs(tmp_path):
        result = measure(name, path, reader)
        assert result.refused, result.message
        assert "BUS_SEG_MAX_PIXELS" in result.message
        assert result.peak_rss_mb < LIMIT_MB, (name, result.peak_rss_mb)
