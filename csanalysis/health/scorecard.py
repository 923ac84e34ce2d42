"""The weighted scorecard and its calibration to a churn probability.

A Gainsight-style scorecard (YAML: measures, weights, thresholds, bands; the default is
``csanalysis/health_scorecard.yaml``) gives each account 0–100 points (higher is healthier) and a band. Before
anything is plotted its points are calibrated to a churn probability within the horizon on past scoring dates
whose outcome windows closed (logistic or isotonic on the points).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from .outcomes import _need_training
from .signals import NUMERIC_SIGNALS

__all__ = ["DEFAULT_SCORECARD", "CALIBRATIONS", "BAND_POINTS", "Measure", "Scorecard", "CalibratedScorecard",
           "calibrate_scorecard"]

DEFAULT_SCORECARD = Path(__file__).parent.parent / "health_scorecard.yaml"

CALIBRATIONS = ("logistic", "isotonic")  # scorecard points → probability (calibrate_scorecard ``method``)


@dataclass
class Measure:
    """One measure of a :class:`Scorecard`: a signal, its weight, and the thresholds (or categories) that put
    its value in a band."""

    name: str
    weight: float
    direction: str = "higher_is_better"  # or lower_is_better, or categorical
    good: float | None = None
    poor: float | None = None
    categories: dict | None = None  # categorical: value → good / average / poor
    missing: str = "skip"  # skip (the weight goes to the other measures) or good / average / poor


BAND_POINTS = {"good": 100.0, "average": 50.0, "poor": 0.0}


@dataclass
class Scorecard:
    """A Gainsight-style weighted scorecard: each measure falls in a band (good 100, average 50, poor 0 points)
    by its thresholds; the score is the weighted mean of the measures' points (missing measures skipped, their
    weight shared by the others); the score's bands come from ``bands`` (lower bounds)."""

    name: str
    measures: list[Measure]
    bands: dict[str, float]
    source: str = ""

    @classmethod
    def from_yaml(cls, path=None) -> "Scorecard":
        path = Path(path) if path else DEFAULT_SCORECARD
        if not path.is_file():
            raise FileNotFoundError(f"scorecard file {path} not found")
        from ..data.mapping import read_yaml

        spec = read_yaml(path.read_bytes(), f"scorecard file {path}", ValueError) or {}
        return cls.from_dict(spec, source=str(path))

    @classmethod
    def from_dict(cls, spec: dict, source: str = "") -> "Scorecard":
        if not isinstance(spec, dict):
            raise ValueError(f"scorecard {source}: the file must be a mapping with 'measures' (and optionally 'bands'), "
                             f"not a {type(spec).__name__}")
        if not isinstance(spec.get("measures"), dict) or not spec["measures"]:
            raise ValueError(f"scorecard {source or ''}: 'measures' must map signal names to their settings")
        measures = []
        for name, s in spec["measures"].items():
            if name not in NUMERIC_SIGNALS and name != "nps_category":
                raise ValueError(f"scorecard {source}: measure {name!r} is not a signal; use one of "
                                 f"{sorted(NUMERIC_SIGNALS + ('nps_category',))}")
            s = dict(s or {})
            direction = s.get("direction", "categorical" if "categories" in s else "higher_is_better")
            if direction not in ("higher_is_better", "lower_is_better", "categorical"):
                raise ValueError(f"scorecard {source}: measure {name!r} has direction {direction!r}; use "
                                 "higher_is_better, lower_is_better or categorical")
            w = s.get("weight")
            if not isinstance(w, (int, float)) or w < 0:
                raise ValueError(f"scorecard {source}: measure {name!r} needs a weight ≥ 0 (got {w!r})")
            th = s.get("thresholds", {}) or {}
            if direction != "categorical":
                if "good" not in th or "poor" not in th:
                    raise ValueError(f"scorecard {source}: measure {name!r} needs thresholds good and poor")
                ok = th["good"] >= th["poor"] if direction == "higher_is_better" else th["good"] <= th["poor"]
                if not ok:
                    raise ValueError(f"scorecard {source}: measure {name!r} ({direction}) has thresholds good="
                                     f"{th['good']} and poor={th['poor']} in the wrong order")
            else:
                bad = {k: v for k, v in (s.get("categories") or {}).items() if v not in BAND_POINTS}
                if not s.get("categories") or bad:
                    raise ValueError(f"scorecard {source}: categorical measure {name!r} must map values to good, "
                                     f"average or poor (bad entries: {bad})")
            missing = s.get("missing", "skip")
            if missing not in ("skip", *BAND_POINTS):
                raise ValueError(f"scorecard {source}: measure {name!r} has missing={missing!r}; use skip, good, "
                                 "average or poor")
            measures.append(Measure(name, float(w), direction, th.get("good"), th.get("poor"),
                                    s.get("categories"), missing))
        if sum(m.weight for m in measures) <= 0:
            raise ValueError(f"scorecard {source}: the weights add up to zero")
        bands = spec.get("bands") or {"good": 70, "average": 40, "poor": 0}
        if set(bands) != {"good", "average", "poor"} or not bands["good"] > bands["average"] >= bands["poor"]:
            raise ValueError(f"scorecard {source}: bands must give good > average ≥ poor lower bounds (got {bands})")
        return cls(spec.get("name", "scorecard"), measures, {k: float(v) for k, v in bands.items()}, source)

    def measure_points(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Points (0, 50, 100; NaN when missing and skipped) of each measure for each row."""
        out = {}
        for ms in self.measures:
            if ms.name not in frame.columns:
                raise ValueError(f"scorecard measure {ms.name!r}: no such column in the signals")
            x = frame[ms.name]
            if ms.direction == "categorical":
                pts = x.map(ms.categories).map(BAND_POINTS).astype(float).to_numpy()
            else:
                v = pd.to_numeric(x, errors="coerce").to_numpy(dtype=float)
                good, poor = (v >= ms.good, v < ms.poor) if ms.direction == "higher_is_better" else (v <= ms.good, v > ms.poor)
                pts = np.select([np.isnan(v), good, poor], [np.nan, BAND_POINTS["good"], BAND_POINTS["poor"]],
                                BAND_POINTS["average"]).astype(float)
            if ms.missing != "skip":
                pts = np.where(np.isnan(pts), BAND_POINTS[ms.missing], pts)
            out[ms.name] = pts
        return pd.DataFrame(out, index=frame.index)

    def points(self, frame: pd.DataFrame) -> np.ndarray:
        """The 0–100 score (higher is healthier)."""
        mp = self.measure_points(frame)
        w = np.array([m.weight for m in self.measures])
        have = mp.notna().to_numpy()
        num = np.nansum(mp.to_numpy() * w, axis=1)
        den = (have * w).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(den > 0, num / den, np.nan)

    def band(self, points: np.ndarray) -> np.ndarray:
        p = np.asarray(points, dtype=float)
        return np.where(p >= self.bands["good"], "good", np.where(p >= self.bands["average"], "average", "poor"))

    def table(self, translate: Callable | None = None) -> pd.DataFrame:
        """The scorecard as a table: measure, weight (share), direction and thresholds; a categorical measure's
        categories (the NPS categories) in the report's language with ``translate`` (``health.nps.<category>``)."""
        total = sum(m.weight for m in self.measures)

        def cats(m, band):
            names = [k for k, v in m.categories.items() if v == band]
            return ", ".join(translate(f"health.nps.{k}") if translate and m.name == "nps_category" else k for k in names)

        return pd.DataFrame([{"measure": m.name, "weight": m.weight / total, "direction": m.direction,
                              "good": m.good if m.direction != "categorical" else cats(m, "good"),
                              "poor": m.poor if m.direction != "categorical" else cats(m, "poor")}
                             for m in self.measures])

    def label(self, translate: Callable | None = None) -> str:
        """The scorecard's name for a reader: the default scorecard's in the report's language
        (``health.scorecard_default``), a scorecard of the user's own by the name its file gives."""
        if translate is not None and self.source and Path(self.source) == DEFAULT_SCORECARD:
            return translate("health.scorecard_default")
        return self.name


@dataclass
class CalibratedScorecard:
    """A scorecard with its points mapped to a churn probability (fitted on past closed scoring dates)."""

    scorecard: Scorecard
    method: str
    calibrator: object = field(repr=False)
    n_train: int = 0
    events_train: int = 0

    def predict(self, frame: pd.DataFrame, points: np.ndarray | None = None) -> np.ndarray:
        """P(churn) of each row (``points``: the rows' :meth:`Scorecard.points`, when the caller has them)."""
        pts = self.scorecard.points(frame) if points is None else np.asarray(points, dtype=float)
        pts = np.where(np.isnan(pts), 50.0, pts)
        if self.method == "isotonic":
            return self.calibrator.predict(pts)
        return self.calibrator.predict_proba(pts.reshape(-1, 1) / 100.0)[:, 1]


def calibrate_scorecard(scorecard: Scorecard, train: pd.DataFrame, *, method: str = "logistic",
                        points: np.ndarray | None = None) -> CalibratedScorecard:
    """Map scorecard points to P(churn within the horizon) on past rows (``churned``): a logistic curve on the
    points (monotone, keeps the scorecard's ranking) or isotonic regression (decreasing in the points).
    ``points``: the rows' :meth:`Scorecard.points`, when the caller has them.

    Parameters
    ----------
    scorecard : Scorecard
        The weighted scorecard.
    train : DataFrame
        Past rows of closed windows: the scorecard's measures and ``churned``.
    method : {"logistic", "isotonic"}
        The calibration curve.
    points : ndarray, optional
        The rows' points (None: computed here).

    Returns
    -------
    CalibratedScorecard
        The scorecard with its map from points to probabilities.
    """
    from sklearn.isotonic import IsotonicRegression
    from sklearn.linear_model import LogisticRegression

    _need_training(train)
    pts = scorecard.points(train) if points is None else np.asarray(points, dtype=float)
    pts = np.where(np.isnan(pts), 50.0, pts)
    y = train["churned"].to_numpy()
    if method == "isotonic":
        cal = IsotonicRegression(increasing=False, out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(pts, y)
    elif method == "logistic":
        cal = LogisticRegression(C=1e6, max_iter=1000).fit(pts.reshape(-1, 1) / 100.0, y)
    else:
        raise ValueError(f"calibration method {method!r}: use logistic or isotonic")
    return CalibratedScorecard(scorecard, method, cal, len(train), int(y.sum()))
