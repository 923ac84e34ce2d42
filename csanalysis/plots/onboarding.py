"""Figures of the onboarding section (notebook 07): the completion curve of each milestone and the survival after
the landmark by onboarding status. The numbers are computed in :mod:`csanalysis.lifecycle.onboarding`
(``MilestoneTimes.curves``, ``LandmarkResult.curves``); these functions only draw them."""
from __future__ import annotations

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from .base import _ax

__all__ = ["plot_milestone_curves", "plot_landmark_curves"]


def _steps(ax, x, y, lo, hi, color, label):
    ax.step(x, y, where="post", color=color, lw=2, label=label)
    ax.fill_between(x, lo, hi, step="post", color=color, alpha=0.2, lw=0)


def plot_milestone_curves(curves: pd.DataFrame, ax=None, *, labels: dict | None = None,
                          title: str = "Share of new accounts that reached each milestone",
                          xlabel: str = "Months after the start month (0: the start month)",
                          ylabel: str = "Reached the milestone"):
    """Cumulative completion (1 − Kaplan–Meier) of each milestone by month after the start month with its 95%
    band; ``labels`` maps a milestone to its legend label. Months beyond the follow-up are left out.

    Parameters
    ----------
    curves : DataFrame
        ``MilestoneTimes.curves`` (milestone, month, completion, lower, upper).
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict, optional
        Display names by milestone.
    title, xlabel, ylabel : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax, figsize=(9, 4.5))
    for i, (m, c) in enumerate(curves.groupby("milestone", sort=False)):
        c = c[c["completion"].notna()]
        _steps(ax, c["month"].to_numpy(), c["completion"].to_numpy(), c["lower"].to_numpy(), c["upper"].to_numpy(),
               f"C{i}", (labels or {}).get(m, str(m)))
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02), xlim=(0, None))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.legend(fontsize="small", loc="lower right")
    return ax


def plot_landmark_curves(curves: pd.DataFrame, ax=None, *, labels: dict | None = None, landmark_month: int | None = None,
                         title: str = "Still paying after the landmark, by onboarding",
                         xlabel: str = "Months after the start month", ylabel: str = "Still paying",
                         landmark_label: str = "Landmark"):
    """Kaplan–Meier survival after the landmark per group (``LandmarkResult.curves``: group, month, survival,
    lower, upper), with its 95% band and a line at the landmark; ``labels`` maps a group to its legend label.

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax, figsize=(9, 4.5))
    for i, (g, c) in enumerate(curves.groupby("group", sort=False)):
        _steps(ax, c["month"].to_numpy(), c["survival"].to_numpy(), c["lower"].to_numpy(), c["upper"].to_numpy(),
               f"C{i}", (labels or {}).get(g, str(g)))
    if landmark_month is not None:
        ax.axvline(landmark_month, color="0.4", ls="--", lw=1, label=landmark_label)
    lo = float(np.nanmin(curves["lower"])) if len(curves) else 0.0
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(max(0.0, lo - 0.05), 1.01))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.legend(fontsize="small", loc="lower left")
    return ax
