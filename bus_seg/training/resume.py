"""The callbacks that exact resume depends on: always on, added in code to every training run.

A killed run resumes from ``<output_dir>/checkpoints/last.ckpt`` with the same result as an
uninterrupted run only if that file is written (at every epoch end and every few training steps)
and holds the global random states, the training loader's position in the epoch and the
best-so-far values. :func:`resume_callbacks` gives those callbacks; the run's ``callbacks`` group
(a user-editable YAML) adds only optional ones (best-model selection, NaN guard, progress bar, …),
so a custom callbacks file cannot silently break resume.
"""

from __future__ import annotations

from pathlib import Path

import pytorch_lightning as pl
from pytorch_lightning.callbacks import ModelCheckpoint

from bus_seg.training.callbacks import (
    AggregatorStatesInCheckpoint,
    RandomStateInCheckpoint,
    TrainLoaderPositionInCheckpoint,
)

DEFAULT_EVERY_N_TRAIN_STEPS = 100
"""Training steps between two mid-epoch ``last.ckpt`` writes when the config does not say."""


class LastCheckpoint(ModelCheckpoint):
    """Writes ``last.ckpt`` only (no best model): at every epoch end, or every N training steps.

    A class of its own, so that its checkpointed state never collides with a
    :class:`~pytorch_lightning.callbacks.ModelCheckpoint` of the callbacks group (Lightning keys
    callback states by class name and trigger).

    Args:
        dirpath: the run's checkpoint folder.
        every_n_train_steps: write every this many training steps; None writes at every epoch end.
    """

    def __init__(self, dirpath: str | Path, every_n_train_steps: int | None = None) -> None:
        super().__init__(
            dirpath=dirpath,
            save_top_k=0,
            save_last=True,
            every_n_train_steps=every_n_train_steps,
            enable_version_counter=False,
        )


def resume_callbacks(
    checkpoint_dir: str | Path, every_n_train_steps: int | None = None, write_last: bool = True
) -> list[pl.Callback]:
    """The callbacks every training run needs to resume exactly.

    Args:
        checkpoint_dir: ``<output_dir>/checkpoints``.
        every_n_train_steps: training steps between mid-epoch ``last.ckpt`` writes (None:
            :data:`DEFAULT_EVERY_N_TRAIN_STEPS`).
        write_last: False when the trainer writes no checkpoint at all
            (``trainer.enable_checkpointing=false``, the debug configs): no ``last.ckpt`` writer.

    Returns:
        ``last.ckpt`` writers at epoch ends and every ``every_n_train_steps`` steps, and the
        callbacks that put the random states, the loader position and the aggregators' states
        into it (and back on resume).
    """
    steps = int(every_n_train_steps or DEFAULT_EVERY_N_TRAIN_STEPS)
    writers: list[pl.Callback] = (
        [LastCheckpoint(checkpoint_dir), LastCheckpoint(checkpoint_dir, every_n_train_steps=steps)]
        if write_last
        else []
    )
    return [
        *writers,
        RandomStateInCheckpoint(),
        TrainLoaderPositionInCheckpoint(),
        AggregatorStatesInCheckpoint(),
    ]
