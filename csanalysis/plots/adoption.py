"""Figures of adoption (csanalysis.lifecycle.adoption): a measure's median by month since start per group, with the
median's interval and the interquartile band."""
from __future__ import annotations

import matplotlib.ticker as mticker
import pandas as pd
import seaborn as sns

from .base import _ax

__all__ = ["plot_adoption_curves"]


def plot_adoption_curves(table: pd.DataFrame, ax=None, *, percent: bool = False, title: str = "Utilisation",
                         xlabel: str = "Months since start", ylabel: str = "", group_labels: dict | None = None,
                         legend_title: str | None = None):
    """One line per group (``table`` of :class:`csanalysis.lifecycle.adoption.Curves`: ``group``, ``k``,
    ``median``, ``lower``, ``upper``, ``q1``, ``q3``): the median with its interval as a darker band and the
    interquartile range as a light band. ``percent``: the y axis as percentages (utilisation). ``group_labels``:
    each group's name for the legend (default the group as it is).

    Returns
    -------
    matplotlib Axes
    """
    need = {"group", "k", "median", "lower", "upper", "q1", "q3"} - set(table.columns)
    if need:
        raise ValueError(f"plot_adoption_curves: the table lacks column(s) {sorted(need)}")
    ax = _ax(ax, figsize=(7, 4))
    groups = list(dict.fromkeys(table["group"]))
    colors = sns.color_palette("colorblind", max(len(groups), 1))
    for g, col in zip(groups, colors):
        d = table[table["group"] == g].sort_values("k")
        ax.fill_between(d["k"], d["q1"], d["q3"], color=col, alpha=0.12, lw=0)
        ax.fill_between(d["k"], d["lower"], d["upper"], color=col, alpha=0.35, lw=0)
        ax.plot(d["k"], d["median"], color=col, lw=2, marker="o", ms=3,
                label=(group_labels or {}).get(g, str(g)))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    if percent:
        ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    if len(groups) > 1:
        ax.legend(fontsize="small", frameon=False, title=legend_title, title_fontsize="small")
    return ax
