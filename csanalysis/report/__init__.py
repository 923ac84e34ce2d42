"""Running notebooks (papermill), rendering stakeholder HTML (nbconvert) and publishing runs safely."""
from .narrative import fmt_ci, fmt_int, fmt_money, fmt_pct, md, show_table
from .outputs import write_metrics, write_table

__all__ = ["md", "show_table", "fmt_pct", "fmt_ci", "fmt_int", "fmt_money", "write_metrics", "write_table"]
