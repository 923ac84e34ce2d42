"""The estimate: one number of ``metrics.json`` with its interval, or no number with the reason; and the one JSON
cleaner every ``metrics.json`` goes through.

**The contract of ``metrics.json``** (every report writes its key figures there; scheduled runs, the front page,
the changes since the previous run and the tests read them). An *estimate* is a JSON object with

* ``estimate``, ``lower``, ``upper``: numbers or ``null``, always present. ``lower``/``upper`` are the bounds of
  the 95% interval (``alpha`` = 0.05 unless the report says otherwise); ``lower ≤ estimate ≤ upper`` whenever all
  three are numbers. A bound may be ``null`` while the estimate is a number (the bound is unbounded, or too few
  resamples gave one);
* ``reason``: a sentence (English), present whenever ``estimate`` is ``null``: why there is no number. When the
  estimate is a number, ``reason`` is ``null``, absent, or a caveat on it (``"too few bootstrap samples"`` beside
  null bounds). Most reports write it always (``null`` when there is nothing to say); the subscription metrics of
  :mod:`csanalysis.metrics` leave it out for a number and write a caveat as ``note``;
* any further keys describing the number (``formula``, ``interval``, ``n``, ``periods``, ``cohort`` …): they never
  change the meaning of the three numbers.

NaN and ±inf never reach the file: they become ``null`` (an undefined number comes with its ``reason``), numpy
scalars become Python numbers, dates ``YYYY-MM-DD`` (:func:`json_safe`). The shared JSON Schema definition is
``csanalysis/report/schemas/definitions.json#/$defs/estimate``; each report's schema refers to it, and the
report runner checks every ``metrics.json`` against its schema (:func:`csanalysis.report.extras.check_metrics`).

In Python an estimate is an :class:`Estimate`; each analysis result's ``metrics()`` returns its part of
``metrics.json`` built from them, so a notebook merges those parts and writes them
(:func:`csanalysis.report.outputs.write_metrics`: strict JSON, keys sorted).

    >>> Estimate("monthly_churn", 0.021, 0.018, 0.025).to_dict(details=())
    {'estimate': 0.021, 'lower': 0.018, 'upper': 0.025}
    >>> Estimate.missing("no churn observed").brief()
    {'estimate': None, 'lower': None, 'upper': None, 'reason': 'no churn observed'}
"""
from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

NOT_ESTIMABLE = "not estimable"  # the reason of an undefined estimate that was given none
DETAILS = ("formula", "interval", "n")  # the describing fields :meth:`Estimate.to_dict` writes by default


def json_safe(value):
    """JSON-safe, recursively: NaN/inf become None (a reason may sit beside it), numpy scalars become Python
    numbers, timestamps ``YYYY-MM-DD`` (with the time only when there is one), dict keys strings, tuples lists."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if math.isnan(v) or math.isinf(v) else v
    if isinstance(value, (np.bool_,)):
        return bool(value)
    if isinstance(value, pd.Timestamp):
        return value.strftime("%Y-%m-%d") if value == value.normalize() else value.isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()[:10] if not isinstance(value, dt.datetime) else value.isoformat()
    return value


def _number(name: str, field: str, value) -> float | int | None:
    """``value`` JSON-safe, checked to be a number or None (a string or a list is no estimate)."""
    v = json_safe(value)
    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
        raise TypeError(f"estimate {name or '(unnamed)'}: {field} must be a number or None, got {value!r}")
    return v


@dataclass
class Estimate:
    """One number with its interval, the formula behind it and, when undefined, the reason (``note``).

    ``estimate`` NaN (or None) means undefined: ``note`` then says why (written as ``reason``); on a defined
    estimate ``note`` is a caveat (written as ``note``, or as ``reason`` with ``always_reason``). ``n``: the count
    the number rests on, when one applies.
    """

    name: str
    estimate: float | None
    lower: float | None = np.nan
    upper: float | None = np.nan
    formula: str = ""
    interval: str = ""
    note: str = ""
    n: int | None = None

    @classmethod
    def missing(cls, reason: str, name: str = "", **kw) -> "Estimate":
        """An undefined estimate with the reason there is no number."""
        return cls(name, np.nan, note=reason, **kw)

    @classmethod
    def of(cls, name: str, estimate, lower=np.nan, upper=np.nan, *, reason: str, **kw) -> "Estimate":
        """An estimate whose ``reason`` applies only if the number turns out undefined (NaN, None or infinite).

        Parameters
        ----------
        name : str
            What the number is.
        estimate, lower, upper : float
            The number and its interval.
        reason : str
            Why there is no number, used only when ``estimate`` is undefined.
        **kw
            The other fields of :class:`Estimate` (``formula``, ``interval``, ``note``).

        Returns
        -------
        Estimate
            With ``reason`` when the estimate is undefined.
        """
        e = cls(name, estimate, lower, upper, **kw)
        e.note = "" if _number(name, "estimate", estimate) is not None else reason
        return e

    @property
    def defined(self) -> bool:
        return self.estimate is not None and not (isinstance(self.estimate, float) and math.isnan(self.estimate))

    @property
    def reason(self) -> str | None:
        """Why there is no number (None when there is one)."""
        if _number(self.name, "estimate", self.estimate) is not None:
            return None
        return self.note or NOT_ESTIMABLE

    def to_dict(self, *, details: tuple[str, ...] = DETAILS, always_reason: bool = False) -> dict:
        """JSON-safe (the module's contract): NaN becomes None, and an undefined estimate carries its ``reason``.

        ``details``: the describing fields written beside the numbers (default formula, interval and n; ``()``
        for none). ``always_reason``: write ``reason`` for a defined estimate too (None, or its remark ``note``),
        the shape most reports use; by default it is left out and a remark on a defined estimate is written as
        ``note``.
        """
        out = {"estimate": _number(self.name, "estimate", self.estimate),
               "lower": _number(self.name, "lower", self.lower), "upper": _number(self.name, "upper", self.upper)}
        for k in details:
            out[k] = json_safe(getattr(self, k))
        if out["estimate"] is None:
            out["reason"] = self.note or NOT_ESTIMABLE
        elif always_reason:
            out["reason"] = self.note or None
        elif self.note:
            out["note"] = self.note
        return out

    def brief(self) -> dict:
        """The shape most reports write: estimate, lower, upper and reason (None on a defined number without a
        caveat): ``to_dict(details=(), always_reason=True)``."""
        return self.to_dict(details=(), always_reason=True)

    def row(self) -> dict:
        """The estimate as a table row (NaN kept: tables show it as empty)."""
        return {"metric": self.name, "estimate": self.estimate, "lower": self.lower, "upper": self.upper,
                "formula": self.formula, "interval": self.interval, "note": self.note}


__all__ = ["Estimate", "json_safe", "NOT_ESTIMABLE"]
