"""Figures of what customers say (report 06): theme shares by group and theme risk ratios, as bars with 95%
intervals (no word clouds). Every label comes from the caller (the report's message catalogue)."""
from __future__ import annotations

import matplotlib.ticker as mticker
import numpy as np
import pandas as pd

from .base import _ax, log_ratio_axis
from .nps import CATEGORY_COLOURS

__all__ = ["plot_theme_shares", "plot_theme_risk_ratios", "plot_terms"]


def plot_theme_shares(prevalence: pd.DataFrame, ax=None, *, groups: list, group_labels: dict, theme_labels: dict,
                      title: str, xlabel: str, colours: dict | None = None):
    """Horizontal bars: the share of accounts mentioning each theme (rows) in each group (one bar per group, in
    ``groups`` order), with 95% interval whiskers; ``prevalence`` is a long table of group, theme, share, lower,
    upper (:func:`csanalysis.voice.theme_prevalence`)."""
    themes = list(theme_labels)
    ax = _ax(ax, figsize=(8, max(3.0, 0.55 * len(themes) * max(1, len(groups)) / 2 + 1.5)))
    width = 0.8 / max(1, len(groups))
    y = np.arange(len(themes))[::-1].astype(float)
    colours = colours or {**CATEGORY_COLOURS}
    for j, g in enumerate(groups):
        d = prevalence[prevalence["group"] == g].set_index("theme").reindex(themes)
        v = d["share"].to_numpy(float)
        lo, hi = d["lower"].to_numpy(float), d["upper"].to_numpy(float)
        yy = y + (len(groups) - 1) / 2 * width - j * width
        ax.barh(yy, np.nan_to_num(v), height=width, color=colours.get(g, f"C{j}"), alpha=0.85, label=group_labels.get(g, g))
        ok = np.isfinite(v) & np.isfinite(lo) & np.isfinite(hi)
        ax.errorbar(v[ok], yy[ok], xerr=[np.maximum(v[ok] - lo[ok], 0), np.maximum(hi[ok] - v[ok], 0)], fmt="none",
                    ecolor="black", capsize=2, lw=0.8)
    ax.set_yticks(y, [theme_labels[t] for t in themes])
    ax.xaxis.set_major_formatter(mticker.PercentFormatter(1.0))
    ax.set_xlim(left=0)
    ax.set(title=title, xlabel=xlabel)
    ax.legend(loc="lower right", fontsize="small")
    return ax


def plot_theme_risk_ratios(assoc: pd.DataFrame, ax=None, *, theme_labels: dict, title: str, xlabel: str,
                           significant_label: str, other_label: str):
    """One row per theme: the churn risk ratio of texts mentioning it (dot) with its 95% interval (bar), on a
    log axis with readable ticks and a line at 1; Holm-significant themes in a strong colour. Themes without an
    estimate are left out."""
    d = assoc[assoc["rr"].notna()].set_index("theme")
    d = d.reindex([t for t in theme_labels if t in d.index])
    ax = _ax(ax, figsize=(8, max(2.5, 0.5 * len(d) + 1.4)))
    y = np.arange(len(d))[::-1]
    sig = (d["rr_p_holm"] < 0.05).to_numpy()
    for mask, colour, label in ((sig, "C3", significant_label), (~sig, "grey", other_label)):
        if mask.any():
            r = d[mask]
            ax.errorbar(r["rr"], y[mask], xerr=[np.maximum(r["rr"] - r["rr_lower"], 0), np.maximum(r["rr_upper"] - r["rr"], 0)], fmt="o",
                        color=colour, capsize=3, lw=2, label=label)
    ax.axvline(1.0, color="black", ls="--", lw=1)
    log_ratio_axis(ax, np.r_[d["rr_lower"], d["rr_upper"], d["rr"], 1.0])
    ax.set_yticks(y, [theme_labels[t] for t in d.index])
    ax.set(title=title, xlabel=xlabel)
    ax.legend(loc="best", fontsize="small")
    return ax


def plot_terms(terms: pd.DataFrame, ax=None, *, title: str, xlabel: str, side_labels: dict):
    """Horizontal bars of the z-scores of the words that most distinguish two groups (``side`` "a": positive,
    "b": negative; :func:`csanalysis.voice.terms.log_odds`), each side in its colour."""
    d = terms.sort_values("z", kind="stable")
    ax = _ax(ax, figsize=(7, max(3.0, 0.32 * len(d) + 1.2)))
    y = np.arange(len(d))
    colours = np.where(d["side"] == "a", "C3", "C0")
    ax.barh(y, d["z"], color=colours, alpha=0.85)
    words = d["word"].tolist()
    ax.set_yticks(y, words)
    if any(not w.isascii() for w in words):  # Japanese words need a Japanese font whatever the report's language
        import matplotlib_fontja
        from matplotlib.font_manager import FontProperties

        font = FontProperties(fname=matplotlib_fontja.get_font_ttf_path())
        for label in ax.get_yticklabels():
            label.set_fontproperties(font)
    ax.axvline(0, color="grey", lw=0.8)
    for side, colour in (("a", "C3"), ("b", "C0")):
        ax.barh([np.nan], [np.nan], color=colour, label=side_labels[side])
    ax.legend(loc="lower right", fontsize="small")
    ax.set(title=title, xlabel=xlabel)
    return ax
