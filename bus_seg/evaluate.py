"""``python -m bus_seg.evaluate``: the same as ``bus-seg-eval``."""

from bus_seg.cli.evaluate import main

if __name__ == "__main__":
    main()
