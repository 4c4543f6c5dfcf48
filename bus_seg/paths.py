"""Where bus_seg finds the shared public data and its own packaged configs."""

from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "BUS_SEG_DATA"
DEFAULT_DATA_ROOT = Path("../shared/data")


def shared_data_root() -> Path:
    """Folder of the public test/benchmark data: ``$BUS_SEG_DATA``, default ``../shared/data``."""
    return Path(os.environ.get(DATA_ENV_VAR, str(DEFAULT_DATA_ROOT))).expanduser().resolve()


def config_dir() -> Path:
    """Folder holding the Hydra configs (``bus_seg.conf``), installed or in the checkout."""
    import bus_seg.conf

    return Path(bus_seg.conf.__file__).parent
