"""Procedural ultrasound phantom and biopsy simulator writing cohorts in the contract's format."""
