"""The front page's numbers (``reports/index.html``), computed apart from their HTML (:mod:`.index` renders them).

**Cards.** Each headline figure (:data:`FIGURES`) is read from the ``metrics.json`` files of the published runs: the
first of its sources (notebook, key) that holds it wins (MRR from the cohort report, else the data overview). A
figure is either an *estimate* with its 95% interval (``{"estimate", "lower", "upper", "reason"}``; ``estimate``
None with a ``reason`` when it is undefined) or a *count* over all accounts (MRR, paying customers, the risk list),
which has no sampling interval. A figure a run does not hold says why (:class:`Value` ``missing``): the report was
left out for the layout (with the runner's reason), was not part of the run, wrote no metrics, does not record the
figure, or the figure is not estimable (with the report's reason).

**Runs compared.** The published runs on the same data source as the newest one (manifest ``data``), newest
first: the change is from the previous of them, the trend runs over all of them (oldest to newest). Runs on
another source are listed on the page but not compared.

**Noise rule.** An interval's standard error is taken as its width ÷ (2 × 1.96) (the normal approximation, also for
the Wilson and bootstrap intervals, which are nearly symmetric at these sizes). A change Δ = x₁ − x₀ is *beyond
noise* when |Δ| > 1.96 · √(se₀² + se₁²): the two-sided 5% test of "no change" for two independent estimates.
Consecutive runs share most of their data, so their estimates are positively correlated and the true noise of Δ
is smaller than this: the rule errs on the side of calling a change noise. Counted figures have no sampling noise:
their change is *exact*. When either run has no interval, the verdict is *unknown*.

**Freshness.** A table's newest date is the last ``date`` in it; a month-stamped table (a ``month`` column, as
``cs_costs``) covers its whole last month. With the expected refresh ``schedule`` (:data:`SCHEDULES`: a period P
and a grace G for the export to arrive), the page warns when

* the newest date of any table is more than P + G before the day the run was made (the data were not refreshed
  on schedule), and, for each table,
* its newest date is more than P + G before the analysis date ``as_of`` (the table lags behind the others).

Monthly: P = one calendar month, G = 15 days.
"""
from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from ..data.schema import TABLES
from .store import runs as published

__all__ = ["FIGURES", "SCHEDULES", "Figure", "Value", "FigureData", "Card", "Run", "TableDates", "Freshness",
           "FrontPage", "read_run", "read_value", "noise", "cards", "comparable", "freshness", "gather"]

Z = 1.959963984540054  # two-sided 95%

# schedule → (period as a calendar offset, grace in days)
SCHEDULES: dict[str, tuple[pd.DateOffset, int]] = {
    "daily": (pd.DateOffset(days=1), 1),
    "weekly": (pd.DateOffset(days=7), 3),
    "monthly": (pd.DateOffset(months=1), 15),
    "quarterly": (pd.DateOffset(months=3), 30),
}


@dataclass(frozen=True)
class Figure:
    """A headline figure: message ``index.figure.<key>``, shown on card ``index.card.<card>``; ``kind`` says how
    it reads (``pct`` a share, ``money``, ``count``, ``score`` an NPS), ``decimals`` of a share in %."""
    key: str
    card: str
    kind: str
    sources: tuple[tuple[str, str], ...]  # (notebook, dotted key in its metrics.json), first found wins
    decimals: int = 0


FIGURES: tuple[Figure, ...] = (
    Figure("mrr", "revenue", "money", (("01_cohort_retention", "mrr"), ("00_data_overview", "mrr_as_of"))),
    Figure("paying_customers", "revenue", "count",
           (("01_cohort_retention", "paying_customers"), ("00_data_overview", "paying_customers_as_of"))),
    Figure("monthly_churn", "churn", "pct", (("01_cohort_retention", "monthly_churn"),), decimals=2),
    Figure("nrr", "retention", "pct", (("01_cohort_retention", "nrr_12m"),), decimals=1),
    Figure("grr", "retention", "pct", (("01_cohort_retention", "grr_12m"),), decimals=1),
    Figure("nps", "nps", "score", (("03_nps_revenue", "nps"),)),
    Figure("risk_accounts", "risk", "count", (("04_churn_risk", "list.size"),)),
    Figure("risk_arr", "risk", "money", (("04_churn_risk", "list.arr"),)),
    Figure("roi", "roi", "pct", (("05_cs_impact", "cumulative_roi"),)),
    Figure("payment_failure_share", "causes", "pct", (("06_why_customers_leave", "payment_failure_share"),), decimals=1),
    Figure("billing_mrr", "causes", "money", (("06_why_customers_leave", "billing_list.mrr"),)),
    Figure("churn_themes", "causes", "count", (("06_why_customers_leave", "voice.n_significant_churn_themes"),)),
    Figure("forecast_mrr_12m", "forecast", "money", (("08_forecast", "mrr_95.12m"),)),
)


@dataclass(frozen=True)
class Value:
    """One figure in one run: an estimate with its interval, a count (``exact``), or ``missing`` (a message key
    ``index.missing.*``) with the run's own ``detail`` (a report's reason) when it gave one."""
    estimate: float | None
    lower: float | None = None
    upper: float | None = None
    exact: bool = False
    missing: str | None = None
    detail: str | None = None

    @property
    def present(self) -> bool:
        return self.estimate is not None

    @property
    def has_interval(self) -> bool:
        return self.present and self.lower is not None and self.upper is not None

    @property
    def se(self) -> float | None:
        """The standard error implied by the 95% interval: width ÷ (2 × 1.96)."""
        return (self.upper - self.lower) / (2 * Z) if self.has_interval else None


@dataclass
class Run:
    """A published run: its folder, manifest and each report's metrics (None: the report wrote none)."""
    folder: Path
    manifest: dict
    metrics: dict[str, dict | None]

    @property
    def run_id(self) -> str:
        return str(self.manifest.get("run_id") or self.folder.name)

    @property
    def as_of(self) -> str | None:
        return self.manifest.get("as_of")


@dataclass
class FigureData:
    figure: Figure
    current: Value
    previous: Value | None  # None: no earlier run on the same data
    previous_run: Run | None
    change: float | None  # current − previous, when both are present
    noise: str | None  # "beyond", "within", "exact", "unknown"; None without a change
    trend: list[tuple[Run, Value]]  # the compared runs, oldest first


@dataclass
class Card:
    key: str
    figures: list[FigureData]


@dataclass
class TableDates:
    name: str
    first: dt.date | None
    last: dt.date | None  # the last day the table covers (a month-stamped table: its last month's end)
    lag_days: int | None  # as_of − last, in days
    behind: bool  # more than a schedule period + grace before as_of


@dataclass
class Freshness:
    as_of: dt.date | None
    run_date: dt.date | None
    schedule: str
    limit_days: int | None  # P + G at the run date, in days
    tables: list[TableDates] | None  # None: the run did not record its tables' dates
    newest: dt.date | None
    age_days: int | None  # run date − newest
    stale: bool | None  # None: unknown (no dates recorded)


@dataclass
class FrontPage:
    runs: list[Run]  # every published run, newest first
    compared: list[Run]  # those on the newest run's data, newest first
    cards: list[Card]
    freshness: Freshness | None
    failed_since: list[str] = field(default_factory=list)  # runs that failed after the newest was published


def _json(path: Path) -> dict | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def read_run(folder: Path) -> Run:
    """A run folder's manifest and every listed report's ``metrics.json`` (None when absent or unreadable)."""
    manifest = _json(folder / "manifest.json") or {}
    metrics = {nb: _json(folder / nb / "metrics.json") for nb in (manifest.get("notebooks") or {})}
    return Run(folder, manifest, metrics)


def _number(v) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _dig(data: dict, dotted: str):
    for part in dotted.split("."):
        if not isinstance(data, dict) or part not in data:
            return KeyError
        data = data[part]
    return data


def _read_source(run: Run, notebook: str, key: str) -> Value:
    entry = (run.manifest.get("notebooks") or {}).get(notebook)
    if entry is None:
        return Value(None, missing="index.missing.not_run")
    if entry.get("status") == "left out":
        return Value(None, missing="index.missing.left_out", detail=entry.get("reason"))
    metrics = run.metrics.get(notebook)
    if entry.get("status") != "succeeded" or metrics is None:
        return Value(None, missing="index.missing.no_metrics")
    raw = _dig(metrics, key)
    if raw is KeyError:
        return Value(None, missing="index.missing.not_recorded")
    if isinstance(raw, dict):
        est = _number(raw.get("estimate"))
        if est is None:
            reason = raw.get("reason") or metrics.get("reason")
            return Value(None, missing="index.missing.not_estimable", detail=str(reason) if reason else None)
        lo, hi = _number(raw.get("lower")), _number(raw.get("upper"))
        if lo is None or hi is None or lo > hi:
            lo = hi = None
        return Value(est, lo, hi)
    est = _number(raw)
    if est is None:
        reason = metrics.get("reason")
        return Value(None, missing="index.missing.not_estimable", detail=str(reason) if reason else None)
    return Value(est, exact=True)


def read_value(run: Run, figure: Figure) -> Value:
    """The figure in a run: from its first source that holds it, else the first source's reason for its absence."""
    tried = [_read_source(run, nb, key) for nb, key in figure.sources]
    return next((v for v in tried if v.present), tried[0])


def noise(current: Value, previous: Value) -> str | None:
    """Whether the change from ``previous`` to ``current`` is beyond the run-to-run noise (module docstring):
    ``beyond``, ``within``, ``exact`` (two counts), ``unknown`` (an interval missing); None when either is absent."""
    if not (current.present and previous.present):
        return None
    if current.exact and previous.exact:
        return "exact"
    if not (current.has_interval and previous.has_interval):
        return "unknown"
    delta = current.estimate - previous.estimate
    return "beyond" if abs(delta) > Z * math.hypot(current.se, previous.se) else "within"


def comparable(runs: list[Run]) -> list[Run]:
    """The runs on the same data source as the newest (``runs`` newest first)."""
    if not runs:
        return []
    source = runs[0].manifest.get("data")
    return [r for r in runs if r.manifest.get("data") == source]


def cards(runs: list[Run]) -> list[Card]:
    """Every figure of the newest run with its change from the previous comparable run and its trend (``runs``
    newest first, as :func:`comparable` returns them)."""
    out: dict[str, Card] = {}
    if not runs:
        return []
    for fig in FIGURES:
        values = [read_value(r, fig) for r in runs]
        cur = values[0]
        prev = values[1] if len(runs) > 1 else None
        change = cur.estimate - prev.estimate if prev is not None and cur.present and prev.present else None
        data = FigureData(fig, cur, prev, runs[1] if len(runs) > 1 else None, change,
                          noise(cur, prev) if prev is not None else None,
                          list(zip(reversed(runs), reversed(values))))
        out.setdefault(fig.card, Card(fig.card, [])).figures.append(data)
    return list(out.values())


def _date(v) -> dt.date | None:
    if not v:
        return None
    try:
        return pd.Timestamp(str(v)).date()
    except (ValueError, TypeError):
        return None


def _time(v) -> dt.datetime | None:
    try:
        t = dt.datetime.fromisoformat(str(v))
    except (ValueError, TypeError):
        return None
    return t if t.tzinfo else t.replace(tzinfo=dt.timezone.utc)


def _month_stamped(table: str) -> bool:
    spec = TABLES.get(table)
    return spec is not None and "month" in spec.columns and "date" not in spec.columns


def freshness(manifest: dict, schedule: str | None = None) -> Freshness:
    """The data freshness of a run (module docstring): the schedule is the run's own (manifest ``schedule``,
    monthly when it recorded none) unless given."""
    schedule = schedule or manifest.get("schedule") or "monthly"
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    period, grace = SCHEDULES[schedule]
    as_of, run_date = _date(manifest.get("as_of")), _date((manifest.get("started") or "")[:10])

    def limit(ref: dt.date) -> dt.date:
        return (pd.Timestamp(ref) - period - pd.Timedelta(days=grace)).date()

    dates = manifest.get("data_dates")
    if not isinstance(dates, dict):
        return Freshness(as_of, run_date, schedule, None, None, None, None, None)
    tables = []
    for name, rng in sorted(dates.items()):
        rng = rng if isinstance(rng, dict) else {}
        first, last = _date(rng.get("first")), _date(rng.get("last"))
        if last is not None and _month_stamped(name):
            last = (pd.Timestamp(last) + pd.offsets.MonthEnd(0)).date()
        lag = (as_of - last).days if as_of and last else None
        tables.append(TableDates(name, first, last, lag, bool(as_of and last and last < limit(as_of))))
    lasts = [t.last for t in tables if t.last is not None]
    newest = max(lasts) if lasts else None
    age = (run_date - newest).days if run_date and newest else None
    stale = (newest < limit(run_date)) if run_date and newest else None
    limit_days = (run_date - limit(run_date)).days if run_date else None
    return Freshness(as_of, run_date, schedule, limit_days, tables, newest, age, stale)


def gather(out: Path, schedule: str | None = None) -> FrontPage:
    """Everything the front page shows of a reports folder."""
    out = Path(out)
    found = [read_run(p) for p in published(out)] if out.is_dir() else []
    compared = comparable(found)
    fresh = freshness(found[0].manifest, schedule) if found else None
    failed = []
    since = _time(found[0].manifest.get("published")) if found else None
    if since is not None and (out / "failed").is_dir():
        for p in sorted((out / "failed").iterdir()):
            man = _json(p / "manifest.json") or {}
            finished = _time(man.get("finished"))
            if finished is not None and finished > since:
                failed.append(str(man.get("run_id") or p.name))
    return FrontPage(found, compared, cards(compared), fresh, failed)
