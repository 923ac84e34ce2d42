"""Figures of the survival report that go beyond the curves in ``base``: the scaled Schoenfeld residual plots of
the proportional-hazards check and the survival of every spell by spell number. The numbers are computed in
:mod:`csanalysis.survival` (``schoenfeld_curves``, ``spell_survival``); these functions only draw them."""
from __future__ import annotations

import math

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from .base import _ax


def _month_ticks(points: pd.DataFrame, months=(1, 3, 6, 12, 18, 24, 36, 48)):
    """Positions on the rank axis where each month's churn events sit (their median rank), labelled in months."""
    ticks, labels = [], []
    for m in months:
        r = points.loc[points["T"] == m, "rank"]
        if len(r):
            ticks.append(float(r.median()))
            labels.append(str(m))
    return ticks, labels


def plot_schoenfeld(points: pd.DataFrame, smooth: pd.DataFrame, axes=None, *, titles: dict | None = None,
                    xlabel: str = "Months since start (rank scale: one step per churn event)",
                    ylabel: str = "Log hazard ratio β(t)", smooth_label: str = "Lowess smooth",
                    constant_label: str = "Constant ratio (proportional hazards)", ncols: int = 3):
    """Scaled Schoenfeld residuals (β̂ added, so each dot estimates the log hazard ratio at a churn time) against
    the rank of time, with the lowess smooth and the constant β̂ that proportional hazards assume; one panel per
    term in ``smooth``. A smooth that wanders away from the flat line is a ratio that changes with tenure.
    ``titles`` maps a term to its panel title. Returns the Figure.

    Parameters
    ----------
    points : DataFrame
        The scaled residuals per term and churn time.
    smooth : DataFrame
        The lowess smooth per term.
    axes : array of Axes, optional
        The panels (None: a new figure).
    titles : dict, optional
        Term → panel title.
    xlabel, ylabel, smooth_label, constant_label : str
        The figure's words (a report passes them from the message catalogue).
    ncols : int
        Panels per row.

    Returns
    -------
    matplotlib Figure
    """
    terms = list(dict.fromkeys(smooth["term"]))
    n = max(len(terms), 1)
    cols = min(ncols, n)
    rows = math.ceil(n / cols)
    if axes is None:
        fig, axes = plt.subplots(rows, cols, figsize=(4.6 * cols, 3.6 * rows), squeeze=False)
    else:
        axes = np.atleast_2d(np.asarray(axes, dtype=object))
        fig = axes.flat[0].figure
    flat = list(np.asarray(axes, dtype=object).flat)
    for ax, term in zip(flat, terms):
        p, s = points[points["term"] == term], smooth[smooth["term"] == term]
        ax.scatter(p["rank"], p["beta_t"], s=6, alpha=0.25, color="#888888", lw=0)
        ax.plot(s["rank"], s["beta_t"], color="C0", lw=2, label=smooth_label)
        ax.axhline(float(s["beta"].iloc[0]), color="C3", ls="--", lw=1.2, label=constant_label)
        # the dots scatter widely: frame the smooth and the constant, not the extreme residuals
        lo, hi = np.nanquantile(p["beta_t"], [0.02, 0.98]) if len(p) else (-1, 1)
        centre = [float(s["beta_t"].min()), float(s["beta_t"].max()), float(s["beta"].iloc[0])]
        pad = 0.15 * (hi - lo)
        ax.set_ylim(min(lo, *centre) - pad, max(hi, *centre) + pad)
        ticks, labels = _month_ticks(p)
        if ticks:
            ax.set_xticks(ticks, labels)
        ax.set(title=(titles or {}).get(term, term), xlabel=xlabel, ylabel=ylabel)
    for ax in flat[len(terms):]:
        ax.set_visible(False)
    if terms:
        flat[0].legend(fontsize="small", loc="best")
    fig.tight_layout()
    return fig


def plot_spell_curves(curves: pd.DataFrame, ax=None, *, groups: list[str] | None = None, labels: dict | None = None,
                      title: str = "Share still active, by spell number", xlabel: str = "Months since the spell started",
                      ylabel: str = "Share still active"):
    """Kaplan–Meier step curves per spell number with their cluster-bootstrap bands (``curves`` from
    :func:`csanalysis.survival.spell_survival`); ``groups`` limits the lines, ``labels`` maps a group to its legend
    label. Each curve stops where its at-risk count reaches zero.

    Parameters
    ----------
    curves : DataFrame
        ``SpellSurvival.curves``.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    groups : list of str, optional
        The groups drawn (None: all).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    title, xlabel, ylabel : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax, figsize=(9, 5))
    groups = groups if groups is not None else list(dict.fromkeys(curves["group"]))
    for i, g in enumerate(groups):
        c = curves[(curves["group"] == g) & (curves["at_risk"] > 0)]
        t = np.r_[0, c["t"].to_numpy()]
        ax.step(t, np.r_[1.0, c["survival"].to_numpy()], where="post", color=f"C{i}", lw=2,
                label=(labels or {}).get(g, str(g)))
        ax.fill_between(t, np.r_[1.0, c["lower"].to_numpy()], np.r_[1.0, c["upper"].to_numpy()], step="post",
                        color=f"C{i}", alpha=0.2, lw=0)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.02), xlim=(0, None))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.xaxis.set_major_locator(mticker.MaxNLocator(integer=True))
    ax.legend(fontsize="small")
    return ax
