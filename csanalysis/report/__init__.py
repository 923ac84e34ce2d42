"""Running notebooks (papermill), rendering stakeholder HTML (nbconvert) and publishing runs safely.

What the notebooks use is re-exported here (messages, formatting, outputs). The runner, one job per module:
``run`` (the steps of a run, in order), ``parameters`` (the notebooks, their metadata and parameters: discovery,
check and coercion), ``job`` (running one notebook: :class:`~csanalysis.report.job.NotebookJob`, the kernel's
thread limits), ``schedule`` (which notebook starts when, one or several at a time), ``store`` (the published runs:
staging, publishing, the lock, manifests, listing, pruning), ``runlog`` (progress lines and ``run.log``),
``errors`` (the runner's errors and exit codes). The pages: ``html`` (a notebook's HTML), ``extras`` (metrics
schemas, changes since the previous run, contents and definitions), ``front`` (the front page's numbers) and
``index`` (its HTML).
"""
from .i18n import attr_label, columns, definition, heading, say, set_language, set_layout, tr
from .narrative import (ci_columns, fmt_bool, fmt_ci, fmt_date, fmt_est, fmt_int, fmt_missing, fmt_money, fmt_month, fmt_months,
                        fmt_num, fmt_p, fmt_pct, fmt_ratio, md, per_customers, set_currency, show_table)
from .outputs import keep_on_publish, write_metrics, write_table

__all__ = ["attr_label", "ci_columns", "tr", "say", "definition", "set_layout", "heading", "columns", "set_language", "md", "show_table", "fmt_pct", "fmt_ci", "fmt_est", "fmt_int", "fmt_money", "fmt_num", "fmt_bool", "fmt_date", "fmt_missing", "fmt_month", "fmt_months",
           "fmt_p", "fmt_ratio", "per_customers", "set_currency", "write_metrics", "write_table", "keep_on_publish"]
