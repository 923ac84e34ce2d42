"""Figures of the subscription metrics (csanalysis.metrics)."""
from __future__ import annotations

import matplotlib.ticker as mticker
import pandas as pd

from .base import _ax, _month_axis

COLOURS = {"new": "#2a9d8f", "expansion": "#8ab17d", "reactivation": "#e9c46a", "contraction": "#f4a261", "churn": "#e76f51"}


def plot_mrr_movements(mov: pd.DataFrame, ax=None, *, labels: dict | None = None, title: str = "MRR movements",
                       xlabel: str = "Month", ylabel: str = "MRR per month", net_label: str = "Net new MRR"):
    """Stacked bars per period: new, expansion and reactivation up; contraction and churn down; the net line."""
    labels = labels or {}
    ax = _ax(ax, figsize=(10, 4.5))
    x = pd.to_datetime(mov["period"])
    width = 0.8 * (x.diff().dt.days.median() if len(x) > 1 else 28)
    up = 0.0
    for k in ("new", "expansion", "reactivation"):
        ax.bar(x, mov[k], width=width, bottom=up, color=COLOURS[k], label=labels.get(k, k))
        up = up + mov[k]
    down = 0.0
    for k in ("contraction", "churn"):
        ax.bar(x, -mov[k], width=width, bottom=down, color=COLOURS[k], label=labels.get(k, k))
        down = down - mov[k]
    ax.plot(x, mov["net_new_mrr"], color="black", lw=1.8, marker="o", ms=3, label=net_label)
    ax.axhline(0, color="#444", lw=0.8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    _month_axis(ax)
    ax.legend(ncol=3, fontsize="small", loc="upper left")
    return ax
