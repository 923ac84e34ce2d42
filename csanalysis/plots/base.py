"""Figures (seaborn/matplotlib). Each function takes computed data and an optional ``ax``; returns the Axes."""
from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import pandas as pd
import seaborn as sns


# date tick formats per language for matplotlib's ConciseDateFormatter (formats, zero_formats, offset_formats);
# matplotlib's own ("Apr", "Jul") are English month names
_DATE_FORMATS = {
    "ja": (["%Y年", "%-m月", "%-d日", "%H:%M", "%H:%M", "%S.%f"],
           ["", "%Y年", "%-m月", "%-m月%-d日", "%H:%M", "%H:%M"],
           ["", "%Y年", "%Y年%-m月", "%Y年%-m月%-d日", "%Y年%-m月%-d日", "%Y年%-m月%-d日 %H:%M"]),
}
_state = {"lang": "en"}


def set_style(lang: str = "en") -> None:
    """House style. ``seaborn.set_theme()`` resets the font family, so the Japanese font is set after it; date
    ticks are written in ``lang``."""
    sns.set_theme(style="whitegrid", context="notebook")
    _state["lang"] = lang
    if lang == "ja":
        import matplotlib_fontja

        matplotlib_fontja.japanize()


def _ax(ax, figsize=(9, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


# Tick values for an axis of ratios on a log scale, from coarse to fine: :func:`ratio_ticks` takes the first set that
# puts at least three ticks on the span. Each set holds the reciprocal of each of its values (0.5 and 2 sit at the
# same distance from 1), and every value reads as a plain number.
RATIO_TICK_SETS = (
    tuple(10.0 ** k for k in range(-4, 5)),  # 0.01, 0.1, 1, 10, 100
    tuple(m * 10.0 ** k for k in range(-4, 4) for m in (1, 2, 5)),  # 0.1, 0.2, 0.5, 1, 2, 5, 10
    tuple(2.0 ** k for k in range(-8, 9)),  # 0.25, 0.5, 1, 2, 4
    (0.5, 0.67, 0.8, 1, 1.25, 1.5, 2),
    (0.8, 0.9, 1, 1.1, 1.25),
    (0.9, 0.95, 1, 1.05, 1.1),
)


def ratio_ticks(values, min_ticks: int = 3, slack: float = 1.05, max_ticks: int = 7) -> list[float]:
    """Readable ticks for a log-scaled axis of ratios (hazard or odds ratios) that must show ``values`` (estimates
    and interval ends; callers add the reference 1): from :data:`RATIO_TICK_SETS`, the coarsest set with at least
    ``min_ticks`` values inside the span widened by ``slack`` at each end, thinned to every k-th tick counted from
    the one nearest 1 when it has more than ``max_ticks`` (an interval spanning many decades, e.g. a level with
    almost no events, put nine decade labels into each other); a span too narrow for any set gets the evenly
    spaced ticks of a linear axis. Non-finite and non-positive values are ignored."""
    import numpy as np

    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if not len(v):
        return [1.0]
    lo, hi = float(v.min()) / slack, float(v.max()) * slack
    for candidates in RATIO_TICK_SETS:
        ticks = [t for t in sorted(set(candidates)) if lo <= t <= hi]
        if len(ticks) >= min_ticks:
            if len(ticks) > max_ticks:
                k = -(-len(ticks) // max_ticks)
                one = int(np.argmin(np.abs(np.log(ticks))))
                ticks = [t for i, t in enumerate(ticks) if (i - one) % k == 0]
            return ticks
    return [float(t) for t in mticker.MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(lo, hi) if lo <= t <= hi]


def _ratio_label(v: float, _pos=None) -> str:
    """A tick value as a plain number: 0.25, 1, 4, 1,000 (never 2×10⁻¹)."""
    import numpy as np

    return f"{v:,.0f}" if v >= 1000 else np.format_float_positional(float(v), precision=4, trim="-")


def log_ratio_axis(ax, values, axis: str = "x"):
    """Put a log scale of ratios on ``ax``'s ``axis`` ("x" or "y") with the ticks of :func:`ratio_ticks` for
    ``values``, labelled as plain numbers, and no minor ticks (matplotlib's labels for a span inside one decade,
    "2×10⁻¹ 3×10⁻¹ 4×10⁻¹", ran into each other). Returns ``ax``."""
    which = ax.xaxis if axis == "x" else ax.yaxis
    (ax.set_xscale if axis == "x" else ax.set_yscale)("log")
    ticks = ratio_ticks(values)
    lo, hi = ax.get_xlim() if axis == "x" else ax.get_ylim()
    if ticks[0] < lo or ticks[-1] > hi:  # a tick just beyond the data: widen the axis to show it
        (ax.set_xlim if axis == "x" else ax.set_ylim)(min(lo, ticks[0] / 1.02), max(hi, ticks[-1] * 1.02))
    which.set_major_locator(mticker.FixedLocator(ticks))
    which.set_major_formatter(mticker.FuncFormatter(_ratio_label))
    which.set_minor_locator(mticker.NullLocator())
    which.set_minor_formatter(mticker.NullFormatter())
    return ax


def _month_axis(ax):
    import matplotlib.dates as mdates

    locator = mdates.AutoDateLocator(minticks=3, maxticks=10)
    ax.xaxis.set_major_locator(locator)
    formats, zero, offset = _DATE_FORMATS.get(_state["lang"], (None, None, None))
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator, formats=formats, zero_formats=zero,
                                                             offset_formats=offset))


def plot_mrr(mrr: pd.DataFrame, ax=None, *, title="Monthly recurring revenue", xlabel="Month", ylabel="MRR",
             customers_label="Paying customers"):
    """Total MRR per month (``mrr`` with columns month, mrr) with paying customers on a second axis.

    Parameters
    ----------
    mrr : DataFrame
        Per month: month, mrr and, when present, customers (paying customers).
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, xlabel, ylabel, customers_label : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    ax.plot(mrr["month"], mrr["mrr"], color="C0", lw=2, label=ylabel)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _month_axis(ax)
    if "customers" in mrr.columns:
        ax2 = ax.twinx()
        ax2.plot(mrr["month"], mrr["customers"], color="C1", lw=1.5, ls="--", label=customers_label)
        ax2.set_ylabel(customers_label)
        ax2.yaxis.set_major_locator(mticker.MaxNLocator(integer=True))
        ax2.grid(False)
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [l.get_label() for l in lines], loc="upper left")
    return ax


def plot_counts(counts: pd.Series, ax=None, *, title: str, xlabel: str = "Customers", ylabel: str = ""):
    """Horizontal bars of counts by category.

    Parameters
    ----------
    counts : Series
        A count per category (the index).
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, xlabel, ylabel : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax, figsize=(7, max(2.0, 0.45 * len(counts) + 1)))
    sns.barplot(x=counts.to_numpy(), y=counts.index.astype(str), ax=ax, color="C0", orient="h")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    for p, v in zip(ax.patches, counts.to_numpy()):
        ax.annotate(f"{v:,}", (p.get_width(), p.get_y() + p.get_height() / 2), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=9)
    return ax


def plot_purchase_gaps(gaps: pd.DataFrame, ax=None, *, max_gap: int = 24, title: str = "Months between purchases",
                       xlabel: str = "Months until the next purchase", ylabel: str = "Share of returns",
                       share_label: str = "Returns after this gap", cumulative_label: str = "Returns within this gap",
                       target: float | None = None):
    """Gaps between consecutive purchase months (:func:`csanalysis.overview.purchase_gaps`): bars for each gap's
    share of the returns, a line for the share within that many months; gaps longer than ``max_gap`` months are
    left out of the figure (the line still counts them in its denominator). ``target`` draws a dotted share.

    Parameters
    ----------
    gaps : DataFrame
        :func:`csanalysis.overview.purchase_gaps`.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    max_gap : int
        The longest gap drawn, in months.
    title, xlabel, ylabel, share_label, cumulative_label : str
        The figure's words (a report passes them from the message catalogue).
    target : float, optional
        A share to mark with a dotted line.

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    g = gaps[gaps["gap_months"] <= max_gap]
    ax.bar(g["gap_months"], g["share"], color="C0", alpha=0.8, label=share_label)
    ax.plot(g["gap_months"], g["cumulative_share"], color="C1", marker="o", lw=2, label=cumulative_label)
    if target is not None:
        ax.axhline(target, color="#777777", ls=":", lw=1)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.legend(loc="center right", frameon=False)
    return ax


def plot_retention_heatmap(res, ax=None, *, max_periods: int | None = 24, title: str | None = None,
                           xlabel: str | None = None, ylabel: str = "Cohort", size_label: str = "n",
                           max_cohorts: int | None = None, colorbar_label: str = "Retention",
                           small_label: str | None = None, before_window_marker: str = "*",
                           before_window_label: str | None = None):
    """Cohort heatmap (a :class:`~csanalysis.cohorts.CohortRetention`): unobservable cells blank, cohorts below
    the minimum size greyed (with a grey key ``small_label`` under the axis when any is shown), cohort sizes beside the
    labels; ``max_cohorts`` keeps the newest cohorts. Cohorts that began before the data window (``before_window``)
    carry ``before_window_marker`` after their label, explained by ``before_window_label`` under the axis when any
    is shown. Cells are annotated in percent when the grid is small enough to read.

    Parameters
    ----------
    res : CohortRetention
        :func:`csanalysis.cohorts.cohort_retention`.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    max_periods : int, optional
        Periods shown (None: all).
    max_cohorts : int, optional
        The newest cohorts shown (None: all).
    title, xlabel, ylabel, size_label, colorbar_label, small_label, before_window_label : str
        The figure's words (a report passes them from the message catalogue).
    before_window_marker : str
        The mark after the label of a cohort that began before the data window.

    Returns
    -------
    matplotlib Axes
    """
    import numpy as np

    cols = res.periods[: max_periods] if max_periods else res.periods
    matrix = res.matrix.iloc[-max_cohorts:] if max_cohorts else res.matrix
    data = matrix[cols].astype(float)
    small = res.small.reindex(data.index).fillna(False).to_numpy(dtype=bool)
    ax = _ax(ax, figsize=(min(1.0 + 0.45 * len(cols), 16), max(3.0, 0.32 * len(data) + 1.5)))
    early = (res.before_window.reindex(data.index).fillna(False).to_numpy(dtype=bool)
             if getattr(res, "before_window", None) is not None else np.zeros(len(data), dtype=bool))
    labels = [f"{'/'.join(map(str, i)) if isinstance(i, tuple) else i}{before_window_marker if e else ''} "
              f"({size_label}={int(n):,})" for i, n, e in zip(data.index, matrix["cohort_size"], early)]
    readable = len(cols) <= 30 and len(data) <= 40
    annot = data.map(lambda v: "" if np.isnan(v) else f"{100 * v:.0f}") if readable else False
    annot_kws = {"size": 9 if len(cols) <= 12 else 8 if len(cols) <= 24 else 7}
    grid = np.repeat(small[:, None], len(cols), axis=1)
    vals = data.to_numpy()
    vmax = max(1.0, float(np.nanmax(vals))) if np.isfinite(vals).any() else 1.0
    common = dict(ax=ax, fmt="", annot_kws=annot_kws, yticklabels=labels, xticklabels=[str(c) for c in cols],
                  linewidths=0.3, linecolor="white")
    sns.heatmap(data.where(~grid), cmap="viridis", vmin=0, vmax=vmax, annot=annot, cbar_kws={"label": colorbar_label},
                **common)
    greyed = bool((grid & ~np.isnan(vals)).any())
    if greyed:
        sns.heatmap(data.where(grid), cmap=sns.color_palette(["#cccccc"]), cbar=False, annot=annot, **common)
    unit = {"month": "Months", "quarter": "Quarters", "year": "Years", "fiscal_year": "Fiscal years"}[res.period]
    ax.set(title=title or f"{res.basis.replace('_', ' ').capitalize()} retention by cohort ({res.definition})",
           xlabel=xlabel or f"{unit} since start", ylabel=ylabel)
    ax.tick_params(axis="y", labelrotation=0)
    ax.grid(False)
    if greyed and small_label:  # a grey key under the axis label, clear of the cells
        ax.annotate(small_label, xy=(0.5, 0), xycoords=ax.xaxis.label, xytext=(0, -6), textcoords="offset points",
                    ha="center", va="top", fontsize="small",
                    bbox={"boxstyle": "square,pad=0.3", "facecolor": "#cccccc", "edgecolor": "#999999"})
    if early.any() and before_window_label:  # under the grey key when both are shown
        ax.annotate(f"{before_window_marker} {before_window_label}", xy=(0.5, 0), xycoords=ax.xaxis.label,
                    xytext=(0, -26 if greyed and small_label else -6), textcoords="offset points", ha="center",
                    va="top", fontsize="small")
    cbar = ax.collections[0].colorbar
    if cbar is not None:
        cbar.ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    return ax


def plot_pooled_curve(curve: pd.DataFrame, ax=None, *, group: str | None = None, title: str = "Retention curve",
                      xlabel: str = "Months since start", ylabel: str = "Share retained", label: str = "All cohorts",
                      legend_title: str | None = None, weighted: pd.DataFrame | None = None,
                      weighted_label: str = "Size-weighted average of cohort cells (biased towards old cohorts)"):
    """Pooled retention curve(s) (:func:`csanalysis.cohorts.pooled_curve`) with the bootstrap band; one line per
    ``group`` value if given. ``weighted`` (the ``method="weighted"`` curve) is drawn dashed, without a band,
    under ``weighted_label`` — it leans on the oldest cohorts, the only ones observed at long tenures. An upper
    bound without a finite value (a revenue band over few customers, where some resamples hold no revenue in the
    period before) runs to the top of the axis.

    Parameters
    ----------
    curve : DataFrame
        :func:`csanalysis.cohorts.pooled_curve`.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    group : str, optional
        A column of ``curve``: one line per value.
    title, xlabel, ylabel, label, legend_title, weighted_label : str
        The figure's words (a report passes them from the message catalogue).
    weighted : DataFrame, optional
        The ``method="weighted"`` curve, drawn dashed.

    Returns
    -------
    matplotlib Axes
    """
    import numpy as np

    ax = _ax(ax)
    values = pd.concat([curve["upper"], curve["retention"]]).to_numpy(dtype=float) if len(curve) else np.array([])
    finite = values[np.isfinite(values)]
    top = max(1.02, float(finite.max()) * 1.05) if len(finite) else 1.02
    groups = [(None, curve)] if group is None else list(curve.groupby(group, sort=True))
    for i, (name, g) in enumerate(groups):
        ax.plot(g["period"], g["retention"], color=f"C{i}", lw=2, label=str(name) if name is not None else label)
        ax.fill_between(g["period"], g["lower"], g["upper"].clip(upper=top), color=f"C{i}", alpha=0.2, lw=0)
    if weighted is not None:
        ax.plot(weighted["period"], weighted["retention"], color="#777777", lw=1.4, ls="--", label=weighted_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, top))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.legend(title=legend_title if legend_title is not None else (group.replace("_", " ") if group else None),
              fontsize="small")
    return ax


def plot_km(fits: dict, ax=None, *, title: str = "Share of customers still active", xlabel: str = "Months since start",
            ylabel: str = "Share still active", at_risk: bool = True, at_risk_labels: dict | None = None,
            at_risk_label: str | None = None):
    """Kaplan–Meier curves with 95% bands and at-risk counts under the plot (lifelines), the counts' row named
    ``at_risk_label`` (default: lifelines' "At risk").

    Parameters
    ----------
    fits : dict
        Name → fitted lifelines ``KaplanMeierFitter``.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, xlabel, ylabel, at_risk_label : str
        The figure's words (a report passes them from the message catalogue).
    at_risk : bool
        Add the at-risk counts under the plot.
    at_risk_labels : dict, optional
        Not used (kept so that existing calls still work).

    Returns
    -------
    matplotlib Axes
    """
    from lifelines.plotting import add_at_risk_counts

    ax = _ax(ax, figsize=(9, 5))
    for i, kmf in enumerate(fits.values()):
        kmf.plot_survival_function(ax=ax, ci_show=True, color=f"C{i}")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    if at_risk and fits:
        add_at_risk_counts(*fits.values(), ax=ax, rows_to_show=["At risk"], xticks=None)
        if at_risk_label is not None:  # lifelines writes its row name in English: the report's word instead
            for other in ax.figure.axes:
                ticks = [t.get_text() for t in other.get_xticklabels()]
                if any(t.startswith("At risk") for t in ticks):
                    other.set_xticklabels([at_risk_label + t[len("At risk"):] if t.startswith("At risk") else t
                                           for t in ticks], ha="right")
    return ax


def plot_forest(hrs: pd.DataFrame, ax=None, *, title: str = "What drives churn (hazard ratios, 95% CI)",
                xlabel: str = "Hazard ratio (log scale; > 1 churns faster)", labels: list[str] | None = None,
                notes: list[str] | None = None):
    """Forest plot of hazard ratios with intervals; one row per level against its reference, named by ``labels``
    (one per row, e.g. ``survival.hr_labels`` in the report's language; default: the English names).

    Parameters
    ----------
    hrs : DataFrame
        Hazard ratios with intervals: covariate, level, reference, hr, lower, upper (``CoxResult.hazard_ratios``).
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, xlabel : str
        The figure's words (a report passes them from the message catalogue).
    labels : list of str, optional
        One name per row (None: the English names).
    notes : list of str, optional
        One text per row, written at the axis' centre on a row without a hazard ratio (a term that is not
        estimable, e.g. :func:`csanalysis.causes.cause_specific_cox` under monotone likelihood) instead of a point.

    Returns
    -------
    matplotlib Axes
    """
    import numpy as np

    ax = _ax(ax, figsize=(8, max(2.5, 0.45 * len(hrs) + 1.2)))
    if labels is None:
        labels = [f"{c.replace('_', ' ')}: {l} vs {r}" if r not in ("per unit", "per doubling of seats") else f"{c.replace('_', ' ')} ({r})"
                  for c, l, r in zip(hrs["covariate"], hrs["level"], hrs["reference"])]
    y = np.arange(len(hrs))[::-1]
    ok = np.isfinite(hrs["hr"].to_numpy(dtype=float))
    d = hrs[ok]
    ax.errorbar(d["hr"], y[ok], xerr=[d["hr"] - d["lower"], d["upper"] - d["hr"]], fmt="o", color="C0", capsize=3)
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    log_ratio_axis(ax, np.r_[d["lower"], d["upper"], d["hr"], 1.0])
    if not ok.all():  # rows without a hazard ratio: their note at the axis' centre instead of a point
        x0, x1 = ax.get_xlim()
        for yi, note in zip(y[~ok], np.asarray(notes if notes is not None else [""] * len(hrs), dtype=object)[~ok]):
            ax.text(np.sqrt(x0 * x1), yi, note, ha="center", va="center", fontsize="small", color="grey",
                    bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
        ax.set_ylim(-0.7, len(hrs) - 0.3)  # rows without a point are outside the points' own limits
    ax.set_yticks(y, labels)
    ax.set(title=title, xlabel=xlabel)
    return ax


def plot_projection(band: pd.DataFrame, alive: pd.DataFrame, ax=None, *, title: str = "Projected retention",
                    xlabel: str = "Months since start", ylabel: str = "Share never churned"):
    """sBG projection (``band``: t, survival, lower, upper) over the observed cohorts' unbroken shares.

    Parameters
    ----------
    band : DataFrame
        t, survival, lower, upper (:meth:`csanalysis.projection.SBGFit.survival_interval`).
    alive : DataFrame
        The observed cohorts' counts still active by period (columns 0, 1 …), divided by period 0.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, xlabel, ylabel : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    share = alive.div(alive[0], axis=0)
    for _, row in share.iterrows():
        r = row.dropna()
        ax.plot(r.index.astype(int), r.to_numpy(), color="#999999", lw=0.8, alpha=0.6)
    t = [0, *band["t"].tolist()]
    ax.plot(t, [1.0, *band["survival"].tolist()], color="C0", lw=2.2, label="sBG")
    ax.fill_between(band["t"], band["lower"], band["upper"], color="C0", alpha=0.2, lw=0)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    return ax
