"""Segmentation model registry (torchvision FCN/DeepLabV3 and segmentation-models-pytorch)."""
