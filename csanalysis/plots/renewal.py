"""Figures of the renewal section of the lifecycle report (csanalysis.lifecycle.renewal). Each function takes
computed data and an optional ``ax``."""
from __future__ import annotations

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from .base import _ax


def plot_renewal_rates(rates: pd.DataFrame, ax=None, *, labels: dict, title: str = "", ylabel: str = ""):
    """Renewal rates by quarter with their 95% intervals: one series per rate (``labels`` maps the column of
    ``rates`` — ``gross_rate``, ``gross_arr_rate``, ``net_rate`` — to its legend label), the quarters on the x axis.

    Parameters
    ----------
    rates : DataFrame
        :attr:`csanalysis.lifecycle.renewal.RenewalRates.rates_` without the pooled row (``quarter``, each rate and
        its ``_lower`` and ``_upper``).
    ax : matplotlib Axes, optional
        Where to draw (None: a new figure).
    labels : dict
        Rate column → legend label, in drawing order.
    title, ylabel : str
        The figure's words (a report passes them from the message catalogue).

    Returns
    -------
    matplotlib Axes
    """
    ax = _ax(ax, figsize=(9, 4.5))
    x = np.arange(len(rates))
    width = 0.8 / max(len(labels), 1)
    for i, (col, label) in enumerate(labels.items()):
        est = rates[col].to_numpy(dtype=float)
        lo, hi = rates[f"{col}_lower"].to_numpy(dtype=float), rates[f"{col}_upper"].to_numpy(dtype=float)
        xs = x + (i - (len(labels) - 1) / 2) * width
        ax.errorbar(xs, est, yerr=[np.maximum(est - lo, 0), np.maximum(hi - est, 0)], fmt="o", capsize=3,
                    label=label, color=f"C{i}")
    ax.axhline(1.0, color="0.6", lw=0.8, ls="--")
    ax.set_xticks(x)
    ax.set_xticklabels(rates["quarter"].astype(str), rotation=45 if len(rates) > 8 else 0, ha="right" if len(rates) > 8 else "center")
    # ticks on whole percents (or halves, quarters … of a narrow span) so that no two labels read alike
    lo, hi = ax.get_ylim()
    step = next((s for s in (0.25, 0.1, 0.05, 0.02, 0.01, 0.005, 0.0025, 0.001) if (hi - lo) / s >= 4), 0.001)
    ax.yaxis.set_major_locator(mticker.MultipleLocator(step))
    decimals = 0 if step >= 0.01 else 1 if step >= 0.001 else 2
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=decimals))
    ax.set_title(title)
    ax.set_ylabel(ylabel)
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.12 if len(rates) <= 8 else -0.2), ncol=len(labels),
              frameon=False)
    return ax
