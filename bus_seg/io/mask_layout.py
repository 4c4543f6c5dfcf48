"""File naming of BUSI-style mask folders: ``<name>.png`` with ``<name>_mask.png``, ``<name>_mask_1.png``…"""

from __future__ import annotations

import re

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
"""Suffixes of the images and masks of a mask folder (case-insensitive)."""
MASK_PATTERN = re.compile(r"^(?P<stem>.+)_mask(_\d+)?$")
"""Matches the stem of a mask file; ``stem`` is the stem of its image."""
