"""``python -m bus_seg.train``: the same as ``bus-seg-train``."""

from bus_seg.cli.train import main

if __name__ == "__main__":
    main()
