"""Check that the accelerator a trainer config asks for is there, before Lightning is built."""

from __future__ import annotations

from omegaconf import DictConfig

from bus_seg.errors import ConfigError


def check_accelerator(trainer: DictConfig) -> None:
    """Raise a :class:`ConfigError` when ``trainer.accelerator`` names a device this machine lacks.

    ``gpu``/``cuda`` need CUDA devices (at least ``trainer.devices`` of them when it is a number),
    ``mps`` needs Apple's Metal backend; ``cpu`` and ``auto`` always work.
    """
    import torch

    accelerator = str(trainer.get("accelerator", "auto")).lower()
    devices = trainer.get("devices")
    if accelerator in ("gpu", "cuda"):
        visible = torch.cuda.device_count()
        if visible == 0:
            raise ConfigError(
                f"trainer.accelerator={accelerator} needs a CUDA GPU and torch sees none; "
                "use trainer=cpu (or trainer=ddp_sim to try DDP on CPU processes)"
            )
        if isinstance(devices, int) and devices > visible:
            raise ConfigError(
                f"trainer.devices={devices} but {visible} GPU(s) are visible; "
                f"set trainer.devices={visible} (or trainer.devices=-1 for all)"
            )
    elif accelerator == "mps" and not torch.backends.mps.is_available():
        raise ConfigError(
            "trainer.accelerator=mps needs Apple's Metal backend (torch.backends.mps) and it is "
            "not available here; use trainer=cpu"
        )
