"""The ``metrics.json`` estimate of the NPS analyses as a plain dict (estimate, lower, upper, reason) and the
cleaner that makes numpy numbers JSON-ready (non-finite → None). Kept as they were in ``nps.py`` until the one
``Estimate`` type (csanalysis/estimate.py) replaces them (issue 20)."""
from __future__ import annotations

import math

import numpy as np

__all__ = ["_json_safe", "_nan_est", "_est"]


def _json_safe(v):
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return None if not math.isfinite(float(v)) else float(v)
    if isinstance(v, np.bool_):
        return bool(v)
    return v


def _nan_est(reason: str) -> dict:
    return {"estimate": None, "lower": None, "upper": None, "reason": reason}


def _est(estimate, lower, upper, reason=None, **extra) -> dict:
    d = {"estimate": _json_safe(estimate), "lower": _json_safe(lower), "upper": _json_safe(upper),
         "reason": reason}
    if d["estimate"] is None and not reason:
        d["reason"] = "not estimable from these data"
    d.update({k: _json_safe(v) for k, v in extra.items()})
    return d
