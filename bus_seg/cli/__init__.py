"""Thin Hydra entry points; the work lives in the library."""
