"""Per-image tables, pooled confusion matrices, paired statistics, figures and reports."""

from bus_seg.evaluation.compare import ComparisonResult, compare_runs
from bus_seg.evaluation.evaluate import EvaluationResult, write_evaluation
from bus_seg.evaluation.kfold import aggregate_folds
from bus_seg.evaluation.samples import EvalSample
from bus_seg.evaluation.wandb_logging import log_evaluation_to_wandb

__all__ = [
    "ComparisonResult",
    "EvalSample",
    "EvaluationResult",
    "aggregate_folds",
    "compare_runs",
    "log_evaluation_to_wandb",
    "write_evaluation",
]
