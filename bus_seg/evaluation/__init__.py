"""Per-image tables, pooled confusion matrices, paired statistics, figures and reports."""

from bus_seg.evaluation.callback import EvaluationCallback
from bus_seg.evaluation.compare import ComparisonResult, compare_runs
from bus_seg.evaluation.kfold import aggregate_folds
from bus_seg.evaluation.wandb_logging import log_evaluation_to_wandb
from bus_seg.evaluation.writer import EvaluationResult, write_evaluation
from bus_seg.training.eval_sample import EvalSample

__all__ = [
    "ComparisonResult",
    "EvalSample",
    "EvaluationCallback",
    "EvaluationResult",
    "aggregate_folds",
    "compare_runs",
    "log_evaluation_to_wandb",
    "write_evaluation",
]
