"""The house model's display of a result whose ``summary`` is one table (as ``projection.SBGFit``): printed as
text, shown as HTML in a notebook. Results with more to say write their own ``print_summary``/``_repr_html_``."""
from __future__ import annotations

__all__ = ["TableSummary"]


class TableSummary:
    """``print_summary()`` and ``_repr_html_`` from the ``summary`` table, without its index unless the class
    sets ``_summary_index = True`` (a summary whose index names its rows, such as a model's terms)."""

    _summary_index = False

    def print_summary(self) -> None:
        print(self.summary.to_string(index=self._summary_index))

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=self._summary_index)
