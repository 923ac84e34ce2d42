"""Why an estimate is missing, in words a report can show in its own language.

An analysis that cannot estimate something says why (``reason``). The reason is English text wherever it is
kept (``metrics.json``, logs, the command line), and it carries its message in the report catalogue
(``csanalysis/report/messages``): ``key`` and the ``values`` that fill it. A report shows it in the run's
language: :func:`csanalysis.report.i18n.tr` and ``say`` write a :class:`Reason` value through the catalogue.

    >>> r = Reason("too few responses for the model", "nps.reason.too_few_for_model")
    >>> r == "too few responses for the model", r.key
    (True, 'nps.reason.too_few_for_model')

A Reason is a ``str``: code that compares, joins or stores it sees the English text (a table column of
reasons keeps the objects in pandas' object dtype; a string dtype would keep the English text alone).
"""
from __future__ import annotations

from typing import Any

__all__ = ["Reason"]


class Reason(str):
    """English text that knows its catalogue message (``key`` formatted with ``values``)."""

    key: str
    values: dict[str, Any]

    def __new__(cls, text: str, key: str, **values: Any) -> "Reason":
        self = super().__new__(cls, text)
        self.key = key
        self.values = values
        return self

    def __reduce__(self):  # pickled (a worker process) as itself, not as a plain str
        return (_rebuild, (str(self), self.key, self.values))


def _rebuild(text: str, key: str, values: dict) -> Reason:
    return Reason(text, key, **values)
