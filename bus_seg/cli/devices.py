"""Check that the accelerator a trainer config asks for is there, before Lightning is built.

On a machine without a CUDA driver (or Apple's Metal) the answer comes without importing torch;
otherwise torch is asked, as Lightning will."""

from __future__ import annotations

import ctypes
import sys

from omegaconf import DictConfig

from bus_seg.errors import ConfigError


def cuda_driver_devices() -> int:
    """The number of CUDA devices the driver reports (0 without a driver); honours
    ``CUDA_VISIBLE_DEVICES`` as torch does."""
    try:
        driver = ctypes.CDLL("libcuda.so.1" if sys.platform.startswith("linux") else "nvcuda.dll")
    except OSError:
        return 0
    count = ctypes.c_int(0)
    if driver.cuInit(0) != 0 or driver.cuDeviceGetCount(ctypes.byref(count)) != 0:
        return 0
    return count.value


def visible_gpus() -> int:
    """CUDA devices torch can use (0 without a driver, without importing torch)."""
    if cuda_driver_devices() == 0:
        return 0
    import torch

    return torch.cuda.device_count()


def mps_available() -> bool:
    if sys.platform != "darwin":
        return False
    import torch

    return torch.backends.mps.is_available()


def check_accelerator(trainer: DictConfig) -> None:
    """Raise a :class:`ConfigError` when ``trainer.accelerator`` names a device this machine lacks.

    ``gpu``/``cuda`` need CUDA devices (at least ``trainer.devices`` of them when it is a number),
    ``mps`` needs Apple's Metal backend; ``cpu`` and ``auto`` always work.
    """
    accelerator = str(trainer.get("accelerator", "auto")).lower()
    devices = trainer.get("devices")
    if accelerator in ("gpu", "cuda"):
        visible = visible_gpus()
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
    elif accelerator == "mps" and not mps_available():
        raise ConfigError(
            "trainer.accelerator=mps needs Apple's Metal backend (torch.backends.mps) and it is "
            "not available here; use trainer=cpu"
        )
