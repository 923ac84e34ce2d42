"""Figures of the subscription metrics (csanalysis.metrics)."""
from __future__ import annotations

import matplotlib.ticker as mticker
import pandas as pd
from matplotlib.patches import Patch

from .base import _ax, _month_axis

COLOURS = {"new": "#2a9d8f", "expansion": "#8ab17d", "reactivation": "#e9c46a", "contraction": "#f4a261", "churn": "#e76f51"}
UP = ("new", "expansion", "reactivation")
DOWN = ("contraction", "churn")


def plot_mrr_movements(mov: pd.DataFrame, ax=None, *, labels: dict | None = None, title: str = "MRR movements",
                       xlabel: str = "Month", ylabel: str = "MRR per month", net_label: str = "Net new MRR",
                       provisional_label: str = "Provisional (churn not observable yet)"):
    """Stacked bars per period (:func:`csanalysis.metrics.mrr_movements`): new, expansion and reactivation up;
    contraction and churn down; the net change (ending − starting MRR) as a line. Periods flagged ``provisional``
    (inside the grace period before as_of) are hatched.

    Parameters
    ----------
    mov : DataFrame
        :func:`csanalysis.metrics.mrr_movements`.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    title, xlabel, ylabel, net_label, provisional_label : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    labels = labels or {}
    missing = [c for c in ("period", *UP, *DOWN, "net_new_mrr") if c not in mov.columns]
    if missing:
        raise ValueError(f"plot_mrr_movements: the movements table lacks column(s) {missing}")
    ax = _ax(ax, figsize=(10, 4.5))
    x = pd.to_datetime(mov["period"])
    width = 0.8 * (x.diff().dt.days.median() if len(x) > 1 else 28)
    prov = mov["provisional"].to_numpy(dtype=bool) if "provisional" in mov.columns else None
    hatch = ["//" if p else None for p in prov] if prov is not None and prov.any() else None
    bottom = 0.0
    for k in UP:
        ax.bar(x, mov[k], width=width, bottom=bottom, color=COLOURS[k], label=labels.get(k, k), hatch=hatch)
        bottom = bottom + mov[k]
    bottom = 0.0
    for k in DOWN:
        ax.bar(x, -mov[k], width=width, bottom=bottom, color=COLOURS[k], label=labels.get(k, k), hatch=hatch)
        bottom = bottom - mov[k]
    ax.plot(x, mov["net_new_mrr"], color="black", lw=1.8, marker="o", ms=3, label=net_label)
    ax.axhline(0, color="#444", lw=0.8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.yaxis.set_major_formatter(mticker.StrMethodFormatter("{x:,.0f}"))
    _month_axis(ax)
    handles, names = ax.get_legend_handles_labels()
    if hatch is not None:
        handles.append(Patch(facecolor="white", edgecolor="#555555", hatch="//"))
        names.append(provisional_label)
    ax.legend(handles, names, ncol=min(len(names), 6), fontsize="small", loc="upper center",
              bbox_to_anchor=(0.5, -0.16), frameon=False)
    return ax
