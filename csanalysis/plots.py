"""Figures (seaborn/matplotlib). Each function takes computed data and an optional ``ax``; returns the Axes."""
from __future__ import annotations

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import pandas as pd
import seaborn as sns


def set_style(lang: str = "en") -> None:
    """House style. ``seaborn.set_theme()`` resets the font family, so the Japanese font is set after it."""
    sns.set_theme(style="whitegrid", context="notebook")
    if lang == "ja":
        import matplotlib_fontja

        matplotlib_fontja.japanize()


def _ax(ax, figsize=(9, 4)):
    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    return ax


def plot_mrr(mrr: pd.DataFrame, ax=None, *, title="Monthly recurring revenue", xlabel="Month", ylabel="MRR"):
    """Total MRR per month (``mrr`` with columns month, mrr) with paying customers on a second axis."""
    ax = _ax(ax)
    ax.plot(mrr["month"], mrr["mrr"], color="C0", lw=2, label=ylabel)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:,.0f}"))
    if "customers" in mrr.columns:
        ax2 = ax.twinx()
        ax2.plot(mrr["month"], mrr["customers"], color="C1", lw=1.5, ls="--", label="Paying customers")
        ax2.set_ylabel("Paying customers")
        ax2.grid(False)
        lines = ax.get_lines() + ax2.get_lines()
        ax.legend(lines, [l.get_label() for l in lines], loc="upper left")
    return ax


def plot_counts(counts: pd.Series, ax=None, *, title: str, xlabel: str = "Customers", ylabel: str = ""):
    """Horizontal bars of counts by category."""
    ax = _ax(ax, figsize=(7, max(2.0, 0.45 * len(counts) + 1)))
    sns.barplot(x=counts.to_numpy(), y=counts.index.astype(str), ax=ax, color="C0", orient="h")
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    for p, v in zip(ax.patches, counts.to_numpy()):
        ax.annotate(f"{v:,}", (p.get_width(), p.get_y() + p.get_height() / 2), xytext=(3, 0),
                    textcoords="offset points", va="center", fontsize=9)
    return ax
