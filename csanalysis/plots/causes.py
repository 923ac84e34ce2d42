"""Figures of the churn-causes report (csanalysis.causes): shares with their intervals as bars, the causes'
cumulative incidence by tenure with bands, dunning recovery by days."""
from __future__ import annotations

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from .base import _ax

COLORS = {"payment_failure": "C3", "voluntary": "C0"}


def plot_share_bars(table: pd.DataFrame, ax=None, *, estimate: str = "share", lower: str = "lower", upper: str = "upper",
                    label: str = "group", title: str = "", xlabel: str = "", labels: list[str] | None = None):
    """Horizontal bars of a share per row of ``table`` with its 95% interval as a line (rows without an estimate
    are left empty)."""
    ax = _ax(ax, figsize=(8, max(2.2, 0.45 * len(table) + 1.2)))
    y = np.arange(len(table))[::-1]
    est = table[estimate].to_numpy(dtype=float)
    lo, hi = table[lower].to_numpy(dtype=float), table[upper].to_numpy(dtype=float)
    ax.barh(y, np.nan_to_num(est), color="C3", alpha=0.75, height=0.6)
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(est)
    ax.errorbar(est[ok], y[ok], xerr=np.vstack([est[ok] - lo[ok], hi[ok] - est[ok]]), fmt="none", ecolor="black",
                capsize=3, lw=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels if labels is not None else table[label].astype(str).tolist())
    ax.set(title=title, xlabel=xlabel)
    ax.set_xlim(0, max(0.05, float(np.nanmax(np.r_[hi[ok], est[np.isfinite(est)], 0.0])) * 1.1))
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.grid(axis="y", visible=False)
    return ax


def plot_monthly_shares(table: pd.DataFrame, ax=None, *, title: str = "", xlabel: str = "", ylabel: str = ""):
    """The payment-failure share of churns per churn month (``group`` YYYY-MM) as points with their Wilson interval."""
    ax = _ax(ax, figsize=(10, 4))
    x = pd.to_datetime(table["group"] + "-01")
    est = table["share"].to_numpy(dtype=float)
    err = np.vstack([est - table["lower"].to_numpy(dtype=float), table["upper"].to_numpy(dtype=float) - est])
    ax.errorbar(x, est, yerr=err, fmt="o", ms=4, color="C3", ecolor="#c98d8d", elinewidth=1, capsize=2)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, None))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    return ax


def plot_cif(table: pd.DataFrame, causes=("payment_failure", "voluntary"), ax=None, *, labels: dict | None = None,
             title: str = "", xlabel: str = "", ylabel: str = "", max_t: float | None = None, total_label: str | None = None):
    """Each cause's cumulative incidence by tenure as steps with its 95% band; ``total_label``: also 1 − KM of any
    churn (the causes' sum), dashed."""
    ax = _ax(ax, figsize=(9, 5))
    tab = table if max_t is None else table[table["t"] <= max_t]
    for k in causes:
        c = COLORS.get(k)
        ax.step(tab["t"], tab[f"cif_{k}"], where="post", color=c, lw=2, label=(labels or {}).get(k, k))
        ax.fill_between(tab["t"], tab[f"lower_{k}"], tab[f"upper_{k}"], step="post", color=c, alpha=0.2, lw=0)
    if total_label:
        ax.step(tab["t"], 1 - tab["km"], where="post", color="#555555", lw=1, ls="--", label=total_label)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, None), xlim=(0, None))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.legend(fontsize="small", loc="upper left")
    return ax


def plot_recovery(table: pd.DataFrame, ax=None, *, title: str = "", xlabel: str = "", ylabel: str = "",
                  labels: list[str] | None = None):
    """Share of failed attempts recovered within each number of days (bars) with its 95% interval."""
    ax = _ax(ax, figsize=(6, 4))
    x = np.arange(len(table))
    est, lo, hi = (table[c].to_numpy(dtype=float) for c in ("share", "lower", "upper"))
    ax.bar(x, np.nan_to_num(est), color="C2", alpha=0.8, width=0.6)
    ok = np.isfinite(lo) & np.isfinite(hi) & np.isfinite(est)
    ax.errorbar(x[ok], est[ok], yerr=np.vstack([est[ok] - lo[ok], hi[ok] - est[ok]]), fmt="none", ecolor="black",
                capsize=4, lw=1)
    ax.set_xticks(x)
    ax.set_xticklabels(labels if labels is not None else [str(d) for d in table["days"]])
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel, ylim=(0, 1.05))
    ax.yaxis.set_major_formatter(mticker.PercentFormatter(1.0, decimals=0))
    ax.grid(axis="x", visible=False)
    return ax
