"""The pixel budget: the most pixel values any reader decodes at once, checked from file headers.

A small file can claim a huge image (a compressed TIFF or DICOM of 1 MB that declares
40000×40000 pixels). Every reader in :mod:`bus_seg.io` calls :func:`check_pixel_budget` with the
size stated in the file's header *before* it decodes anything, so such a file is refused at
once with a message instead of exhausting memory.

The budget counts decoded values: height × width × samples per pixel × frames or planes. Its
default is :data:`DEFAULT_MAX_PIXELS`; the environment variable ``BUS_SEG_MAX_PIXELS`` (a whole
number) overrides it for every reader, in this process and in worker processes started from it.
For whole-slide images the budget applies to what is decoded (a level, or the region of it that
is read), not to the declared size of a pyramid's level 0.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

from bus_seg.errors import ConfigError, InputError

ENV_VAR = "BUS_SEG_MAX_PIXELS"
DEFAULT_MAX_PIXELS = 2**29
"""536,870,912 values: e.g. 23170×23170 gray or 13377×13377 RGB (about 0.5 GB as 8-bit)."""


def max_pixels() -> int:
    """The budget in effect: ``BUS_SEG_MAX_PIXELS`` if set, else :data:`DEFAULT_MAX_PIXELS`.

    Raises:
        ConfigError: the environment variable is set but is not a positive whole number.
    """
    raw = os.environ.get(ENV_VAR, "").strip()
    if not raw:
        return DEFAULT_MAX_PIXELS
    try:
        value = int(raw.replace("_", ""))
    except ValueError:
        value = 0
    if value <= 0:
        raise ConfigError(
            f"{ENV_VAR}={raw!r} must be a positive whole number of pixel values "
            f"(default {DEFAULT_MAX_PIXELS})"
        )
    return value


def check_pixel_budget(path: str | Path, what: str, *dims: int) -> int:
    """Raise unless decoding an image of ``dims`` (e.g. height, width, samples) fits the budget.

    Args:
        path: the file, named in the message.
        what: what would be decoded, e.g. ``"level 0"`` or ``"the DICOM frames"``.
        dims: the header's sizes whose product is the number of decoded values.

    Returns:
        The number of values (the product of ``dims``).

    Raises:
        InputError: the product exceeds :func:`max_pixels`, or a size is negative.
    """
    sizes = [int(d) for d in dims]
    if any(d < 0 for d in sizes):
        raise InputError(
            f"{what} has a negative size {sizes} in its header; the file is corrupt", path
        )
    count = math.prod(sizes)
    limit = max_pixels()
    if count > limit:
        shape = "×".join(str(d) for d in sizes)
        raise InputError(
            f"{what} is {shape} = {count:,} pixel values according to the file's header, over the "
            f"pixel budget of {limit:,} ({ENV_VAR}); nothing was decoded. If the image is genuine, "
            f"raise the budget (e.g. {ENV_VAR}={_suggest(count)}); a small file claiming a huge size is corrupt or malicious",
            path,
        )
    return count


def _suggest(count: int) -> int:
    """A round budget at least ``count``: the next power of two."""
    return 1 << max(count - 1, 1).bit_length()
