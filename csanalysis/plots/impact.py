"""Figures of the impact report (csanalysis.impact)."""
from __future__ import annotations

import matplotlib.ticker as mticker
import pandas as pd

from .base import _ax, _month_axis


def plot_its(series: pd.DataFrame, program_start, ax=None, *, title: str = "Monthly churn rate", xlabel: str = "Month",
             ylabel: str = "Monthly churn", labels: dict | None = None):
    """Interrupted time series: observed monthly churn with its Wilson band, the fitted lines, and the pre-program
    trend carried past the start (the counterfactual).

    Parameters
    ----------
    series : DataFrame
        Per month: date, rate, lower, upper, fitted, pre_trend, counterfactual.
    program_start : date-like
        The program's start, marked.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, xlabel, ylabel : str
        The figure's words (a report passes them from the message catalogue).
    labels : dict, optional
        Legend words for ``observed``, ``fitted``, ``counterfactual``, ``start`` (None: English).

    Returns
    -------
    matplotlib Axes
    """
    labels = {"observed": "Observed", "fitted": "Fitted", "counterfactual": "Without the program (pre-trend)",
              "start": "Program start", **(labels or {})}
    ax = _ax(ax, figsize=(10, 4.5))
    x = pd.to_datetime(series["date"])
    ax.fill_between(x, series["lower"], series["upper"], color="#bbbbbb", alpha=0.5, lw=0)
    ax.plot(x, series["rate"], "o", ms=3, color="#555555", label=labels["observed"])
    ax.plot(x, series["fitted"], color="C0", lw=2, label=labels["fitted"])
    ax.plot(x, series["pre_trend"], color="C1", lw=1.5)
    ax.plot(x, series["counterfactual"], color="C1", lw=1.5, ls="--", label=labels["counterfactual"])
    ax.axvline(pd.Timestamp(program_start), color="black", lw=1, ls=":", label=labels["start"])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, None))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=1))
    _month_axis(ax)
    ax.legend(fontsize="small")
    return ax


def plot_roi(table: pd.DataFrame, ax=None, *, title: str = "Retained gross profit against the team's cost",
             xlabel: str = "Month", ylabel: str = "Cumulative amount", profit_label: str = "Retained gross profit (cumulative)",
             cost_label: str = "CS team cost (cumulative)"):
    """Cumulative retained gross profit (with the band of its monthly interval, accumulated) against cumulative cost.

    Parameters
    ----------
    table : DataFrame
        :func:`csanalysis.impact.roi`.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, xlabel, ylabel, profit_label, cost_label : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax, figsize=(10, 4.5))
    x = pd.to_datetime(table["date"])
    ax.plot(x, table["cumulative_profit"], color="C2", lw=2, label=profit_label)
    ax.fill_between(x, table["retained_profit_lower"].cumsum(), table["retained_profit_upper"].cumsum(), color="C2", alpha=0.2, lw=0)
    ax.plot(x, table["cumulative_cost"], color="C3", lw=2, ls="--", label=cost_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    _month_axis(ax)
    ax.legend(fontsize="small")
    return ax
