"""A Hydra sweeper on Optuna's current ask-and-tell API (``hydra/sweeper=bus_seg_optuna``).

``hydra-optuna-sweeper`` pins ``optuna<3`` and Hydra pre-releases; this plugin, shipped with
bus_seg, takes the same ``params`` grammar (``choice``, ``range``, ``interval``, ``tag(log, ...)``)
with any Optuna version from 3.x on.
"""
