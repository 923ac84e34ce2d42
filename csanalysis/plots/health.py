"""Figures of the churn-risk report (csanalysis.health). Each function takes computed data and an optional ``ax``."""
from __future__ import annotations

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from .base import _ax, log_ratio_axis

COLORS = {"scorecard": "C1", "model": "C0", "ceiling": "C2"}


def plot_score_comparison(summary: pd.DataFrame, metric: str, ax=None, *, labels: dict | None = None,
                          title: str = "", xlabel: str = "", reference: float | None = None,
                          reference_label: str | None = None, percent: bool = False):
    """One row per score (``summary`` from :meth:`ChurnRisk.summary`): the metric with its 95% interval, and an
    optional reference line (0.5 for AUC: a coin toss; 1 for lift).

    Parameters
    ----------
    summary : DataFrame
        :attr:`csanalysis.health.ChurnRisk.summary`.
    metric : str
        The measure (``auc``, ``lift_top_decile`` …).
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    title, xlabel, reference_label : str
        The figure's words (a report passes them from the message catalogue).
    reference : float, optional
        A reference line (0.5 for AUC, 1 for lift).
    percent : bool
        Show the axis in percent.

    Returns
    -------
    matplotlib Axes
    """
    labels = labels or {}
    ax = _ax(ax, figsize=(7, 0.6 * len(summary) + 1.6))
    y = np.arange(len(summary))[::-1]
    est = summary[metric].to_numpy(dtype=float)
    lo, hi = summary[f"{metric} lower"].to_numpy(dtype=float), summary[f"{metric} upper"].to_numpy(dtype=float)
    for yi, name, e, a, b in zip(y, summary["score"], est, lo, hi):
        ax.errorbar([e], [yi], xerr=[[e - a], [b - e]], fmt="o", color=COLORS.get(name, "C3"), capsize=4, ms=7)
        ax.annotate(f"{100 * e:.0f}%" if percent else f"{e:.2f}", (e, yi), xytext=(0, 8), textcoords="offset points",
                    ha="center", fontsize=9)
    if reference is not None:
        ax.axvline(reference, color="grey", ls="--", lw=1, label=reference_label)
        if reference_label:
            ax.legend(loc="lower right", fontsize="small")
    ax.set_yticks(y, [labels.get(n, n) for n in summary["score"]])
    ax.set_ylim(-0.7, len(summary) - 0.3)
    ax.set(title=title, xlabel=xlabel)
    if percent:
        ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    return ax


def plot_gains(curves: dict, ax=None, *, labels: dict | None = None, title: str = "", xlabel: str = "",
               ylabel: str = "", random_label: str = "Random order", capacity_share: float | None = None,
               capacity_label: str | None = None):
    """Cumulative gains (``curves``: name → :func:`csanalysis.health.gains_curve`): the share of churns caught
    when working the riskiest share of accounts first, against a random order.

    Parameters
    ----------
    curves : dict
        Name → :func:`csanalysis.health.gains_curve`.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    title, xlabel, ylabel, random_label, capacity_label : str
        The figure's words (a report passes them from the message catalogue).
    capacity_share : float, optional
        The share the teams' capacity covers, marked.

    Returns
    -------
    matplotlib Axes
    """
    labels = labels or {}
    ax = _ax(ax, figsize=(6.5, 5))
    for name, g in curves.items():
        ax.plot(g["share"], g["captured"], color=COLORS.get(name, "C3"), lw=2, label=labels.get(name, name))
    ax.plot([0, 1], [0, 1], color="grey", ls="--", lw=1, label=random_label)
    if capacity_share is not None and 0 < capacity_share < 1:
        ax.axvline(capacity_share, color="black", ls=":", lw=1, label=capacity_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(0, 1), ylim=(0, 1.01))
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.legend(fontsize="small", loc="lower right")
    return ax


def plot_calibration(tables: dict, ax=None, *, labels: dict | None = None, title: str = "", xlabel: str = "",
                     ylabel: str = "", diagonal_label: str = "Perfect calibration"):
    """Predicted against observed churn per bin (``tables``: name → ``Evaluation.calibration``), observed with
    its 95% interval, on the diagonal when calibrated.

    Parameters
    ----------
    tables : dict
        Name → ``Evaluation.calibration``.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    title, xlabel, ylabel, diagonal_label : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    labels = labels or {}
    ax = _ax(ax, figsize=(6.5, 5.5))
    top = 0.0
    for i, (name, t) in enumerate(tables.items()):
        x = t["predicted"].to_numpy(dtype=float) * (1 + 0.01 * (i - 1))  # a small dodge so bars do not overlap
        ax.errorbar(x, t["observed"], yerr=[t["observed"] - t["lower"], t["upper"] - t["observed"]], fmt="o-",
                    color=COLORS.get(name, "C3"), capsize=3, ms=5, lw=1.2, label=labels.get(name, name))
        top = max(top, float(np.nanmax(t[["predicted", "upper"]].to_numpy(dtype=float))))
    top = top * 1.05 if top > 0 else 1.0
    ax.plot([0, top], [0, top], color="grey", ls="--", lw=1, label=diagonal_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(0, top), ylim=(0, top))
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_importance(importance: pd.DataFrame, ax=None, *, labels: dict | None = None, top: int = 15, title: str = "",
                    xlabel: str = "", notes: list | None = None):
    """Odds ratio per standard deviation of each input (unpenalised fit, cluster-robust 95% interval) for the
    ``top`` strongest inputs of the data-driven score.

    Parameters
    ----------
    importance : DataFrame
        ``ChurnRiskModel.importance``.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    top : int
        Inputs shown.
    title, xlabel : str
        The figure's words (a report passes them from the message catalogue).
    notes : list of str, optional
        One text per row of ``importance`` (e.g. :func:`csanalysis.health.odds_ratio_text`), written at the axis'
        centre on a row without an odds ratio (an input that separates the outcome) instead of a point.

    Returns
    -------
    matplotlib Axes
    """
    labels = labels or {}
    d = importance.head(top)
    ax = _ax(ax, figsize=(8, 0.4 * len(d) + 1.5))
    y = np.arange(len(d))[::-1]
    est = d["glm_or_per_sd"].to_numpy(dtype=float)
    lo, hi = d["lower"].to_numpy(dtype=float), d["upper"].to_numpy(dtype=float)
    colors = np.where(est >= 1, "C3", "C0")
    for yi, e, a, b, c in zip(y, est, lo, hi, colors):
        ax.errorbar([e], [yi], xerr=[[e - a], [b - e]], fmt="o", color=c, capsize=3)
    ax.axvline(1.0, color="grey", ls="--", lw=1)
    shown = np.r_[lo, hi, est, 1.0]
    log_ratio_axis(ax, shown[np.isfinite(shown) & (shown > 0)])
    if notes is not None and not np.isfinite(est).all():
        x0, x1 = ax.get_xlim()
        for yi, e, note in zip(y, est, notes[:len(d)]):
            if not np.isfinite(e):
                ax.text(np.sqrt(x0 * x1), yi, note, ha="center", va="center", fontsize="small", color="grey",
                        bbox={"facecolor": "white", "edgecolor": "none", "pad": 1})
        ax.set_ylim(-0.7, len(d) - 0.3)  # rows without a point are outside the points' own limits
    ax.set_yticks(y, [labels.get(n, n) for n in d["input"]])
    ax.set(title=title, xlabel=xlabel)
    return ax


def plot_band_rates(rates: pd.DataFrame, col: str, ax=None, *, labels: dict | None = None, title: str = "",
                    xlabel: str = "", ylabel: str = ""):
    """Observed churn within the horizon per band (``rates`` from :func:`csanalysis.health.rates_by`).

    Parameters
    ----------
    rates : DataFrame
        :func:`csanalysis.health.rates_by`.
    col : str
        The band column.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    title, xlabel, ylabel : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    labels = labels or {}
    ax = _ax(ax, figsize=(6, 4))
    x = np.arange(len(rates))
    r = rates["rate"].to_numpy(dtype=float)
    ax.bar(x, r, color=[{"good": "C2", "average": "C1", "poor": "C3"}.get(b, "C0") for b in rates[col]], alpha=0.8)
    ax.errorbar(x, r, yerr=[r - rates["lower"], rates["upper"] - r], fmt="none", color="black", capsize=4)
    ax.set_xticks(x, [f"{labels.get(b, b)}\n(n={n:,})" for b, n in zip(rates[col], rates["rows"])])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, None))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    return ax


def plot_band_mix(current: pd.DataFrame, ax=None, *, labels: dict | None = None, title: str = "", xlabel: str = "",
                  order=("good", "average", "poor"), account_label: str = "accounts", mrr_label: str = "MRR"):
    """Accounts paying at the scoring date by scorecard band: share of accounts and share of MRR side by side.

    Parameters
    ----------
    current : DataFrame
        The accounts at the scoring date with their band and MRR (``ChurnRisk.current``).
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    title, xlabel, account_label, mrr_label : str
        The figure's words (a report passes them from the message catalogue).
    order : sequence of str
        The bands, best first.

    Returns
    -------
    matplotlib Axes
    """
    labels = labels or {}
    ax = _ax(ax, figsize=(7, 3.2))
    band = current["scorecard_band"].astype(str)
    n = band.value_counts(normalize=True).reindex(order, fill_value=0.0)
    mrr = current.groupby(band)["mrr"].sum().reindex(order, fill_value=0.0)
    mrr = mrr / mrr.sum() if mrr.sum() > 0 else mrr
    y = np.arange(len(order))[::-1]
    ax.barh(y + 0.2, n.to_numpy(), height=0.38, color="C0", label=account_label)
    ax.barh(y - 0.2, mrr.to_numpy(), height=0.38, color="C1", label=mrr_label)
    for yi, a, m in zip(y, n.to_numpy(), mrr.to_numpy()):
        ax.annotate(f"{100 * a:.0f}%", (a, yi + 0.2), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
        ax.annotate(f"{100 * m:.0f}%", (m, yi - 0.2), xytext=(4, 0), textcoords="offset points", va="center", fontsize=9)
    ax.set_yticks(y, [labels.get(b, b) for b in order])
    ax.set_xlim(0, 1.08)
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set(title=title, xlabel=xlabel)
    ax.legend(loc="lower right", fontsize="small")
    return ax


BAND_COLORS = {"good": "C2", "average": "C1", "poor": "C3"}


def plot_band_history(history: pd.DataFrame, share: str = "account_share", ax=None, *, labels: dict | None = None,
                      title: str = "", xlabel: str = "", ylabel: str = "", order=("good", "average", "poor"),
                      max_ticks: int = 6, legend: bool = True):
    """Stacked bars of each band's share per scoring month (``history``: the long table of
    :func:`csanalysis.health.trend.band_history`; ``share`` ``account_share`` or ``mrr_share``), the worst band at
    the bottom so its growth reads from the axis; at most ``max_ticks`` month labels (the latest always), the
    legend (``legend``) outside on the right.

    Parameters
    ----------
    history : DataFrame
        ``BandHistory.table``.
    share : {"account_share", "mrr_share"}
        The share drawn.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    title, xlabel, ylabel : str
        The figure's words (a report passes them from the message catalogue).
    order : sequence of str
        The bands, best first.
    max_ticks : int
        Most month labels.
    legend : bool
        Draw the legend.

    Returns
    -------
    matplotlib Axes
    """
    labels = labels or {}
    ax = _ax(ax, figsize=(7, 4))
    months = sorted(history["month"].unique())
    x = np.arange(len(months))
    wide = history.pivot(index="month", columns="band", values=share).reindex(index=months, columns=list(order))
    bottom = np.zeros(len(months))
    for b in reversed(order):  # poor first, at the bottom
        v = np.nan_to_num(wide[b].to_numpy(dtype=float))
        ax.bar(x, v, bottom=bottom, width=0.8, color=BAND_COLORS.get(b, "C0"), alpha=0.85, label=labels.get(b, b))
        bottom += v
    step = max(1, int(np.ceil(len(months) / max_ticks)))
    ticks = x[::-1][::step][::-1]  # the latest month always labelled
    ax.set_xticks(ticks, [months[i] for i in ticks])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1), xlim=(-0.6, len(months) - 0.4))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    if legend:  # outside the bars (they fill the axes), good on top as in the stack
        handles, names = ax.get_legend_handles_labels()
        ax.legend(handles[::-1], names[::-1], loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize="small",
                  frameon=False)
    return ax
