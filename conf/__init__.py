"""Hydra configs of bus_seg, shipped in the wheel as ``bus_seg.conf`` (``pkg://bus_seg.conf``)."""
