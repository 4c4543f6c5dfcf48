"""bus_seg: histopathology-registered breast ultrasound segmentation."""

__version__ = "0.1.0"
