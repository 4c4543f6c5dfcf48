"""Readers and writers of every external format (images, ultrasound, WSIs, annotations, manifests)."""
