"""Figures of the MRR forecast (csanalysis.forecast): the fan chart with the actual history, and the back-test."""
from __future__ import annotations

import matplotlib.ticker as mticker
import pandas as pd

from .base import _ax, _month_axis

__all__ = ["plot_fan", "plot_backtest"]


def plot_fan(history: pd.DataFrame, table: pd.DataFrame, ax=None, *, months_shown: int = 24, scenario: bool = True,
             title: str = "MRR: history and forecast", xlabel: str = "Month", ylabel: str = "MRR",
             history_label: str = "Actual MRR", base_label: str = "Forecast (median)",
             band_label: str = "80% band", scenario_label: str = "Scenario", contracted_label: str | None = None):
    """The actual MRR (``history``: ``month``, ``mrr``; its last ``months_shown`` months) and the forecast
    (``table`` of :class:`csanalysis.forecast.Forecast`: ``month``, ``lower``, ``base``, ``upper``, and
    ``scenario``, ``contracted``) as a fan: the band shaded, the median a line joined to the last actual month.
    ``contracted_label``: draw the contracted revenue too (when any).

    Returns
    -------
    matplotlib Axes
    """
    missing = [c for c in ("month", "lower", "base", "upper") if c not in table.columns]
    if missing or not {"month", "mrr"} <= set(history.columns):
        raise ValueError(f"plot_fan: the forecast table lacks {missing} or the history lacks month/mrr")
    ax = _ax(ax, figsize=(10, 4.8))
    h = history.tail(months_shown)
    x0, y0 = pd.to_datetime(h["month"]).iloc[-1], h["mrr"].iloc[-1]
    x = pd.concat([pd.Series([x0]), pd.to_datetime(table["month"])], ignore_index=True)
    ax.plot(pd.to_datetime(h["month"]), h["mrr"], color="black", lw=2, marker="o", ms=3, label=history_label)
    ax.fill_between(x, [y0, *table["lower"]], [y0, *table["upper"]], color="#2a9d8f", alpha=0.25, lw=0,
                    label=band_label)
    ax.plot(x, [y0, *table["base"]], color="#2a9d8f", lw=2, label=base_label)
    if scenario and "scenario" in table.columns:
        ax.plot(x, [y0, *table["scenario"]], color="#e76f51", lw=1.5, ls="--", label=scenario_label)
    if contracted_label and "contracted" in table.columns and table["contracted"].gt(0).any():
        ax.plot(pd.to_datetime(table["month"]), table["contracted"], color="#6c757d", lw=1.2, ls=":",
                label=contracted_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _month_axis(ax)
    ax.legend(fontsize="small", loc="upper left", frameon=False)
    return ax


def plot_backtest(detail: pd.DataFrame, ax=None, *, horizon: int = 1, title: str = "Back-test",
                  xlabel: str = "Month", ylabel: str = "MRR", actual_label: str = "Actual MRR",
                  base_label: str = "Forecast made earlier (median)", band_label: str = "80% band"):
    """The back-test's forecasts ``horizon`` months ahead (:class:`csanalysis.forecast.Backtest` ``detail_``)
    against what happened: band, median and the actual MRR of each target month.

    Returns
    -------
    matplotlib Axes
    """
    d = detail[detail["h"] == horizon].sort_values("month")
    ax = _ax(ax, figsize=(10, 4))
    x = pd.to_datetime(d["month"])
    ax.fill_between(x, d["lower"], d["upper"], color="#2a9d8f", alpha=0.25, lw=0, label=band_label)
    ax.plot(x, d["base"], color="#2a9d8f", lw=1.8, marker="o", ms=3, label=base_label)
    ax.plot(x, d["actual"], color="black", lw=0, marker="x", ms=6, label=actual_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    _month_axis(ax)
    ax.legend(fontsize="small", loc="upper left", frameon=False)
    return ax
