"""Per-image tables, pooled confusion matrices, paired statistics, figures and reports."""
