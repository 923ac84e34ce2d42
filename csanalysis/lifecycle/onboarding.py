"""Onboarding and time to first value: milestones, the time to reach each, and retention after a landmark.

**Milestones** are rules over the Dataset's monthly tables, read from a YAML file (default
``csanalysis/lifecycle/onboarding_milestones.yaml``; a user's own with :func:`load_milestones`). A file has one
key, ``milestones``, mapping each milestone's name to ``table`` (``usage``, ``cs_activities`` or ``payments``:
the customer-month tables, one column per usage measure, activity or payment status), ``column``, ``op``
(``>``, ``>=`` or ``==``), ``value`` (a number) and an optional ``label`` ({en, ja} or one text). A malformed file
raises :class:`MilestoneFileError` naming the file and the entry. A milestone whose table or column these data
lack is *not measurable* (with the reason); the others still run.

**The clock.** Each account's first spell that starts inside the data window (accounts that started before it are
left out: their early months are not in the data). The start is the spell's first paid month (month 0). The
tables count usage and activities by calendar month, so times are whole months: a milestone reached in month
``k`` after the start month has time ``k`` (0 = in the start month). Accounts that have not reached it are
censored at their last paid month of that spell (churn) or at the ``as_of`` month. A *day count* ``d`` (30, 60,
90 days) means month ``k = round(d / 30.44)`` (1, 2, 3): "within 30 days" is reached by the end of the month after
the start month, between 30 and 60 days for a mid-month start. Many accounts share each month (ties):
Kaplan–Meier handles ties exactly (all events of a month, then the censorings), so there is no jitter.

* Time to milestone: Kaplan–Meier of ``T`` = months to the milestone, ``E`` = reached; completion by month ``k``
  is ``1 − S(k)`` with the Greenwood log(−log) interval of lifelines; the median (the first month by which more than half
  have reached it: lifelines' ``median_survival_time_``, where S falls below one half) with lifelines' interval from
  the curve's bounds (none when no more than half reach it within the follow-up).
* **Landmark retention.** Comparing accounts that completed onboarding with those that did not, from the start,
  credits the completers with the time they had to survive to complete it (immortal-time bias). So the comparison
  starts at a landmark ``L`` (``landmark_day`` 60 → month 2): the accounts still paying in month ``L`` are split by
  whether they reached the milestone in or before month ``L``; churn after it is followed to month ``H``
  (``horizon_day`` 365 → 12) and compared by Cox regression (lifelines ``CoxPHFitter``, Efron ties) with the
  touch model and plan as covariates where present: the hazard ratio of *not onboarded* ÷ *onboarded*, an
  association (who gets onboarded is not random).

The demo generator plants this effect (csanalysis/data/synth.py, ``_plan_onboarding``; truth key ``onboarding``).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..estimate import Estimate

__all__ = ["DEFAULT_MILESTONES", "MilestoneFileError", "Milestone", "load_milestones", "parse_milestones",
           "day_to_month", "start_data", "milestone_times", "MilestoneTimes", "time_to_milestones",
           "LandmarkResult", "landmark", "REASONS", "reason_text", "OnboardingResult", "onboarding"]

DEFAULT_MILESTONES = Path(__file__).parent / "onboarding_milestones.yaml"
TABLES = ("usage", "cs_activities", "payments")
OPS = {">": np.greater, ">=": np.greater_equal, "==": np.equal}
DAYS_PER_MONTH = 30.4375
DEFAULT_DAYS = (30, 60, 90)


class MilestoneFileError(ValueError):
    """A milestone file that cannot be read: the message names the file and the entry."""


@dataclass(frozen=True)
class Milestone:
    """One milestone: reached in the first month whose ``table[column] op value`` holds."""

    name: str
    table: str
    column: str
    op: str
    value: float
    label: dict = field(default_factory=dict)  # {"en": ..., "ja": ...}

    def label_in(self, lang: str = "en") -> str:
        return self.label.get(lang) or self.label.get("en") or self.name


def load_milestones(path: str | Path | None = None) -> list[Milestone]:
    """Read a milestone file (None: the default beside this module); see the module docstring."""
    from ..data.mapping import read_yaml

    p = Path(path) if path else DEFAULT_MILESTONES
    where = str(p)
    if not p.is_file():
        raise MilestoneFileError(f"milestone file {where}: no such file")
    raw = read_yaml(p.read_bytes(), f"milestone file {where}", MilestoneFileError)  # size-limited, UTF-8, no aliases
    return parse_milestones(raw, where)


def parse_milestones(raw, where: str = "(milestones)") -> list[Milestone]:
    """Milestones from the parsed YAML (``{"milestones": {name: {table, column, op, value, label}}}``)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("milestones"), dict) or not raw["milestones"]:
        raise MilestoneFileError(f"milestone file {where}: the file must be a mapping with a non-empty 'milestones' "
                                 "mapping (name -> {table, column, op, value, label})")
    out = []
    for name, rule in raw["milestones"].items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise MilestoneFileError(f"milestone file {where}: milestone {name!r}: a name is letters, digits and _")
        if not isinstance(rule, dict):
            raise MilestoneFileError(f"milestone file {where}: milestone {name!r} must be a mapping with table, column, "
                                     f"op and value (got {rule!r})")
        missing = [k for k in ("table", "column", "op", "value") if k not in rule]
        extra = sorted(set(rule) - {"table", "column", "op", "value", "label"})
        if missing or extra:
            raise MilestoneFileError(f"milestone file {where}: milestone {name!r}: "
                                     + (f"missing {missing}" if missing else f"unknown key(s) {extra}")
                                     + " (keys: table, column, op, value, label)")
        if rule["table"] not in TABLES:
            raise MilestoneFileError(f"milestone file {where}: milestone {name!r}: table {rule['table']!r}: use one of "
                                     f"{', '.join(TABLES)}")
        if not isinstance(rule["column"], str) or not rule["column"]:
            raise MilestoneFileError(f"milestone file {where}: milestone {name!r}: column {rule['column']!r}: give a "
                                     "column name")
        if rule["op"] not in OPS:
            raise MilestoneFileError(f"milestone file {where}: milestone {name!r}: op {rule['op']!r}: use one of "
                                     f"{', '.join(OPS)}")
        v = rule["value"]
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise MilestoneFileError(f"milestone file {where}: milestone {name!r}: value {v!r}: give a number")
        label = rule.get("label", {})
        if isinstance(label, str):
            label = {"en": label}
        if not isinstance(label, dict) or set(label) - {"en", "ja"} or not all(
                isinstance(t, str) and t.strip() for t in label.values()):
            raise MilestoneFileError(f"milestone file {where}: milestone {name!r}: label {label!r}: give a text or "
                                     "{en: text, ja: text}")
        out.append(Milestone(name, rule["table"], rule["column"], rule["op"], float(v), dict(label)))
    return out


def day_to_month(days: int) -> int:
    """The month after the start month that a day count means on monthly tables: ``round(days / 30.44)``."""
    return int(round(days / DAYS_PER_MONTH))


# ------------------------------------------------------------------------------------------------ the clock
def start_data(ds) -> pd.DataFrame:
    """One row per account whose first spell starts inside the data window: ``customer_id``, ``start`` (month),
    ``start_m`` and ``last_m`` (month indices of the start and of the last paid month of the spell), ``duration``
    (months), ``event`` (1: churned), ``cohort_quarter`` (e.g. 2023Q2) and the customers' ``touch_model`` and
    ``plan`` when present."""
    from ..periods import month_index

    sp = ds.spells
    sp = sp[(sp["spell"] == 1) & (sp["entry"] == 0)]
    sp = sp[sp["start"] >= ds.data_start]
    d = pd.DataFrame({"customer_id": sp["customer_id"].astype(str).to_numpy(), "start": sp["start"].to_numpy(),
                      "start_m": np.asarray(month_index(sp["start"])), "last_m": np.asarray(month_index(sp["last_paid"])),
                      "duration": sp["duration"].to_numpy(), "event": sp["event"].to_numpy().astype(int)})
    d["cohort_quarter"] = pd.PeriodIndex(d["start"], freq="Q").astype(str)
    cust = ds.customers
    for col in ("touch_model", "plan"):
        if col in cust.columns:
            d[col] = d["customer_id"].map(cust.set_index(cust["customer_id"].astype(str))[col])
    return d.reset_index(drop=True)


def _milestone_month(ds, m: Milestone, starts: pd.DataFrame) -> tuple[pd.Series | None, str | None]:
    """The first month index (from each account's start month on) whose rule holds, NaN when never; or None and the
    reason when these data cannot measure it. In the engine (:meth:`Dataset.engine_frame`): the rows where the rule
    holds (a value that is not a number never does, as ``pd.to_numeric(errors="coerce")`` reads it) joined to the
    accounts of ``starts`` by id as text, from each account's start month on, the first month per account; only
    that one row per account crosses into pandas, never the table's rows (the usage table has one row per
    account-month: at a million customers it took GBs in pandas, issue 21)."""
    import ibis

    from ..data.spells import month_index as engine_month_index

    t = ds.engine_frame(m.table)  # (the table's pandas frame is not built)
    if t is None:
        return None, "no_table"
    if m.column not in t.columns:
        return None, "no_column"
    if not len(starts):
        return pd.Series(np.nan, index=starts.index, dtype=float, name="customer_id"), None
    v = t[m.column]
    if not v.type().is_numeric():
        v = v.cast("string").try_cast("float64")
    hold = {">": v > m.value, ">=": v >= m.value, "==": v == m.value}[m.op]
    if v.type().is_floating():
        hold = hold & ~v.isnan()  # (NaN compares above every number in the engine; pandas' never holds)
    rows = t.filter(hold.fill_null(False)).select(customer_id=t.customer_id.cast("string"),
                                                   m=engine_month_index(t.month).cast("int64"))
    acc = ibis.memtable(pd.DataFrame({"customer_id": starts["customer_id"].astype(str).to_numpy(dtype=object),
                                      "pos": np.arange(len(starts), dtype=np.int64),
                                      "start_m": starts["start_m"].to_numpy(dtype=np.int64)}))
    j = rows.join(acc, rows.customer_id == acc.customer_id)
    j = j.filter(j.m >= j.start_m)  # from the account's start month on
    got = j.group_by("pos").aggregate(first=j.m.min()).execute()
    first = pd.Series(got["first"].to_numpy(np.int64), index=got["pos"].to_numpy(np.int64)).sort_index()
    month = first.reindex(pd.RangeIndex(len(starts)))  # NaN where never reached (as a map of the ids would give)
    month.index = starts.index
    return month.rename("customer_id"), None


REASONS = {"no_table": "no {table} table", "no_column": "the {table} table has no column {column!r}",
           "no_starts": "no account started inside the data window",
           "not_measurable": "the milestone is not measurable", "one_group": "every account at the landmark is in one group",
           "no_churn": "no churn after the landmark", "no_landmark": "no account was followed to the landmark"}


def reason_text(code: str, m: Milestone | None = None) -> str:
    """The English reason of a code of :data:`REASONS` (metrics.json; the report words it from its catalogue,
    ``onboarding.reason.<code>``)."""
    return REASONS[code].format(table=m.table if m else "", column=m.column if m else "")


def milestone_times(ds, m: Milestone, starts: pd.DataFrame | None = None) -> tuple[pd.DataFrame | None, str | None]:
    """Per account (:func:`start_data`): ``T`` months from the start month to the milestone (reached in the first
    spell) or to censoring (the last paid month), ``E`` 1 when reached; None and the reason's code
    (:data:`REASONS`) when not measurable."""
    starts = start_data(ds) if starts is None else starts
    month, reason = _milestone_month(ds, m, starts)
    if month is None:
        return None, reason
    reached = month.notna() & (month <= starts["last_m"])
    T = np.where(reached, month - starts["start_m"], starts["last_m"] - starts["start_m"])
    return starts.assign(T=T.astype(int), E=reached.astype(int).to_numpy(), milestone_m=month), None


# ------------------------------------------------------------------------------------------------ time to milestone
def _km(T, E, alpha: float):
    from lifelines import KaplanMeierFitter

    return KaplanMeierFitter(alpha=alpha).fit(np.asarray(T, float), np.asarray(E, int))


def _completion(kmf, k: int) -> tuple[float, float, float]:
    """1 − S(k) and its interval from the curve's bounds (NaN beyond the follow-up)."""
    tl = kmf.survival_function_.index.to_numpy()
    if k > tl.max() and kmf.survival_function_.iloc[-1, 0] > 0:
        return np.nan, np.nan, np.nan
    s = float(kmf.survival_function_at_times(k).iloc[0])
    ci = kmf.confidence_interval_
    row = ci[ci.index <= k].iloc[-1] if (ci.index <= k).any() else pd.Series([1.0, 1.0])
    return 1 - s, 1 - float(row.iloc[1]), 1 - float(row.iloc[0])


def _median(kmf) -> tuple[float, float, float]:
    from lifelines.utils import median_survival_times

    med = float(kmf.median_survival_time_)
    ci = median_survival_times(kmf.confidence_interval_)
    lo, hi = (float(v) for v in ci.iloc[0])
    return tuple(np.nan if not math.isfinite(v) else v for v in (med, lo, hi))


@dataclass
class MilestoneTimes:
    """Time to each milestone: ``table`` (one row per milestone × group: ``milestone``, ``group_by`` (``all``,
    ``touch_model``, ``cohort_quarter``), ``group``, ``n``, ``reached``, ``median`` / ``median_lower`` /
    ``median_upper`` (months), and per day count d ``within_d`` / ``within_d_lower`` / ``within_d_upper``),
    ``curves`` (milestone, month, completion, lower, upper: all accounts), ``not_measurable`` (name → reason code,
    :data:`REASONS`),
    ``milestones``, ``days``, ``alpha``."""

    table: pd.DataFrame
    curves: pd.DataFrame
    not_measurable: dict
    milestones: list
    days: tuple
    alpha: float = 0.05
    times: dict = field(default_factory=dict, repr=False)  # name -> per-account frame (milestone_times)
    n_accounts: int = 0  # accounts whose first spell starts inside the data window

    @property
    def summary(self) -> pd.DataFrame:
        return self.table

    def _repr_html_(self) -> str:
        return self.table.to_html(index=False)

    def rows(self, group_by: str, milestone: str | None = None) -> pd.DataFrame:
        """The table's rows of one grouping (``all``, ``touch_model``, ``cohort_quarter``), of one milestone or all."""
        t = self.table[self.table["group_by"] == group_by]
        return (t if milestone is None else t[t["milestone"] == milestone]).reset_index(drop=True)

    def overall(self, name: str) -> pd.Series | None:
        r = self.table[(self.table["milestone"] == name) & (self.table["group_by"] == "all")]
        return r.iloc[0] if len(r) else None

    def metrics(self) -> dict:
        out = {}
        for m in self.milestones:
            if m.name in self.not_measurable:
                out[m.name] = {"measurable": False, "reason": reason_text(self.not_measurable[m.name], m)}
                continue
            r = self.overall(m.name)
            why = "fewer than half of the accounts reached it within the follow-up"
            out[m.name] = {
                "measurable": True, "reason": None, "n": int(r["n"]), "reached": int(r["reached"]),
                "median_months": Estimate.of("median_months", r["median"], r["median_lower"], r["median_upper"],
                                             reason=why).brief(),
                "completion": {str(d): Estimate.of(f"within_{d}", r[f"within_{d}"], r[f"within_{d}_lower"],
                                                   r[f"within_{d}_upper"],
                                                   reason="no account followed that long").brief()
                               for d in self.days},
            }
        return out


def time_to_milestones(ds, milestones: list[Milestone] | None = None, *, days=DEFAULT_DAYS,
                       by=("touch_model", "cohort_quarter"), alpha: float = 0.05, max_month: int = 12) -> MilestoneTimes:
    """Kaplan–Meier time to each milestone (see the module docstring), overall and per level of each ``by``
    column of :func:`start_data` that exists."""
    milestones = load_milestones() if milestones is None else milestones
    starts = start_data(ds)
    days = tuple(int(d) for d in days)
    rows, curves, missing, times = [], [], {}, {}
    for m in milestones:
        d, reason = milestone_times(ds, m, starts)
        if d is None:
            missing[m.name] = reason
            continue
        if not len(d):
            missing[m.name] = "no_starts"
            continue
        times[m.name] = d
        groups = [("all", "all", d)]
        for col in by:
            if col in d.columns and d[col].notna().any():
                groups += [(col, str(g), sub) for g, sub in d.groupby(col, sort=True)]
        for gb, g, sub in groups:
            kmf = _km(sub["T"], sub["E"], alpha)
            med = _median(kmf)
            row = {"milestone": m.name, "group_by": gb, "group": g, "n": len(sub), "reached": int(sub["E"].sum()),
                   "median": med[0], "median_lower": med[1], "median_upper": med[2]}
            for day in days:
                c = _completion(kmf, day_to_month(day))
                row.update({f"within_{day}": c[0], f"within_{day}_lower": c[1], f"within_{day}_upper": c[2]})
            rows.append(row)
            if gb == "all":
                for k in range(0, max_month + 1):
                    c = _completion(kmf, k)
                    curves.append({"milestone": m.name, "month": k, "completion": c[0], "lower": c[1], "upper": c[2]})
    cols = ["milestone", "group_by", "group", "n", "reached", "median", "median_lower", "median_upper"]
    cols += [f"within_{d}{s}" for d in days for s in ("", "_lower", "_upper")]
    return MilestoneTimes(pd.DataFrame(rows, columns=cols),
                          pd.DataFrame(curves, columns=["milestone", "month", "completion", "lower", "upper"]),
                          missing, list(milestones), days, alpha, times, len(starts))


# ------------------------------------------------------------------------------------------------ the landmark
@dataclass
class LandmarkResult:
    """Churn after the landmark by onboarding status: ``hr_`` (not onboarded ÷ onboarded) with ``lower_`` /
    ``upper_``, ``p_``; ``groups`` (per group: n, churned, and ``left`` / ``left_lower`` / ``left_upper``: 1 − Kaplan–Meier at the
    horizon); ``curves`` (KM after the landmark per group:
    group, month, survival, lower, upper); ``covariates`` (adjusted for); ``reason`` (a code of :data:`REASONS`)
    when there is no estimate, ``milestone_reason`` (the milestone's code) when the milestone is not measurable."""

    milestone: str
    landmark_day: int
    landmark_month: int
    horizon_month: int
    hr_: float = np.nan
    lower_: float = np.nan
    upper_: float = np.nan
    p_: float = np.nan
    n: int = 0
    events: int = 0
    groups: pd.DataFrame | None = None
    curves: pd.DataFrame | None = None
    covariates: list = field(default_factory=list)
    reason: str | None = None
    milestone_reason: str | None = None
    reason_detail: str = ""  # the English reason (metrics.json)
    alpha: float = 0.05
    model: object = field(default=None, repr=False)
    data: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def estimate(self) -> Estimate:
        why = self.reason_detail or REASONS.get(self.reason, "not estimable")
        return Estimate.of("landmark_hr", self.hr_, self.lower_, self.upper_, reason=why,
                           formula="Cox hazard ratio of churn after the landmark, not onboarded / onboarded",
                           interval="Wald", n=self.n)

    @property
    def includes_one(self) -> bool | None:
        if not (math.isfinite(self.lower_) and math.isfinite(self.upper_)):
            return None
        return self.lower_ <= 1 <= self.upper_

    def conf_int(self) -> pd.DataFrame:
        return pd.DataFrame({"lower": [self.lower_], "upper": [self.upper_]}, index=["not_onboarded"])

    @property
    def summary(self) -> pd.DataFrame:
        return pd.DataFrame([{"hr": self.hr_, "lower": self.lower_, "upper": self.upper_, "p": self.p_, "n": self.n,
                              "events": self.events, "adjusted_for": ", ".join(self.covariates)}])

    def _repr_html_(self) -> str:
        return self.summary.to_html(index=False)

    def metrics(self) -> dict:
        g = {}
        if self.groups is not None:
            g = {r["group"]: {"n": int(r["n"]), "churned": int(r["churned"])} for _, r in self.groups.iterrows()}
        return {"milestone": self.milestone, "landmark_day": self.landmark_day, "landmark_month": self.landmark_month,
                "horizon_month": self.horizon_month, "hazard_ratio": self.estimate.brief(),
                "p": None if not math.isfinite(self.p_) else float(self.p_), "interval_includes_1": self.includes_one,
                "adjusted_for": list(self.covariates), "n": self.n, "events": self.events, "groups": g}


def landmark(ds, milestone: str = "onboarding_session", milestones: list[Milestone] | None = None, *,
             landmark_day: int = 60, horizon_day: int = 365, adjust=("touch_model", "plan"),
             alpha: float = 0.05) -> LandmarkResult:
    """Churn after the landmark of accounts onboarded by it (reached ``milestone`` in or before the landmark month)
    against those not (see the module docstring)."""
    from lifelines import CoxPHFitter

    milestones = load_milestones() if milestones is None else milestones
    L, H = day_to_month(landmark_day), day_to_month(horizon_day)
    res = LandmarkResult(milestone, int(landmark_day), L, H, alpha=alpha)
    found = [m for m in milestones if m.name == milestone]
    if not found:
        raise ValueError(f"landmark milestone {milestone!r} is not among the milestones "
                         f"({', '.join(m.name for m in milestones)})")
    if H <= L:
        raise ValueError(f"horizon_day={horizon_day} must come at least a month after landmark_day={landmark_day}")
    d, reason = milestone_times(ds, found[0])
    if d is None:
        res.reason, res.milestone_reason = "not_measurable", reason
        res.reason_detail = f"milestone {milestone!r} is not measurable: {reason_text(reason, found[0])}"
        return res
    d = d[d["duration"] > L].copy()  # still paying in the landmark month
    if not len(d):
        res.reason = "no_landmark"
        return res
    d["onboarded"] = (d["E"].astype(bool) & (d["T"] <= L)).astype(int)
    d["not_onboarded"] = 1 - d["onboarded"]
    d["time"] = np.minimum(d["duration"], H) - L
    d["churn"] = ((d["event"] == 1) & (d["duration"] <= H)).astype(int)
    res.data, res.n, res.events = d, len(d), int(d["churn"].sum())
    res.groups = pd.DataFrame([{"group": g, "n": int((d["onboarded"] == v).sum()),
                                "churned": int(d.loc[d["onboarded"] == v, "churn"].sum())}
                               for g, v in (("onboarded", 1), ("not_onboarded", 0))])
    curves = []
    for g, v in (("onboarded", 1), ("not_onboarded", 0)):
        sub = d[d["onboarded"] == v]
        if len(sub):
            kmf = _km(sub["time"], sub["churn"], alpha)
            ci = kmf.confidence_interval_
            for k in range(0, min(H - L, int(kmf.survival_function_.index.max())) + 1):  # not beyond the follow-up
                s = float(kmf.survival_function_at_times(k).iloc[0])
                b = ci[ci.index <= k].iloc[-1] if (ci.index <= k).any() else pd.Series([1.0, 1.0])
                curves.append({"group": g, "month": L + k, "survival": s, "lower": float(b.iloc[0]),
                               "upper": float(b.iloc[1])})
    res.curves = pd.DataFrame(curves, columns=["group", "month", "survival", "lower", "upper"])
    end = res.curves[res.curves["month"] == H].set_index("group")
    for k, c in (("left", "survival"), ("left_lower", "upper"), ("left_upper", "lower")):
        res.groups[k] = 1 - res.groups["group"].map(end[c]) if len(end) else np.nan
    if d["onboarded"].nunique() < 2:
        res.reason = "one_group"
        return res
    if res.events == 0:
        res.reason = "no_churn"
        return res
    X = d[["time", "churn", "not_onboarded"]].copy()
    for col in adjust:
        if col in d.columns and d[col].nunique(dropna=True) > 1:
            ref = d[col].value_counts().idxmax()
            dummies = pd.get_dummies(d[col].astype(str), prefix=col, dtype=float).drop(columns=f"{col}_{ref}")
            X = pd.concat([X, dummies], axis=1)
            res.covariates.append(col)
    cph = CoxPHFitter(alpha=alpha).fit(X, duration_col="time", event_col="churn")
    s = cph.summary.loc["not_onboarded"]
    res.model = cph
    res.hr_, res.p_ = float(s["exp(coef)"]), float(s["p"])
    res.lower_ = float(s[f"exp(coef) lower {100 * (1 - alpha):g}%"])
    res.upper_ = float(s[f"exp(coef) upper {100 * (1 - alpha):g}%"])
    return res


# ------------------------------------------------------------------------------------------------ the section
@dataclass
class OnboardingResult:
    """The onboarding section: ``times`` (:class:`MilestoneTimes`), ``landmark`` (:class:`LandmarkResult`) and the
    ``source`` of the milestones. Built by :func:`onboarding` without the per-account rows (``times.times`` holds
    each milestone's columns only, ``landmark.data`` is None): :func:`milestone_times` and :func:`landmark` give them."""

    times: MilestoneTimes
    landmark: LandmarkResult
    source: str

    def metrics(self) -> dict:
        return {"milestones_file": self.source, "days": list(self.times.days),
                "day_months": {str(d): day_to_month(d) for d in self.times.days},
                "milestones": self.times.metrics(), "landmark": self.landmark.metrics()}


def onboarding(ds, milestones_file: str | Path | None = None, *, landmark_milestone: str = "onboarding_session",
               landmark_day: int = 60, horizon_day: int = 365, days=DEFAULT_DAYS, alpha: float = 0.05) -> OnboardingResult:
    """Time to each milestone and the landmark comparison (see the module docstring)."""
    ms = load_milestones(milestones_file)
    times = time_to_milestones(ds, ms, days=days, alpha=alpha)
    # the section keeps its tables and curves, not one row per account and milestone, which a report would otherwise
    # hold to its end (issue 21): ``times`` keeps each measurable milestone's columns without rows, the landmark no
    # ``data`` (milestone_times and landmark give them)
    times.times = {k: v.iloc[:0].copy() for k, v in times.times.items()}
    lm = landmark(ds, landmark_milestone, ms, landmark_day=landmark_day, horizon_day=horizon_day, alpha=alpha)
    lm.data = None
    return OnboardingResult(times, lm, "default" if milestones_file is None else Path(milestones_file).name)
