"""LightningModule, losses, metrics, optimizers and schedulers."""
