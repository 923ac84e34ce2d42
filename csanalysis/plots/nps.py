"""Figures of the NPS-and-revenue report (csanalysis.nps). Each function takes computed tables and an optional
``ax``, returns the Axes, and takes every piece of text as an argument (the notebook passes translations)."""
from __future__ import annotations

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from .base import _ax

CATEGORY_COLOURS = {"detractor": "#d62728", "passive": "#9e9e9e", "promoter": "#2ca02c"}


def plot_nps_over_time(by_period: pd.DataFrame, ax=None, *, title: str = "NPS by survey period",
                       xlabel: str = "Survey period", ylabel: str = "NPS (−100 to 100)", n_label: str = "n"):
    """NPS per period (``csanalysis.nps.nps_by`` on the period label) with its 95% band and the number of
    responses under each point.

    Parameters
    ----------
    by_period : DataFrame
        ``csanalysis.nps.nps_by`` on the period label.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, xlabel, ylabel, n_label : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax)
    x = np.arange(len(by_period))
    ax.fill_between(x, by_period["lower"], by_period["upper"], color="C0", alpha=0.2, lw=0)
    ax.plot(x, by_period["nps"], "o-", color="C0", lw=2)
    for xi, (v, n) in enumerate(zip(by_period["nps"], by_period["n"])):
        ax.annotate(f"{n_label}={int(n):,}", (xi, v), xytext=(0, -14), textcoords="offset points", ha="center",
                    fontsize=8, color="#555555")
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set_xticks(x, [str(g) for g in by_period["group"]])
    lo = min(-10.0, float(by_period["lower"].min()) - 10) if len(by_period) else -100
    hi = max(10.0, float(by_period["upper"].max()) + 10) if len(by_period) else 100
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(max(-100, lo), min(100, hi)))
    return ax


def plot_nps_by_segment(by_segment: pd.DataFrame, ax=None, *, title: str = "NPS by segment",
                        xlabel: str = "NPS (−100 to 100)", ylabel: str = "", n_label: str = "n"):
    """NPS per segment as points with 95% interval bars (horizontal), with the number of responses.

    Parameters
    ----------
    by_segment : DataFrame
        ``csanalysis.nps.nps_by`` on the segment.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, xlabel, ylabel, n_label : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax, figsize=(8, max(2.5, 0.5 * len(by_segment) + 1.2)))
    y = np.arange(len(by_segment))[::-1]
    est = by_segment["nps"].to_numpy(float)
    ax.errorbar(est, y, xerr=[est - by_segment["lower"].to_numpy(float), by_segment["upper"].to_numpy(float) - est],
                fmt="o", color="C0", capsize=3)
    ax.axvline(0, color="grey", lw=0.8, ls="--")
    ax.set_yticks(y, [f"{g} ({n_label}={int(n):,})" for g, n in zip(by_segment["group"], by_segment["n"])])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(-100, 100))
    return ax


def plot_account_scatter(accounts: pd.DataFrame, line: pd.DataFrame, ax=None, *, x: str = "nps", y: str = "mrr_change",
                         title: str = "Account NPS and MRR change", xlabel: str = "Account NPS (−100 to 100)",
                         ylabel: str = "MRR change (%)", fit_label: str = "Straight-line fit with 95% band",
                         seed: int = 0):
    """Accounts as points (account NPS against a revenue measure; a little horizontal jitter, because account
    NPS takes few values), the fitted line and its 95% confidence band (``csanalysis.nps.fitted_line``).

    Parameters
    ----------
    accounts : DataFrame
        ``csanalysis.nps.account_view``.
    line : DataFrame
        ``csanalysis.nps.fitted_line``.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    x, y : str
        The columns drawn.
    title, xlabel, ylabel, fit_label : str
        The figure's words (a report passes them from the message catalogue).
    seed : int
        Seed of the jitter.

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax, figsize=(8, 5))
    d = accounts[[x, y]].dropna()
    jitter = np.random.default_rng(seed).uniform(-2.5, 2.5, len(d))
    ax.scatter(d[x] + jitter, d[y], s=10, alpha=0.35, color="C0", lw=0)
    if len(line):
        ax.plot(line["x"], line["fit"], color="C3", lw=2, label=fit_label)
        ax.fill_between(line["x"], line["lower"], line["upper"], color="C3", alpha=0.25, lw=0)
        ax.legend(fontsize="small", loc="upper left")
    if len(d):  # keep the bulk readable: a few extreme changes would flatten everything else
        lo, hi = np.quantile(d[y], [0.01, 0.99])
        pad = 0.1 * (hi - lo if hi > lo else 1.0)
        ax.set_ylim(lo - pad, hi + pad)
    ax.axhline(0, color="grey", lw=0.8, ls="--")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, xlim=(-105, 105))
    return ax


def plot_category_bars(outcomes: pd.DataFrame, measure: str, ax=None, *, title: str, ylabel: str,
                       xlabel: str = "NPS category", labels: dict | None = None, percent_share: bool = False,
                       n_col: str = "responses", n_label: str = "n"):
    """One bar per NPS category for ``measure`` (a column of ``csanalysis.nps.category_outcomes`` with
    ``<measure>_lower`` / ``_upper``) with 95% interval whiskers; ``percent_share`` for shares 0–1.

    Parameters
    ----------
    outcomes : DataFrame
        ``csanalysis.nps.category_outcomes``.
    measure : str
        The column drawn.
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    title, ylabel, xlabel, n_label : str
        The figure's words (a report passes them from the message catalogue).
    labels : dict, optional
        Display names by key (None: the keys themselves).
    percent_share : bool
        The measure is a share 0–1 (shown in percent).
    n_col : str
        The column of counts written under the bars.

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax, figsize=(6, 4))
    d = outcomes.set_index("category").reindex(["detractor", "passive", "promoter"])
    names = [(labels or {}).get(c, c) for c in d.index]
    v = d[measure].to_numpy(float)
    lo, hi = d[f"{measure}_lower"].to_numpy(float), d[f"{measure}_upper"].to_numpy(float)
    x = np.arange(len(d))
    ax.bar(x, np.nan_to_num(v), color=[CATEGORY_COLOURS[c] for c in d.index], alpha=0.85)
    ok = np.isfinite(v) & np.isfinite(lo) & np.isfinite(hi)
    ax.errorbar(x[ok], v[ok], yerr=[v[ok] - lo[ok], hi[ok] - v[ok]], fmt="none", ecolor="black", capsize=4)
    ax.set_xticks(x, [f"{nm}\n{n_label}={int(n):,}" for nm, n in zip(names, d[n_col].fillna(0))])
    ax.axhline(0, color="grey", lw=0.8)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    if percent_share:
        ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    return ax
