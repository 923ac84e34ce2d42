"""Running notebooks (papermill), rendering stakeholder HTML (nbconvert) and publishing runs safely."""
from .i18n import attr_label, columns, definition, heading, say, set_language, set_layout, tr
from .narrative import ci_columns, fmt_ci, fmt_est, fmt_int, fmt_money, fmt_num, fmt_pct, md, per_customers, show_table
from .outputs import keep_on_publish, write_metrics, write_table

__all__ = ["attr_label", "ci_columns", "tr", "say", "definition", "set_layout", "heading", "columns", "set_language", "md", "per_customers", "show_table", "fmt_pct", "fmt_ci", "fmt_est", "fmt_int", "fmt_money", "fmt_num", "write_metrics", "write_table", "keep_on_publish"]
