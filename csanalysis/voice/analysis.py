"""What customers say: themes and distinguishing words in NPS comments and support tickets, by NPS category and
segment, and their association with later churn and MRR change.

**Texts.** Every non-empty NPS ``comment`` (with its score's category) and, when the data hold a ``tickets``
table, every ticket ``text`` (data/README.md). Each text is normalised and tokenized (:mod:`.text`) and matched
against the theme dictionary (:mod:`.themes`).

**Prevalence** (the unit is the account, so an account that writes ten times counts once): among the accounts
with at least one text in a group (an NPS category: the categories of the responses they commented on; a
segment: the account's value at signup), the share whose texts mention the theme; 95% Wilson intervals.

**Later churn and MRR change** (the unit is the text; intervals clustered by account). Each text is lined up
with its account's revenue as the NPS report lines up survey responses (:func:`csanalysis.nps.alignment.align`:
baseline = the last full month before the text's month; churn = the spell in force then ended within
``horizon`` months, by the dataset's churn definition; only windows closed by ``as_of``, grace period included,
:meth:`~csanalysis.data.dataset.Dataset.window_closed`). Per theme: the churn risk ratio of texts mentioning it
against texts that do not (log-link Poisson regression with account-clustered errors, the "modified Poisson"
of Zou 2004), the risk difference, and among accounts that stayed the difference in MRR change (OLS,
account-clustered; both in closed form, :func:`two_group_fit`). P-values are Holm-corrected across themes
(:func:`csanalysis.stats.multitest.holm`). These are associations: a theme may travel with what drives churn
(plan, size, dissatisfaction in general) rather than cause it; comments are written by those who chose to write.

**Distinguishing words**: weighted log-odds with an informative Dirichlet prior (:mod:`.terms`), detractors
against promoters and churned against retained texts.

**Examples**: a few texts per theme, shortened; customer ids as the Dataset holds them (pseudonymised when the
run pseudonymises, in which case free text is withheld altogether: data/pseudonym.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ..estimate import Estimate
from ..result import TableSummary
from ..stats.multitest import holm
from ..stats.proportion import wilson
from .terms import log_odds
from .text import normalise, tokenize
from .themes import ThemeDictionary, load_themes

__all__ = ["VoiceResult", "voice", "voice_texts", "theme_prevalence", "theme_associations",
           "DEFAULT_HORIZON", "EXAMPLE_CHARS"]

DEFAULT_HORIZON = 6
EXAMPLE_CHARS = 120
CATEGORIES = ("detractor", "passive", "promoter")


REASONS = {  # a reason's code (the report's message voice.reason.<code>) and its English sentence (metrics.json)
    "withheld": "free text is withheld in a pseudonymised run",
    "no_texts": "no texts: no NPS comments and no tickets table",
    "history": "the layout holds no monthly history, so later churn after a text cannot be read",
    "no_windows": "no text has a closed outcome window yet",
}


def voice_texts(ds) -> pd.DataFrame:
    """The texts of a Dataset, one row each: ``customer_id``, ``date``, ``source`` ("nps" or "ticket"), ``text``,
    ``score`` and ``category`` (NPS comments), ``ticket_category`` and ``channel`` (tickets, when given)."""
    frames = []
    if ds.nps is not None and len(ds.nps) and "comment" in ds.nps.columns:
        n = ds.nps[ds.nps["comment"].map(normalise) != ""]
        s = pd.to_numeric(n["score"])
        frames.append(pd.DataFrame({
            "customer_id": n["customer_id"].astype(str).to_numpy(), "date": pd.to_datetime(n["date"]).to_numpy(),
            "source": "nps", "text": n["comment"].astype(str).to_numpy(), "score": s.to_numpy(float),
            "category": np.select([s <= 6, s <= 8], ["detractor", "passive"], "promoter").astype(object)}))
    tickets = getattr(ds, "tickets", None)
    if tickets is not None and len(tickets):
        t = tickets[tickets["text"].map(normalise) != ""]
        frames.append(pd.DataFrame({
            "customer_id": t["customer_id"].astype(str).to_numpy(), "date": pd.to_datetime(t["date"]).to_numpy(),
            "source": "ticket", "text": t["text"].astype(str).to_numpy(), "score": np.nan, "category": None,
            "ticket_category": t["category"].astype(object).to_numpy() if "category" in t.columns else None,
            "channel": t["channel"].astype(object).to_numpy() if "channel" in t.columns else None}))
    cols = ["customer_id", "date", "source", "text", "score", "category", "ticket_category", "channel"]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in cols})
    out = pd.concat(frames, ignore_index=True)
    for c in cols:
        if c not in out.columns:
            out[c] = None
    return out[cols].sort_values(["customer_id", "date", "source"], kind="stable").reset_index(drop=True)


def _align_texts(ds, texts: pd.DataFrame, horizon: int) -> pd.DataFrame:
    """Each text lined up with its account's revenue (the NPS report's alignment: see the module docstring):
    ``churned`` (1/0, NaN when the window is not closed or there is no baseline) and ``mrr_change`` (stayers)."""
    from ..grouped import integer_panel
    from ..nps import align_responses
    from ..periods import month_index

    r = texts[["customer_id", "date", "score", "category"]].copy()
    r["respondent_id"] = np.arange(len(r)).astype(str)
    r["survey_month"] = month_index(r["date"])
    r["period"] = r["survey_month"]
    r["period_label"] = ""
    a = align_responses(ds, r, (int(horizon),), integer_panel(ds))  # the panel's rows read from the engine
    t = a.table
    return pd.DataFrame({"churned": t[f"churned_{horizon}"].to_numpy(), "mrr_change": t[f"mrr_change_{horizon}"].to_numpy(),
                         "month": r["survey_month"].to_numpy()}, index=texts.index)


def theme_prevalence(units: pd.DataFrame, themes: list[str], group: str, *, alpha: float = 0.05) -> pd.DataFrame:
    """Share of accounts mentioning each theme per group: ``units`` holds one row per text with ``customer_id``,
    the ``group`` column and one boolean column per theme; an account counts once per group (mentioning when
    any of its texts in the group does). Long table: group, theme, accounts, mentioning, share, lower, upper."""
    u = units[units[group].notna()]
    acc = u.groupby([group, "customer_id"], sort=True, observed=True)[themes].any().reset_index()
    rows = []
    for g, part in acc.groupby(group, sort=True, observed=True):
        n = len(part)
        k = part[themes].sum().to_numpy()
        lo, hi = wilson(k, n, alpha, exact_ends=True)  # 0 or n of n: the bound is the share exactly
        share = k / n
        for t, kk, l, h in zip(themes, k, lo, hi):
            rows.append({"group": g, "theme": t, "accounts": n, "mentioning": int(kk), "share": kk / n,
                         "lower": l, "upper": h})
    return pd.DataFrame(rows, columns=["group", "theme", "accounts", "mentioning", "share", "lower", "upper"])


def two_group_fit(y, x, groups, *, log: bool) -> tuple[float, float, float]:
    """Coefficient of a 0/1 indicator ``x`` in a regression of ``y`` on an intercept and ``x``, its account-clustered
    standard error and normal p-value, in closed form: ``log`` True is the log-link Poisson ("modified Poisson"):
    the log risk ratio log(ȳ₁/ȳ₀); False is OLS: the difference ȳ₁ − ȳ₀. The clustered (sandwich) variance sums each
    account's influence s_c = Σ_{i∈c, x=1} (y_i − ȳ₁)/(n₁·m₁) − Σ_{i∈c, x=0} (y_i − ȳ₀)/(n₀·m₀) (m = ȳ under the
    log link, 1 for OLS) squared, times G/(G − 1)·(N − 1)/(N − 2): statsmodels' ``GLM(...).fit(cov_type="cluster")``
    to rounding (tests/voice/test_voice_analysis.py checks it), without a fit per theme."""
    from scipy.stats import norm

    y, x = np.asarray(y, float), np.asarray(x, bool)
    codes = pd.factorize(np.asarray(groups))[0]
    n1, n0 = x.sum(), (~x).sum()
    m1, m0 = y[x].mean(), y[~x].mean()
    if log:
        b = np.log(m1 / m0)
        infl = np.where(x, (y - m1) / (n1 * m1), -(y - m0) / (n0 * m0))
    else:
        b = m1 - m0
        infl = np.where(x, (y - m1) / n1, -(y - m0) / n0)
    g, n = codes.max() + 1, y.size
    v = float((np.bincount(codes, infl, g) ** 2).sum()) * g / (g - 1) * (n - 1) / (n - 2) if g > 1 and n > 2 else np.nan
    se = float(np.sqrt(v))
    p = float(2 * norm.sf(abs(b) / se)) if se > 0 else np.nan
    return float(b), se, p


def theme_associations(frame: pd.DataFrame, themes: list[str], *, alpha: float = 0.05, min_events: int = 1) -> pd.DataFrame:
    """Per theme, churn and MRR change of texts mentioning it against texts that do not (see the module
    docstring). ``frame``: one row per text with ``customer_id``, ``churned`` (1/0/NaN), ``mrr_change`` (NaN
    for churned or without a ratio) and one boolean column per theme.

    Columns: theme, texts_with, texts_without, accounts, churn_with, churn_without, rr, rr_lower, rr_upper,
    rr_p, rr_p_holm, rd, rd_lower, rd_upper, stayers_with, stayers_without, mrr_with, mrr_without, mrr_diff,
    mrr_lower, mrr_upper, mrr_p, mrr_p_holm, reason (why the risk ratio is missing, English), reading ("includes_one":
    the interval includes 1; "not_after_holm": it excludes 1 but the Holm-adjusted p is ``alpha`` or more; "higher" /
    "lower": above / below 1 and significant after Holm; "none": no estimate)."""
    from scipy.stats import norm

    zc = norm.ppf(1 - alpha / 2)
    f = frame[frame["churned"].notna()]
    y = f["churned"].to_numpy(float)
    groups = pd.factorize(f["customer_id"])[0]
    stay = f[(f["churned"] == 0) & f["mrr_change"].notna()]
    sg = pd.factorize(stay["customer_id"])[0]
    rows = []
    for t in themes:
        x = f[t].to_numpy(bool)
        r = {"theme": t, "texts_with": int(x.sum()), "texts_without": int((~x).sum()),
             "accounts": int(pd.Series(f["customer_id"].to_numpy()[x]).nunique()),
             "churn_with": y[x].mean() if x.any() else np.nan, "churn_without": y[~x].mean() if (~x).any() else np.nan,
             "reason": None}
        ev_with, ev_without = y[x].sum(), y[~x].sum()
        if not x.any() or x.all():
            r["reason"] = "no text mentions the theme" if not x.any() else "every text mentions the theme"
        elif ev_with < min_events or ev_without < min_events:
            r["reason"] = ("no churn after texts mentioning the theme" if ev_with < min_events
                           else "no churn after texts not mentioning the theme")
        if r["reason"] is None:
            b, se, p = two_group_fit(y, x, groups, log=True)
            r.update(rr=np.exp(b), rr_lower=np.exp(b - zc * se), rr_upper=np.exp(b + zc * se), rr_p=p)
            d, dse, _ = two_group_fit(y, x, groups, log=False)
            r.update(rd=d, rd_lower=d - zc * dse, rd_upper=d + zc * dse)
        xs = stay[t].to_numpy(bool)
        mc = stay["mrr_change"].to_numpy(float)
        r.update(stayers_with=int(xs.sum()), stayers_without=int((~xs).sum()),
                 mrr_with=mc[xs].mean() if xs.any() else np.nan, mrr_without=mc[~xs].mean() if (~xs).any() else np.nan)
        if xs.sum() >= 2 and (~xs).sum() >= 2:
            d, dse, p = two_group_fit(mc, xs, sg, log=False)
            r.update(mrr_diff=d, mrr_lower=d - zc * dse, mrr_upper=d + zc * dse, mrr_p=p)
        rows.append(r)
    cols = ["theme", "texts_with", "texts_without", "accounts", "churn_with", "churn_without", "rr", "rr_lower",
            "rr_upper", "rr_p", "rr_p_holm", "rd", "rd_lower", "rd_upper", "stayers_with", "stayers_without",
            "mrr_with", "mrr_without", "mrr_diff", "mrr_lower", "mrr_upper", "mrr_p", "mrr_p_holm", "reason"]
    out = pd.DataFrame(rows).reindex(columns=cols)
    for p_col in ("rr_p", "mrr_p"):
        out[f"{p_col}_holm"] = holm(pd.to_numeric(out[p_col]).to_numpy(float))
    lo, hi = pd.to_numeric(out["rr_lower"]).to_numpy(float), pd.to_numeric(out["rr_upper"]).to_numpy(float)
    # how to read each risk ratio: its interval includes 1 (no clear difference); it excludes 1 but the theme is
    # not significant once the themes are tested together (Holm); or it lies above / below 1 and is significant
    p_holm = pd.to_numeric(out["rr_p_holm"]).to_numpy(float)
    sig = p_holm < alpha
    out["reading"] = np.select([~np.isfinite(lo) | ~np.isfinite(hi), (lo <= 1) & (hi >= 1), ~sig, lo > 1],
                               ["none", "includes_one", "not_after_holm", "higher"], "lower")
    return out


def shorten(text: str, limit: int = EXAMPLE_CHARS) -> str:
    """The text on one line, cut at ``limit`` characters with an ellipsis."""
    s = " ".join(str(text).split())
    return s if len(s) <= limit else s[: limit - 1].rstrip() + "…"


@dataclass
class VoiceResult(TableSummary):
    """What :func:`voice` returns. ``texts``: one row per text with its tokens' themes (boolean columns; the tokens themselves are not kept),
    ``churned``/``mrr_change`` (the alignment) and ``segment``; ``prevalence_category`` / ``prevalence_segment``
    (long tables, :func:`theme_prevalence`); ``associations`` (:func:`theme_associations`); ``terms_nps`` and
    ``terms_churn`` (:func:`csanalysis.voice.terms.log_odds`: detractor vs promoter, churned vs retained);
    ``examples`` (theme, customer_id, date, source, text shortened); ``available`` with ``reason`` when not."""

    themes: ThemeDictionary
    horizon: int
    alpha: float = 0.05
    texts: pd.DataFrame = field(default_factory=pd.DataFrame)
    prevalence_category: pd.DataFrame = field(default_factory=pd.DataFrame)
    prevalence_segment: pd.DataFrame = field(default_factory=pd.DataFrame)
    associations: pd.DataFrame = field(default_factory=pd.DataFrame)
    terms_nps: pd.DataFrame = field(default_factory=pd.DataFrame)
    terms_churn: pd.DataFrame = field(default_factory=pd.DataFrame)
    examples: pd.DataFrame = field(default_factory=pd.DataFrame)
    segment: str | None = None
    reason: str | None = None  # why nothing was read, a key of REASONS
    churn_reason: str | None = None  # why later churn was not read, a key of REASONS (None when it was)
    withheld: bool = False  # free text withheld (a pseudonymised run)

    @property
    def available(self) -> bool:
        return self.reason is None

    @property
    def summary(self) -> pd.DataFrame:
        return self.associations

    @property
    def churn_available(self) -> bool:
        """Whether later churn was read (a layout with history and at least one closed window)."""
        return self.available and self.churn_reason is None

    def top_theme(self, group: str = "detractor"):
        """The row of ``prevalence_category`` with the largest share in ``group`` (None without one)."""
        p = self.prevalence_category
        p = p[(p["group"] == group) & (p["mentioning"] > 0)] if len(p) else p
        return None if not len(p) else p.loc[p["share"].astype(float).idxmax()]

    def theme_labels(self, translate, prefix: str = "voice.theme.") -> dict:
        """Each theme's label: the message ``prefix + theme`` through ``translate`` (the report's ``tr``) for the
        default themes, else the theme's own name with spaces (a user's dictionary)."""
        out = {}
        for t in self.themes.names:
            try:
                out[t] = translate(prefix + t)
            except KeyError:
                out[t] = t.replace("_", " ")
        return out

    def example_rows(self, *, pseudonymise: bool = False) -> pd.DataFrame:
        """``examples`` with customer ids replaced by keyed pseudonyms (:mod:`csanalysis.data.pseudonym`, the
        key the risk list uses) when ``pseudonymise``, unless the Dataset's ids already are."""
        ex = self.examples.copy()
        if pseudonymise and len(ex):
            from ..data.pseudonym import looks_pseudonymised, pseudonymise_ids

            if not looks_pseudonymised(ex["customer_id"]):
                ex["customer_id"] = pseudonymise_ids(ex["customer_id"].to_numpy())
        return ex

    def counts(self) -> dict:
        t = self.texts
        return {"texts": len(t), "accounts": int(t["customer_id"].nunique()) if len(t) else 0,
                "nps_comments": int((t["source"] == "nps").sum()) if len(t) else 0,
                "tickets": int((t["source"] == "ticket").sum()) if len(t) else 0,
                "japanese": int(t["japanese"].sum()) if "japanese" in t else 0,
                "aligned": int(t["churned"].notna().sum()) if "churned" in t else 0}

    def significant(self, outcome: str = "rr") -> list[str]:
        """Themes whose Holm-adjusted p-value is below ``alpha`` (``outcome`` "rr" for churn, "mrr")."""
        a = self.associations
        if not len(a):
            return []
        return a.loc[a[f"{outcome}_p_holm"] < self.alpha, "theme"].tolist()

    def metrics(self) -> dict:
        """The report's part of ``metrics.json``: counts, and per theme the churn risk ratio and the MRR-change
        difference (estimates with 95% intervals, Holm-adjusted p) and the share of commenting accounts."""
        themes = {}
        a = self.associations.set_index("theme") if len(self.associations) else None
        for t in self.themes.names:
            entry = {}
            if a is not None and t in a.index:
                r = a.loc[t]
                entry["churn_risk_ratio"] = {**Estimate.of(t, r["rr"], r["rr_lower"], r["rr_upper"], reason=r["reason"] or
                                             "not estimable").brief(), "p_holm": _num(r["rr_p_holm"]),
                                             "texts": int(r["texts_with"])}
                entry["mrr_change_difference_pp"] = {**Estimate.of(t, r["mrr_diff"], r["mrr_lower"], r["mrr_upper"],
                                                     reason="too few accounts that stayed").brief(), "p_holm": _num(r["mrr_p_holm"])}
            else:
                reason = REASONS[self.reason or self.churn_reason or "no_windows"]
                entry["churn_risk_ratio"] = {**Estimate.missing(reason).brief(), "p_holm": None, "texts": 0}
                entry["mrr_change_difference_pp"] = {**Estimate.missing(reason).brief(), "p_holm": None}
            themes[t] = entry
        top = None
        if a is not None and a["rr"].notna().any():
            best = a["rr"].astype(float).idxmax()
            top = {"theme": best, **Estimate.of(best, a.loc[best, "rr"], a.loc[best, "rr_lower"], a.loc[best, "rr_upper"],
                                                reason="not estimable").brief(), "p_holm": _num(a.loc[best, "rr_p_holm"])}
        return {"voice": {"available": self.available, "reason": REASONS.get(self.reason), "withheld": self.withheld,
                          "horizon_months": self.horizon, **self.counts(), "themes": themes,
                          "significant_churn_themes": self.significant("rr"),
                          "n_significant_churn_themes": len(self.significant("rr")) if self.churn_available else None,
                          "top_churn_theme": top}}


def _num(v):
    v = float(v) if v is not None else np.nan
    return None if not np.isfinite(v) else v


def voice(ds, *, themes: str | ThemeDictionary | None = None, horizon: int = DEFAULT_HORIZON, segment: str | None = "plan",
          alpha: float = 0.05, n_examples: int = 3, min_count: int = 5, n_terms: int = 10) -> VoiceResult:
    """Themes, distinguishing words and associations of what customers write (see the module docstring).

    Parameters
    ----------
    ds : Dataset
    themes : path or ThemeDictionary, optional
        The theme dictionary (default ``csanalysis/voice_themes.yaml``).
    horizon : int
        Months after the last full month before a text in which a churn counts (and the MRR change is read).
    segment : str, optional
        A categorical customer attribute for prevalence by segment (None: not computed).
    alpha : float
        Significance level (95% intervals for 0.05).
    n_examples, min_count, n_terms : int
        Example texts per theme; the fewest texts a distinguishing word must appear in; words shown per side.
    """
    if int(horizon) < 1:
        raise ValueError(f"horizon={horizon!r}: give a whole number of months ≥ 1")
    td = themes if isinstance(themes, ThemeDictionary) else load_themes(themes)
    if segment:
        from ..data.attributes import check_segment

        check_segment(ds, segment, what="segment")
    res = VoiceResult(themes=td, horizon=int(horizon), alpha=alpha, segment=segment or None,
                      withheld=bool(getattr(ds, "pseudonymised", False)))
    texts = voice_texts(ds)
    if not len(texts):
        res.reason = "withheld" if res.withheld else "no_texts"
        return res
    names = td.names
    texts = pd.concat([texts, td.matrix(texts["text"])], axis=1)
    texts["tokens"] = [tokenize(s) for s in texts["text"]]
    texts["japanese"] = texts["text"].map(lambda s: any("\u3040" <= ch <= "\u9fff" for ch in normalise(s)))
    history = ds.left_out("history") is None
    if history:
        texts = pd.concat([texts, _align_texts(ds, texts, int(horizon))], axis=1)
    else:  # a snapshot: no monthly history to read churn after a text
        texts = texts.assign(churned=np.nan, mrr_change=np.nan, month=np.nan)
        res.churn_reason = "history"
    if segment:
        seg = ds.customers.set_index(ds.customers["customer_id"].astype(str))[segment]
        texts["segment"] = texts["customer_id"].map(seg).astype(object).where(lambda s: s.notna(), "unknown").astype(str)
    res.texts = texts
    res.prevalence_category = theme_prevalence(texts, names, "category", alpha=alpha)
    if segment:
        res.prevalence_segment = theme_prevalence(texts, names, "segment", alpha=alpha)
    if res.churn_reason is None and not texts["churned"].notna().any():
        res.churn_reason = "no_windows"
    if res.churn_reason is None:
        res.associations = theme_associations(texts, names, alpha=alpha)
    det, pro = texts["category"] == "detractor", texts["category"] == "promoter"
    if det.any() and pro.any():
        res.terms_nps = _top(log_odds(texts.loc[det, "tokens"], texts.loc[pro, "tokens"], min_count=min_count), n_terms)
    ch, ret = texts["churned"] == 1, texts["churned"] == 0
    if ch.any() and ret.any():
        res.terms_churn = _top(log_odds(texts.loc[ch, "tokens"], texts.loc[ret, "tokens"], min_count=min_count), n_terms)
    texts.drop(columns="tokens", inplace=True)  # read by the distinguishing words only: a list per text, not kept
    res.examples = _examples(texts, names, n_examples)
    return res


def _top(table: pd.DataFrame, n: int) -> pd.DataFrame:
    """The ``n`` words most typical of each side (positive z: group a; negative: group b)."""
    a = table[table["z"] > 0].head(n).assign(side="a")
    b = table[table["z"] < 0].sort_values("z", kind="stable").head(n).assign(side="b")
    return pd.concat([a, b], ignore_index=True)


def _examples(texts: pd.DataFrame, names: list[str], n: int) -> pd.DataFrame:
    """Up to ``n`` texts per theme: the most recent distinct ones, from different accounts where possible."""
    rows = []
    for t in names:
        sel = texts[texts[t]].sort_values(["date", "customer_id"], ascending=[False, True], kind="stable")
        sel = sel.drop_duplicates("text").drop_duplicates("customer_id").head(n)
        for r in sel.itertuples():
            rows.append({"theme": t, "customer_id": r.customer_id, "date": r.date, "source": r.source,
                         "text": shorten(r.text)})
    return pd.DataFrame(rows, columns=["theme", "customer_id", "date", "source", "text"])
