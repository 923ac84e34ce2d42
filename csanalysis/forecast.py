"""Next year's revenue: an MRR forecast for each of the next months, with an 80% band, scenarios, and a rolling-origin
back-test of how well the same forecast did in the past.

**Parts** (the origin ``o`` is the last month of the data, the ``as_of`` month; horizons h = 1 … ``horizon``):

* **Today's customers** (``retained``): each customer paying in month ``o`` at its current MRR ``mrr_i``, times
  its chance to be still paying h months later given that it has paid for ``a_i`` months of its current spell:
  the conditional survival ``S(a_i + h) / S(a_i)``. ``S`` is the Kaplan–Meier curve of every spell (first and
  later spells pooled, each timed from its own start, left truncation honoured: the churn model in force,
  :mod:`csanalysis.survival`'s durations), **weighted by MRR** (``weight="mrr"``, default): the hazard of spell
  month ``t`` is the MRR lost to churn in it ÷ the MRR at risk (the spells' MRR in month ``t − 1``), so
  ``S(k)`` is the share of MRR of spells still paying in their month ``k`` (small accounts churning more than
  large ones do not drag the revenue forecast down as a head count would). ``weight="spells"`` gives the
  plain Kaplan–Meier curve of the spells (equal to lifelines' with the same entries; tests/test_forecast.py).
  **Beyond the curve's reach** (months with fewer than ``min_at_risk`` spells at risk, where the curve stops
  meaning anything) ``S`` continues with the **last hazard**: the average monthly hazard of the curve's last
  12 months of reach, ``λ = 1 − (S(L) / S(L − 12))^(1/12)``, so ``S(L + j) = S(L)·(1 − λ)^j``.
  **The sBG instead** (``survival="sbg"``): ``S`` is the shifted-beta-geometric projection of
  :mod:`csanalysis.projection` (each customer churns each month with its own probability, Beta(α, β) over
  customers: ``S(t) = B(α, β + t) / B(α, β)``, a churn rate ``α / (α + β + t − 1)`` falling with tenure as the
  riskier leave), fitted by maximum likelihood to the spells observed from their start (a spell that started
  before the data window has no month 0 here and is left out), each churned spell at its churn month and each
  still-paying one censored at its last month, counted once each (``weight="spells"``) or weighted by the MRR
  of its first month (``"mrr"``, a weighted likelihood); the fitted curve needs no tail. In the band each
  simulation's (α, β) is one Newton step from the full fit on its bootstrap resample's counts (the one-step
  bootstrap: first-order equal to refitting, at the cost of one gradient and Hessian).
* **Their expansion and contraction** (``expansion``): the MRR of a customer that stays changes each month by
  the net rate of its tenure band: ``g(k) = Σ MRR(k + 1) ÷ Σ MRR(k)`` over the customers paying in two
  consecutive months of a spell at spell months ``k`` and ``k + 1``, both in the last ``window`` months
  (tenure bands :data:`TENURE_BANDS`; the customers paying in both months are exactly those the MRR movements
  of :mod:`csanalysis.metrics` count as expansion or contraction, so over all tenures ``Σ (MRR(k + 1) −
  MRR(k))`` = expansion − contraction of the month when there is no grace period; tests/test_forecast.py).
  A customer's MRR after h months is ``mrr_i · Π_{j=a_i}^{a_i+h−1} g(j)``; ``expansion`` is that minus
  ``retained``.
* **New business** (``new``): the MRR of new and reactivated customers per month (the movements' ``new`` +
  ``reactivation``), its trend a least-squares line through the log of the last ``new_window`` months (24 by
  default, or the months the data have after their first; 12 months let one dip or surge tilt the line: on
  generated worlds the band then covered too little, tests/test_forecast.py),
  ``log N_t = α + β t`` (:func:`new_business_trend`), carried forward (``new_growth`` a number instead: the
  trend's current level grown by that rate a month; 0 holds it). The point forecast multiplies the line by the
  mean of the exponentiated residuals (the smearing estimate of the mean). Each future month's new MRR then
  follows the same survival and expansion from spell month 0.
* **Contracted revenue** (``contracted``, part of ``retained``): when ``customers`` has a ``renewal_date``
  (data/README.md), a customer whose next renewal is after month ``o`` is certain to pay its current MRR in
  every month that ends before that date (annual contracts are certain until their renewal); from the renewal
  on it follows the survival and expansion above, conditioned at the renewal. ``contracts=False`` ignores the
  column. Without the column nothing is contracted. ``forecast_existing`` = retained + expansion − contracted.

**The band** (``lower``, ``base``, ``upper``): ``n_sims`` simulations, each with

1. the estimated rates re-estimated on a bootstrap over accounts (:mod:`csanalysis.stats.bootstrap`, one
   resample of customers with all their spells and months: the Kaplan–Meier curve, its tail hazard and the
   expansion rates of that resample);
2. each of today's customers still paying at h or not, drawn from its conditional survival (one uniform per
   customer and simulation, so a customer that leaves stays gone);
3. new business: the last ``new_window`` months resampled with replacement and the line fitted again (the
   trend's uncertainty), each future month's value times the exponential of one of that fit's residuals drawn
   at random (month-to-month noise).

``base`` is the median of the simulated totals, ``lower`` and ``upper`` their 10th and 90th percentiles (an 80%
band, ``band=0.8``); ``lower95``/``upper95`` the 2.5th and 97.5th (the 95% interval ``metrics.json`` estimates
carry by convention, for the front page). ``expected`` is the total under the point estimates (the sum of the
parts, which the split columns add up to); it is close to, but not the same number as, the median.

**Scenarios**: a target monthly customer churn (``target_churn``, default the seed case's 0.84%): every hazard of
the curve multiplied by target ÷ the customer churn rate of the last ``window`` months
(:func:`customer_churn_rate`), so customers leave at the target rate on average with the same pattern over
tenure and account size (a target above today's rate raises churn); and a growth rate of new business
(``scenario_new_growth``), each simulation run again with the same draws; the scenario's difference from the
base is the median and 10th/90th percentiles of the per-simulation differences.

**Back-test** (:func:`backtest`): the same forecast made at each of the last ``n_origins`` month-ends with only
the data up to that month (the panel and spells cut in memory by :func:`cut_at`, the loader's own rule for
spells observed up to an earlier month; renewal dates, which describe today, are not used), compared with the
MRR that followed: the absolute percentage error of ``base`` by horizon (its mean, MAPE) and the share of actual
months inside the 80% band (coverage), each with the number of origins it rests on.

**Calibration** (``python -m benchmarks.forecast_worlds``, benchmarks/README.md): over 24 generated worlds of
2,000 accounts the 80% band held 76% of 1,872 back-test pairs; a single world's share swings from 0.27 to 0.99
(its pairs share origins and future months, so one world is about one draw: the demo's own back-test holds about
0.94 of 78). Month-to-month noise of new business carries most of the band at short horizons, the refitted trend
of new business at long ones; the account bootstrap of the rates and who stays are smaller parts.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import periods
from .data import Dataset
from .data.spells import panel_from_pandas, spells_from_pandas
from .estimate import Estimate
from .result import TableSummary
from .stats.bootstrap import account_sums, count_weights, replicate_sums

__all__ = ["TENURE_BANDS", "HORIZONS", "Forecast", "Backtest", "forecast", "forecast_panel", "backtest", "cut_at",
           "backtest_panel", "new_business_by_month", "customer_churn_rate", "risk_matrices", "survival_curves",
           "new_business_trend", "sbg_counts", "sbg_curves", "unavailable", "missing_metrics"]

TENURE_BANDS = (0, 1, 3, 6, 12, 24)  # spell-month bands of the expansion rates: 0, 1–2, 3–5, 6–11, 12–23, 24+
HORIZONS = (1, 3, 6, 12)  # the horizons the back-test reports
DEFAULT_TARGET_CHURN = 0.0084  # the seed case's target monthly churn


# ----------------------------------------------------------------------------------------------- the inputs


def cut_at(panel: pd.DataFrame, spells: pd.DataFrame, origin: int, grace: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The engine-form panel and spells (integer months, :func:`~csanalysis.data.spells.panel_from_pandas`) as
    the loader would build them from the data up to month ``origin``: paid months after it dropped, spells that
    had not started dropped, each other spell ending at its last paid month up to ``origin``, churned when that
    month and its ``grace`` months after are observed (``last_m + 1 + grace ≤ origin``), else censored.

    Cutting cannot merge or split spells (removing later months leaves every gap within a spell as it was), so
    this is the spells rule of data/spells.py applied at the earlier date (tests/test_forecast.py checks it
    against ``load_dataset(..., as_of=...)``)."""
    p = panel[panel["m"].to_numpy() <= origin]  # a copy: renumbered in place below (reset_index would copy again)
    p.index = pd.RangeIndex(len(p))
    return p, _cut_spells(p, spells, origin, grace)


def _cut_spells(p: pd.DataFrame, spells: pd.DataFrame, origin: int, grace: int) -> pd.DataFrame:
    """:func:`cut_at`'s spells from its panel ``p`` (the rows up to ``origin``) and the spells before the cut (the
    full data's, or an earlier cut's: the later paid months are gone from ``p`` either way)."""
    row = _spell_rows(p, spells)
    m = p["m"].to_numpy()
    if len(row) and np.all(row[1:] >= row[:-1]):
        # each spell's rows one run (a panel in customer and month order): the largest month per run
        start = np.flatnonzero(np.concatenate([[True], row[1:] != row[:-1]]))
        last = pd.Series(np.maximum.reduceat(m, start), index=row[start])
    else:
        last = pd.Series(m).groupby(row).max()  # per spell row with a paid month up to origin
    del row
    last = last[last.index >= 0]
    s = spells.iloc[last.index.to_numpy()]
    s = s.assign(last_m=last.to_numpy().astype(np.int32))
    s = s.assign(duration=(s["last_m"] - s["start_m"] + 1).astype(np.int32),
                 event=periods.window_closed(s["last_m"].to_numpy(), 1, origin, grace).astype(np.int8))
    return s.reset_index(drop=True)


def new_business_by_month(panel: pd.DataFrame, spells: pd.DataFrame, first: int, last: int, *,
                          row: np.ndarray | None = None) -> pd.Series:
    """New + reactivation MRR per month ``first … last`` (month indices): the MRR of each spell's first paid
    month, for spells observed from their start (a spell entering late is the data window's opening balance):
    the movements' ``new`` + ``reactivation`` of :func:`csanalysis.metrics.mrr_movements`. ``row``: each panel
    row's spell row (:func:`_spell_rows`), when the caller has it."""
    row = _spell_rows(panel, spells) if row is None else row
    start = np.where(spells["entry"].to_numpy() == 0, spells["first_m"].to_numpy(dtype=np.int64), -1)
    m = panel["m"].to_numpy()
    first_rows = np.empty(len(panel), dtype=bool)
    for a in range(0, len(panel), _ROW_CHUNK):  # a chunk of rows at a time: no temporaries of the panel's length
        b = min(len(panel), a + _ROW_CHUNK)
        r = row[a:b]
        first_rows[a:b] = (r >= 0) & (m[a:b] == start[r])
    rows = panel[first_rows]
    return rows.groupby("m")["mrr"].sum().reindex(np.arange(first, last + 1), fill_value=0.0).astype(float)


def customer_churn_rate(panel: pd.DataFrame, spells: pd.DataFrame, origin: int, window: int) -> float:
    """The monthly customer churn rate of the last ``window`` months up to ``origin``: churns dated in them (a
    churned spell's month after its last paid one) ÷ customer-months at risk (customers paying in the month
    before), :func:`csanalysis.metrics.churn_summary`'s pooled rate when there is no grace period."""
    churn_m = spells.loc[spells["event"] == 1, "last_m"] + 1
    events = int(((churn_m > origin - window) & (churn_m <= origin)).sum())
    at_risk = int(((panel["m"] >= origin - window) & (panel["m"] <= origin - 1)).sum())
    return events / at_risk if at_risk else float("nan")


def new_business_trend(values: np.ndarray) -> tuple[float, float, np.ndarray]:
    """The log-linear trend of monthly new MRR ``values`` (the last month at t = 0, the first at t = −n + 1):
    least squares of ``log N_t = α + β t``; returns ``(α, β, residuals)``. Months at or below zero are raised to
    1% of the mean (a log needs a positive number); one month, or all months alike in t, give β = 0."""
    v = np.asarray(values, dtype=float)
    floor = max(1e-9, 0.01 * float(np.mean(v))) if len(v) else 1e-9
    y = np.log(np.maximum(v, floor))
    t = np.arange(-len(v) + 1, 1, dtype=float)
    return _fit_line(t, y)


def _fit_line(t: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray]:
    tc = t - t.mean()
    sxx = float(tc @ tc)
    beta = float(tc @ (y - y.mean()) / sxx) if sxx > 0 else 0.0
    alpha = float(y.mean() - beta * t.mean())
    return alpha, beta, y - (alpha + beta * t)


def _fit_lines(t: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`_fit_line` for each row of ``t`` and ``y`` (fits × months): ``(alpha, beta, residuals)``."""
    tc = t - t.mean(axis=1, keepdims=True)
    sxx = np.einsum("ij,ij->i", tc, tc)
    sxy = np.einsum("ij,ij->i", tc, y - y.mean(axis=1, keepdims=True))
    beta = np.where(sxx > 0, sxy / np.where(sxx > 0, sxx, 1.0), 0.0)
    alpha = y.mean(axis=1) - beta * t.mean(axis=1)
    return alpha, beta, y - (alpha[:, None] + beta[:, None] * t)


def _band_of(spell_month: np.ndarray) -> np.ndarray:
    return np.searchsorted(np.asarray(TENURE_BANDS), spell_month, side="right") - 1


def _codes(panel: pd.DataFrame, spells: pd.DataFrame) -> tuple[pd.Index, np.ndarray, np.ndarray]:
    """The spells' ids in order of first appearance, and each panel and spells row's position among them (−1 for
    none): ``get_indexer``, read from a lookup table when the ids are already non-negative integers (the codes of
    :func:`_engine_frames` and :func:`_integer_ids`: no hash table over the panel's rows)."""
    ids = pd.Index(pd.unique(spells["customer_id"]))
    if len(ids) and ids.dtype.kind in "iu" and int(ids[0]) == 0 and int(ids[-1]) == len(ids) - 1 \
            and ids.is_monotonic_increasing:
        # the codes already (distinct, rising from 0 to k − 1): each id is its own position, the panel's column
        # is returned as it is (no array of the panel's length built)
        pv = panel["customer_id"].to_numpy()
        if pv.dtype.kind not in "iu" or (len(pv) and (int(pv.min()) < 0 or int(pv.max()) >= len(ids))):
            pv = np.asarray(pv, dtype=np.int64)
            pv = np.where((pv >= 0) & (pv < len(ids)), pv, -1)
        return ids, pv.astype(np.int64, copy=False), spells["customer_id"].to_numpy(dtype=np.int64)
    if len(ids) and ids.dtype.kind in "iu" and int(ids.min()) >= 0:
        lut = np.full(int(ids.max()) + 1, -1, dtype=np.int64)
        lut[ids.to_numpy()] = np.arange(len(ids))
        pv = panel["customer_id"].to_numpy(dtype=np.int64)
        inside = (pv >= 0) & (pv < len(lut))
        pc = np.where(inside, lut[np.where(inside, pv, 0)], -1)
        return ids, pc, lut[spells["customer_id"].to_numpy(dtype=np.int64)]
    return ids, ids.get_indexer(panel["customer_id"]), ids.get_indexer(spells["customer_id"])


def _find(keys: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``pd.Index(keys).get_indexer(q)`` for unique ``keys``: the position of each of ``q`` in ``keys``, −1 where
    absent; by bisection when ``keys`` rise strictly (a panel in customer and month order: no hash table over its
    rows, which at 14M rows held about 0.5 GB)."""
    if len(keys) < 2 or not np.all(keys[1:] > keys[:-1]):
        return pd.Index(keys).get_indexer(q)
    i = np.minimum(np.searchsorted(keys, q), len(keys) - 1)
    return np.where(keys[i] == q, i, -1)


_ROW_CHUNK = 1 << 21  # panel rows whose temporaries are built at once


def _spell_rows(panel: pd.DataFrame, spells: pd.DataFrame) -> np.ndarray:
    """Per panel row, the row of its spell (customer and spell number) in ``spells``, −1 for none: the
    (customer, spell) pairs matched as one integer key."""
    _, pc, sc = _codes(panel, spells)
    s_sp, p_sp = spells["spell"].to_numpy(dtype=np.int64), panel["spell"].to_numpy()
    if not len(spells):
        return np.full(len(panel), -1, dtype=np.int64)
    lo, n = int(s_sp.min()), int(s_sp.max() - s_sp.min()) + 1
    skey = sc * n + (s_sp - lo)
    find = _find if len(skey) < 2 or np.all(skey[1:] > skey[:-1]) else pd.Index(skey).get_indexer
    out = np.empty(len(panel), dtype=np.int64)
    for a in range(0, len(panel), _ROW_CHUNK):  # a chunk of rows at a time: no temporaries of the panel's length
        b = min(len(panel), a + _ROW_CHUNK)
        pcc, psp = pc[a:b], p_sp[a:b].astype(np.int64)
        pkey = np.where((pcc >= 0) & (psp >= lo) & (psp < lo + n), pcc * n + (psp - lo), -1)
        out[a:b] = find(skey, pkey) if find is _find else find(pkey)
    return out


def _integer_ids(panel: pd.DataFrame, spells: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.Index]:
    """The frames with each ``customer_id`` replaced by its position among the spells' ids in order of first
    appearance (:func:`_codes`), and those ids: the same codes, groups and orders, the strings hashed once."""
    ids, pc, sc = _codes(panel, spells)
    coded = panel.copy(deep=False)  # the other columns shared, not copied
    if not (len(pc) and np.shares_memory(pc, panel["customer_id"].to_numpy())):  # already the codes: not copied
        coded["customer_id"] = pc
    return coded, spells.assign(customer_id=sc), ids


def _renumber(codes: np.ndarray, spells: pd.DataFrame, *, in_place: bool) -> tuple[np.ndarray, pd.DataFrame]:
    """Integer customer ``codes`` (of panel rows) and the ``spells``' codes replaced by their positions among the
    spells' codes in order of first appearance (:func:`_codes`; −1 for a code not among them); ``codes`` rewritten
    in place when ``in_place``, a chunk of rows at a time."""
    sc = spells["customer_id"].to_numpy(dtype=np.int64)
    ids = pd.unique(sc)
    top = max(int(ids.max()) if len(ids) else 0, int(codes.max()) if len(codes) else 0)
    lut = np.full(top + 2, -1, dtype=np.int64)  # its last entry, −1, is where a code of −1 looks
    lut[ids] = np.arange(len(ids))
    out = codes if in_place else np.empty(len(codes), dtype=np.int64)
    for a in range(0, len(codes), _ROW_CHUNK):
        b = min(len(codes), a + _ROW_CHUNK)
        np.take(lut, codes[a:b], out=out[a:b])
    return out, spells.assign(customer_id=lut[sc])


def _growth_sums(panel: pd.DataFrame, codes: np.ndarray, k: int, origin: int, window: int) -> np.ndarray:
    """k × (2 · bands): per customer, for each tenure band, Σ MRR(k) then Σ MRR(k + 1) over its pairs of
    consecutive paid months of one spell whose later month is among the last ``window`` months up to ``origin``."""
    m = panel["m"].to_numpy()
    mrr = panel["mrr"].to_numpy(dtype=float)
    nb = len(TENURE_BANDS)
    if not len(panel):
        return np.zeros((k, 2 * nb))
    # (customer, spell, month) as one integer key: a row's next paid month of its spell has the key + 1
    sp = panel["spell"].to_numpy()
    sp_lo, m_lo = int(sp.min()), int(m.min())
    n_sp, n_m = int(sp.max()) - sp_lo + 1, int(m.max()) - m_lo + 2
    # (codes · n_sp + spell − lo) · n_m + m − lo, in place: one array of the panel's length, not five
    key = np.array(codes, dtype=np.int64)
    key *= n_sp
    key += sp
    key -= sp_lo
    key *= n_m
    key += m
    key -= m_lo
    first = np.flatnonzero((m >= origin - window) & (m <= origin - 1))  # pairs whose later month is in the window
    if len(key) < 2 or np.all(key[1:] > key[:-1]):
        # keys rising strictly (the panel in customer and month order): the key + 1, when present, is the next row
        nxt = np.minimum(first + 1, len(key) - 1)
        nxt = np.where(key[nxt] == key[first] + 1, nxt, -1)
    else:
        nxt = _find(key, key[first] + 1)
    del key
    at, nxt = first[nxt >= 0], nxt[nxt >= 0]
    band = _band_of(panel["spell_month"].to_numpy()[at])
    code_at = np.asarray(codes)[at]
    out = np.zeros((k, 2 * nb))
    for b in range(nb):  # per band the pairs of that band, in row order: the sums of a rows × columns bincount
        i = np.flatnonzero(band == b)
        if len(i):
            out[:, b] = np.bincount(code_at[i], weights=mrr[at[i]], minlength=k)
            out[:, nb + b] = np.bincount(code_at[i], weights=mrr[nxt[i]], minlength=k)
    return out


def risk_matrices(panel: pd.DataFrame, spells: pd.DataFrame, pcodes: np.ndarray, scodes: np.ndarray, k: int,
                  length: int, weight: str = "mrr", *, row: np.ndarray | None = None, at_risk: bool = False):
    """Per customer (k rows) and spell month (``length`` columns): what is at risk of churn in month ``t`` of a
    spell (its paid month ``t − 1``, when month ``t`` is observed) and what churned in month ``t`` (a churned
    spell's last paid month, at ``t = T``), in MRR (``weight="mrr"``) or in spells (``"spells"``). Sparse.
    ``row``: each panel row's spell row (:func:`_spell_rows`), when the caller has it. ``at_risk``: also return
    the spells at risk per spell month (the column sums of the ``"spells"`` matrix, as integers)."""
    from scipy import sparse

    T = (spells["duration"] - (1 - spells["event"])).to_numpy(dtype=np.int64)
    E = spells["event"].to_numpy() == 1
    row = _spell_rows(panel, spells) if row is None else row
    sm = panel["spell_month"].to_numpy()
    mrr = panel["mrr"].to_numpy(dtype=float)
    n = len(panel)
    # the rows at risk and the churns, a chunk of rows at a time (no temporaries of the panel's length)
    risk, ev = np.empty(n, dtype=bool), np.empty(n, dtype=bool)
    counts = np.zeros(length, dtype=np.int64)
    for a in range(0, n, _ROW_CHUNK):
        b = min(n, a + _ROW_CHUNK)
        r, t = row[a:b], sm[a:b].astype(np.int64) + 1
        Tr = T[r]
        risk[a:b] = (t <= Tr) & (t < length)
        ev[a:b] = risk[a:b] & E[r] & (t == Tr)
        if at_risk:
            counts += np.bincount(t[risk[a:b]], minlength=length)[:length]
    idx = np.int32 if max(k, length) < 2**31 else np.int64  # the sparse matrices' own index type

    def matrix(mask):
        m = int(np.count_nonzero(mask))
        w, i, j = np.empty(m), np.empty(m, dtype=idx), np.empty(m, dtype=idx)
        at = 0
        for a in range(0, n, _ROW_CHUNK):
            b = min(n, a + _ROW_CHUNK)
            sel = mask[a:b]
            c = int(np.count_nonzero(sel))
            # a purchase log's month can sum to 0 or below: it weighs nothing
            w[at:at + c] = np.maximum(mrr[a:b][sel], 0.0) if weight == "mrr" else 1.0
            i[at:at + c] = pcodes[a:b][sel]
            j[at:at + c] = sm[a:b][sel].astype(np.int64) + 1
            at += c
        return sparse.csr_matrix((w, (i, j)), shape=(k, length))

    A = matrix(risk)
    D = matrix(ev)
    return (A, D, counts) if at_risk else (A, D)


def survival_curves(A, D, W: np.ndarray, reach: int, length: int, scale: float = 1.0) -> np.ndarray:
    """Replicates × ``length``: the Kaplan–Meier curve ``S(0 … reach)`` from the at-risk and churn sums of
    :func:`risk_matrices` weighted by each row of account weights ``W`` (``S(t) = Π_{j≤t} (1 − D_j ÷ A_j)``),
    continued after ``reach`` with the last hazard (the mean monthly hazard of its last 12 months; module
    docstring). ``scale`` multiplies every hazard (capped at 1): the target-churn scenario."""
    return _km_from_sums(*replicate_sums([W], A, D), reach, length, scale)


def _km_from_sums(a: np.ndarray, d: np.ndarray, reach: int, length: int, scale: float = 1.0) -> np.ndarray:
    """:func:`survival_curves` from the replicates' at-risk and churn sums ``a``, ``d`` (replicates × months)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        hz = np.where(a > 0, d / np.where(a > 0, a, 1), 0.0)
    hz[:, 0] = 0.0
    hz = np.minimum(hz * scale, 1.0)
    S = np.cumprod(1 - hz[:, :reach + 1], axis=1)
    w = min(12, reach)
    out = np.empty((S.shape[0], max(length, reach + 1)))
    out[:, :reach + 1] = S
    if length > reach + 1:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(S[:, reach - w] > 0, S[:, reach] / S[:, reach - w], 0.0) if w > 0 else np.ones(len(S))
        keep = np.power(np.clip(ratio, 0.0, 1.0), 1.0 / max(w, 1))  # 1 − λ
        j = np.arange(1, length - reach)
        out[:, reach + 1:] = S[:, [reach]] * keep[:, None] ** j[None, :]
    return out[:, :length]


def sbg_counts(panel: pd.DataFrame, spells: pd.DataFrame, scodes: np.ndarray, k: int, weight: str = "mrr"):
    """Per customer (k rows) and spell month: the sBG's churned and censored counts (sparse) of the spells
    observed from their start (``entry == 0``): a churned spell counts at its churn month ``T`` (its paid months
    0 … T − 1), a censored one at its last observed month. Each spell counts 1 (``weight="spells"``) or the MRR
    of its first paid month (``"mrr"``)."""
    from scipy import sparse

    ok = (spells["entry"] == 0).to_numpy()
    T = (spells["duration"] - (1 - spells["event"])).to_numpy(dtype=np.int64)
    L = max(int(T[ok].max()) + 1 if ok.any() else 0, 3)
    if weight == "mrr":
        first = panel[panel["spell_month"] == 0]
        row = _spell_rows(first, spells)  # each first month's spell; spells have one first month each
        at = np.full(len(spells), -1, dtype=np.int64)
        at[row[row >= 0]] = np.flatnonzero(row >= 0)
        w = np.where(at >= 0, np.maximum(first["mrr"].to_numpy(dtype=float)[np.maximum(at, 0)], 0.0), 0.0)
    else:
        w = np.ones(len(spells))
    ev = spells["event"].to_numpy() == 1
    Dm = sparse.csr_matrix((w[ok & ev], (scodes[ok & ev], T[ok & ev])), shape=(k, L))
    Cm = sparse.csr_matrix((w[ok & ~ev], (scodes[ok & ~ev], T[ok & ~ev])), shape=(k, L))
    return Dm, Cm


def sbg_curves(Dm, Cm, W: np.ndarray, length: int, fit=None, scale: float = 1.0) -> tuple[np.ndarray, list]:
    """Replicates × ``length``: the sBG survival fitted to the counts of :func:`sbg_counts` weighted by each row
    of account weights ``W``, ``S(t) = Π_{j≤t} (1 − h_j)`` with the sBG's churn rate
    ``h_j = α / (α + β + j − 1)``
    (each hazard times ``scale``, capped at 1); and the (α, β) of each row. Without ``fit`` each row is fitted by
    maximum likelihood (:func:`csanalysis.projection.fit_sbg_counts`); with ``fit`` (the full data's) each row
    takes one Newton step from it (:func:`csanalysis.projection.sbg_newton_step`, the one-step bootstrap)."""
    from .projection import fit_sbg_counts, sbg_newton_step

    d, c = replicate_sums([W], Dm, Cm)
    t = np.arange(1, length)
    out, ab = np.ones((len(W), length)), []
    for i in range(len(W)):
        a, b = ((f := fit_sbg_counts(d[i], c[i])).alpha_, f.beta_) if fit is None else \
            sbg_newton_step(d[i], c[i], fit[0], fit[1])
        ab.append((a, b))
        out[i, 1:] = np.cumprod(1 - np.minimum(scale * a / (a + b + t - 1), 1.0))
    return out, ab


# ----------------------------------------------------------------------------------------------- who stays

_STAY_CELLS = 2_000_000  # replicates × today's customers of uniforms drawn and compared at once


def _kept_mrr(u: np.ndarray, p: np.ndarray, inv: np.ndarray, mrr: np.ndarray) -> np.ndarray:
    """Replicates × groups × H: per group of today's customers, the MRR of those still paying at h = 1 … H, a
    customer ``i`` (group ``inv[i]``, customers in group order, MRR ``mrr[i]``) still paying at h in replicate
    ``r`` when its uniform ``u[r, i]`` is below its group's conditional survival ``p[r, inv[i], h − 1]``.

    That is ``Σ_i [inv[i] = g] · mrr[i] · [u[r, i] < p[r, g, h − 1]]`` (tests/test_forecast.py checks it), read
    without a replicates × customers × H array: ``p`` falls with h (a conditional survival), so the months a
    customer pays are h = 1 … D, ``D`` the number of h with ``u < p``; the MRR is added up per (replicate, group,
    D) and then over every D ≥ h."""
    c, n = u.shape
    G, H = p.shape[1], p.shape[2]
    if n and np.any(np.diff(inv) < 0):
        raise ValueError("_kept_mrr: customers must come in group order (inv sorted)")
    sizes = np.bincount(inv, minlength=G)
    by_h = np.ascontiguousarray(np.moveaxis(p, 2, 0))  # H × replicates × groups
    D = np.zeros((c, n), dtype=np.int8 if H < 127 else np.int64)
    for h in range(H):
        D += u < np.repeat(by_h[h], sizes, axis=1)
    B = np.empty((c, G * (H + 1)))
    cell = inv.astype(np.int64) * (H + 1)
    for r in range(c):
        B[r] = np.bincount(cell + D[r], weights=mrr, minlength=G * (H + 1))
    return np.cumsum(B.reshape(c, G, H + 1)[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:]


# ----------------------------------------------------------------------------------------------- the forecast


@dataclass
class Forecast(TableSummary):
    """The forecast of :func:`forecast` (module docstring): ``table_`` one row per future month (``h``,
    ``month``, ``lower``, ``base``, ``upper`` (the band), ``lower95``, ``upper95``, ``expected``, ``retained``,
    ``expansion``, ``new``,
    ``contracted``, ``forecast_existing``, the scenario's ``scenario`` (median), ``scenario_expected`` (under the
    point estimates), ``scenario_diff`` and its band
    ``scenario_diff_lower``/``scenario_diff_upper``); ``history_`` the actual MRR per month; the inputs."""

    origin_: pd.Timestamp
    mrr_now_: float
    customers_now_: int
    table_: pd.DataFrame
    history_: pd.DataFrame
    new_business_: pd.Series
    new_level_: float
    tail_hazard_: float
    reach_: int
    growth_: pd.DataFrame
    band: float = 0.8
    target_churn: float = DEFAULT_TARGET_CHURN
    new_growth: float | None = None
    scenario_new_growth: float | None = None
    new_trend_: float = 0.0
    churn_now_: float = float("nan")
    weight: str = "mrr"
    contracts_used: bool = False
    n_sims: int = 0
    sims_: np.ndarray | None = field(default=None, repr=False)
    survival: str = "km"
    sbg_: tuple[float, float] | None = None

    @property
    def summary(self) -> pd.DataFrame:
        return self.table_

    def at(self, h: int) -> Estimate:
        """MRR ``h`` months ahead: the base with its band."""
        r = self.table_.loc[self.table_["h"] == h].iloc[0]
        return Estimate(f"mrr_{h}m", float(r["base"]), float(r["lower"]), float(r["upper"]),
                        interval=f"{self.band:.0%} simulation band (10th–90th percentiles)")

    def at95(self, h: int) -> Estimate:
        """MRR ``h`` months ahead with the 95% simulation interval (2.5th–97.5th percentiles): the interval the
        front page and ``metrics.json`` estimates carry by convention (csanalysis/estimate.py)."""
        r = self.table_.loc[self.table_["h"] == h].iloc[0]
        return Estimate(f"mrr_{h}m", float(r["base"]), float(r["lower95"]), float(r["upper95"]),
                        interval="95% simulation interval (2.5th–97.5th percentiles)")

    def scenario_at(self, h: int) -> Estimate:
        r = self.table_.loc[self.table_["h"] == h].iloc[0]
        return Estimate(f"scenario_diff_{h}m", float(r["scenario_diff"]), float(r["scenario_diff_lower"]),
                        float(r["scenario_diff_upper"]))

    def metrics(self) -> dict:
        t = self.table_.set_index("h")
        hs = [h for h in (3, 6, 12) if h in t.index]
        return {
            "origin": self.origin_.strftime("%Y-%m-%d"), "mrr_now": self.mrr_now_,
            "customers_now": self.customers_now_, "band": self.band,
            "mrr": {f"{h}m": self.at(h).brief() for h in hs},
            "mrr_95": {f"{h}m": self.at95(h).brief() for h in hs},
            "parts": {f"{h}m": {k: float(t.loc[h, k]) for k in ("retained", "expansion", "new", "contracted")}
                      for h in hs},
            "new_business_level": self.new_level_, "new_business_trend": self.new_trend_,
            "tail_hazard": self.tail_hazard_, "weight": self.weight, "survival": self.survival,
            "sbg": None if self.sbg_ is None else {"alpha": self.sbg_[0], "beta": self.sbg_[1]},
            "scenario": {"target_churn": self.target_churn, "churn_now": self.churn_now_,
                         "new_growth": self.scenario_new_growth,
                         **{f"diff_{h}m": self.scenario_at(h).brief() for h in hs},
                         **{f"mrr_{h}m": float(t.loc[h, "scenario"]) for h in hs}},
            "contracts_used": self.contracts_used, "n_sims": self.n_sims,
        }


def _contract_months(customers: pd.DataFrame | None, ids: np.ndarray, origin: int, horizon: int) -> np.ndarray:
    """Per id: the future months (0 … horizon) that end before its ``renewal_date`` (0 without one)."""
    if customers is None or "renewal_date" not in customers.columns:
        return np.zeros(len(ids), dtype=np.int64)
    r = pd.to_datetime(customers.set_index("customer_id")["renewal_date"], errors="coerce").reindex(ids)
    m = np.asarray(periods.month_index(r.fillna(pd.Timestamp("1900-01-01"))), dtype=np.int64)
    k = np.where(r.notna().to_numpy(), m - origin - 1, 0)
    return np.clip(k, 0, horizon)


def forecast_panel(panel: pd.DataFrame, spells: pd.DataFrame, origin: int, *, customers: pd.DataFrame | None = None,
                   horizon: int = 12, window: int = 12, new_window: int = 24,
                   new_growth: float | None = None, weight: str = "mrr", target_churn: float = DEFAULT_TARGET_CHURN,
                   scenario_new_growth: float | None = None,
                   n_sims: int = 400, band: float = 0.8, min_at_risk: int = 30, seed: int = 0,
                   keep_sims: bool = False, survival: str = "km", scenario: bool = True) -> Forecast:
    """The forecast from engine-form frames (:func:`forecast` on a Dataset; :func:`backtest` at earlier months).

    Parameters are those of :func:`forecast`; ``customers`` (with ``renewal_date``) gives contracted months,
    None for none; ``scenario=False`` leaves the scenario out of the simulations (its simulated columns NaN: the
    back-test's forecasts, which compare only the band)."""
    if not 0 < band < 1:
        raise ValueError(f"band={band!r}: the band's coverage is a share between 0 and 1 (0.8: 10th–90th "
                         "percentiles)")
    if not 0 <= target_churn < 1:
        raise ValueError(f"target_churn={target_churn!r}: a monthly churn probability, 0 ≤ p < 1 (0.0084 is 0.84%)")
    if weight not in ("mrr", "spells"):
        raise ValueError(f"weight={weight!r}: use 'mrr' (share of MRR still paying) or 'spells' (share of customers)")
    if survival not in ("km", "sbg"):
        raise ValueError(f"survival={survival!r}: use 'km' (Kaplan–Meier curve of every spell) or 'sbg' (the "
                         "shifted-beta-geometric model fitted to the spells observed from their start)")
    if horizon < 1 or window < 1 or n_sims < 10:
        raise ValueError(f"horizon={horizon!r}, window={window!r}, n_sims={n_sims!r}: horizon and window ≥ 1 month, "
                         "n_sims ≥ 10")
    scenario_new_growth = new_growth if scenario_new_growth is None else scenario_new_growth
    # the data window's first month is its opening balance: new business is read from the months after it
    new_window = max(1, min(int(new_window or window), origin - int(panel["m"].min())))
    H = int(horizon)
    panel, spells, cids = _integer_ids(panel, spells)  # customers as integers from here on
    ids, pcodes, scodes = _codes(panel, spells)
    k = len(ids)
    now = panel[panel["m"] == origin]
    if not len(now):
        raise ValueError(f"forecast: no customer pays in the origin month {periods.month_label(origin)}: "
                         "nothing to forecast from")
    mrr = now["mrr"].to_numpy(dtype=float)
    age = now["spell_month"].to_numpy(dtype=np.int64)
    kc = _contract_months(customers, cids[now["customer_id"].to_numpy()], origin, H)
    T = (spells["duration"] - (1 - spells["event"])).to_numpy(dtype=np.int64)
    # spell months 0 … length − 1: today's customers' h months ahead, and every month a spell was followed
    length = max(int(age.max()) + H + 2, int(T.max()) + 2)
    sm = np.arange(length)
    bands = _band_of(sm)
    nb = len(TENURE_BANDS)
    G = _growth_sums(panel, pcodes, k, origin, window)
    srow = _spell_rows(panel, spells)  # each panel row's spell, matched once
    A, D, counts = risk_matrices(panel, spells, pcodes, scodes, k, length, weight, row=srow, at_risk=True)
    if survival == "sbg":
        Dm, Cm = sbg_counts(panel, spells, scodes, k, weight)
        sbg_ab = sbg_curves(Dm, Cm, np.ones((1, k)), length)[1][0]
    # the curve's reach: the last spell month with at least min_at_risk spells at risk (its own risk sets)
    ok = np.flatnonzero(counts >= min_at_risk)
    reach = max(int(ok.max()) if len(ok) else 0, 1)
    churn_now = customer_churn_rate(panel, spells, origin, window)
    rho = target_churn / churn_now if churn_now > 0 else 1.0
    newm = new_business_by_month(panel, spells, origin - new_window + 1, origin, row=srow).to_numpy()
    hist = panel.groupby("m")["mrr"].sum()
    n_spells = len(spells)
    del srow, pcodes, scodes, now, panel, spells  # the rows' arrays: the simulations need only the sums above
    nb_t = np.arange(-new_window + 1, 1, dtype=float)
    nb_y = np.log(np.maximum(newm, max(1e-9, 0.01 * float(np.mean(newm)))))
    alpha_n, beta_n, resid_n = new_business_trend(newm)
    hs = np.arange(1, H + 1)
    lo_q, hi_q = (1 - band) / 2, 1 - (1 - band) / 2

    def curves(W):
        """Survival S, the scenario's survival and cumulative log growth CL (replicates × length) for account
        weights W."""
        if survival == "sbg":
            S, ab = sbg_curves(Dm, Cm, W, length, fit=sbg_ab)
            S_s = sbg_curves(Dm, Cm, W, length, fit=sbg_ab, scale=rho)[0] if scenario or len(W) == 1 else S
        else:
            a, d = replicate_sums([W], A, D)  # once for the base and the scenario
            S = _km_from_sums(a, d, reach, length)
            S_s = _km_from_sums(a, d, reach, length, scale=rho) if scenario or len(W) == 1 else S
        before, after = replicate_sums([W], G[:, :nb], G[:, nb:])
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.where(before > 0, after / np.where(before > 0, before, 1), 1.0)
        logg = np.log(np.clip(g, 1e-9, None))[:, bands]
        CL = np.concatenate([np.zeros((len(W), 1)), np.cumsum(logg, axis=1)], axis=1)[:, :length]
        return S, S_s, CL

    # today's customers fall into few groups of (spell month, contracted months): the curves are read per group
    groups, inv = np.unique(np.stack([age, kc], axis=1), axis=0, return_inverse=True)
    inv = inv.ravel()
    g_ah = groups[:, :1] + hs[None, :]  # spell month h months ahead
    g_c = groups[:, :1] + np.minimum(hs[None, :], groups[:, 1:2])  # the month the survival is conditioned at
    mrr_g = np.bincount(inv, weights=mrr, minlength=len(groups))

    def existing(S, CL):
        """MRR of today's customers at h = 1..H (vectors of H) for one curve (S, CL vectors) under the point
        estimates: at today's MRR, and with expansion."""
        with np.errstate(divide="ignore", invalid="ignore"):
            p = np.where(S[g_c] > 0, S[g_ah] / np.where(S[g_c] > 0, S[g_c], 1), 0.0)  # groups × H
        return mrr_g @ p, mrr_g @ (p * np.exp(CL[g_ah] - CL[g_c]))

    def new_part(S, CL, levels):
        """New business at h = 1..H for monthly new MRR ``levels`` of months 1..H (rows: replicates, each with
        its own curves S, CL): month f's new MRR is, at h ≥ f,
        ``levels[f] · S(h − f) / S(0) · exp(CL(h − f))``."""
        S, CL, levels = np.atleast_2d(S), np.atleast_2d(CL), np.atleast_2d(levels)
        kernel = S[:, :H] / S[:, :1] * np.exp(CL[:, :H])  # a month's new MRR j months after it started
        out = np.zeros_like(levels)
        for j in range(H):
            out[:, j:] += levels[:, :H - j] * kernel[:, j:j + 1]
        return out

    # point estimates
    ones = np.ones((1, k))
    S0, Ss0, CL0 = (x[0] for x in curves(ones))
    level = float(np.exp(alpha_n))  # the trend's value in the origin month
    smear = float(np.mean(np.exp(resid_n)))

    def new_levels(alpha, beta, growth):
        """New MRR of months 1..H (rows: one per trend ``alpha``, ``beta``): the trend's, or the level grown by
        ``growth`` a month."""
        alpha, beta = np.atleast_1d(alpha)[:, None], np.atleast_1d(beta)[:, None]
        return np.exp(alpha + beta * hs) if growth is None else np.exp(alpha) * (1 + growth) ** hs
    retained, exp_total = existing(S0, CL0)
    new = new_part(S0, CL0, smear * new_levels(alpha_n, beta_n, new_growth))[0]
    contracted = (mrr[:, None] * (kc[:, None] >= hs[None, :])).sum(axis=0)
    _, scen_grow = existing(Ss0, CL0)
    scen_expected = scen_grow + new_part(Ss0, CL0, smear * new_levels(alpha_n, beta_n, scenario_new_growth))[0]

    # simulations, a block of bootstrap replicates at a time; who stays is drawn for chunks of replicates small
    # enough that their customers × months arrays stay a few million cells
    rng = np.random.default_rng(seed)
    sims = np.empty((n_sims, H))
    scen = np.empty((n_sims, H))
    order = np.argsort(inv, kind="stable")  # today's customers by group, as the uniforms are drawn
    mrr_o, inv_o = mrr[order], inv[order]
    chunk = max(1, _STAY_CELLS // max(1, len(mrr)))
    r = 0
    for W in count_weights(rng, k, n_sims, width=max(k, n_spells)):
        S_b, Ss_b, CL_b = curves(W)
        R = len(W)
        # new business: each replicate's line refitted to resampled months, times one residual per future month
        pick = rng.integers(0, len(newm), size=(R, len(newm)))
        a_r, b_r, res_r = _fit_lines(nb_t[pick], nb_y[pick])
        noise = np.exp(np.take_along_axis(res_r, rng.integers(0, len(newm), size=(R, H)), axis=1))
        new_b = new_part(S_b, CL_b, noise * new_levels(a_r, b_r, new_growth))
        new_s = new_part(Ss_b, CL_b, noise * new_levels(a_r, b_r, scenario_new_growth))
        # today's customers: still paying at h when their uniform is below their conditional survival
        with np.errstate(divide="ignore", invalid="ignore"):
            p_b = np.where(S_b[:, g_c] > 0, S_b[:, g_ah] / np.where(S_b[:, g_c] > 0, S_b[:, g_c], 1), 0.0)
            p_s = np.where(Ss_b[:, g_c] > 0, Ss_b[:, g_ah] / np.where(Ss_b[:, g_c] > 0, Ss_b[:, g_c], 1), 0.0)
        grow = np.exp(CL_b[:, g_ah] - CL_b[:, g_c])  # replicates × groups × H
        for lo in range(0, R, chunk):
            sl = slice(lo, min(R, lo + chunk))
            u = rng.random((sl.stop - sl.start, len(mrr)))  # one uniform per customer (in group order) and replicate
            for p_, out, nw in ((p_b, sims, new_b), (p_s, scen, new_s))[:2 if scenario else 1]:
                kept = _kept_mrr(u, p_[sl], inv_o, mrr_o)
                out[r + sl.start:r + sl.stop] = (kept * grow[sl]).sum(axis=1) + nw[sl]
        r += R
    if not scenario:
        scen[:] = np.nan
    diff = scen - sims
    q = lambda a, p: np.quantile(a, p, axis=0)  # noqa: E731
    months = [periods.month_start(origin + int(h)) for h in hs]
    table = pd.DataFrame({
        "h": hs, "month": months, "lower": q(sims, lo_q), "base": q(sims, 0.5), "upper": q(sims, hi_q),
        "lower95": q(sims, 0.025), "upper95": q(sims, 0.975),
        "expected": exp_total + new, "retained": retained, "expansion": exp_total - retained, "new": new,
        "contracted": contracted, "forecast_existing": exp_total - contracted,
        "scenario": q(scen, 0.5), "scenario_expected": scen_expected, "scenario_diff": q(diff, 0.5),
        "scenario_diff_lower": q(diff, lo_q),
        "scenario_diff_upper": q(diff, hi_q),
    })
    history = pd.DataFrame({"month": [periods.month_start(int(m)) for m in hist.index], "mrr": hist.to_numpy()})
    before, after = G[:, :nb].sum(axis=0), G[:, nb:].sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        growth = pd.DataFrame({"band_from": TENURE_BANDS, "mrr_before": before, "mrr_after": after,
                               "rate": np.where(before > 0, after / np.where(before > 0, before, 1) - 1, np.nan)})
    w = min(12, reach)
    tail = float(1 - (S0[reach] / S0[reach - w]) ** (1 / w)) if w and S0[reach - w] > 0 else float("nan")
    if survival == "sbg":  # the sBG needs no tail: its own churn rate at the curve's reach
        tail = float(1 - S0[reach + 1] / S0[reach]) if S0[reach] > 0 else float("nan")
    return Forecast(origin_=periods.month_start(origin), mrr_now_=float(mrr.sum()), customers_now_=int(len(mrr)),
                    table_=table, history_=history,
                    new_business_=pd.Series(newm, index=[periods.month_start(origin - new_window + 1 + i)
                                                         for i in range(len(newm))], name="new_mrr"),
                    new_level_=level, tail_hazard_=tail, reach_=reach, growth_=growth, band=band,
                    target_churn=target_churn, new_growth=new_growth, scenario_new_growth=scenario_new_growth,
                    new_trend_=float(np.exp(beta_n) - 1), weight=weight, churn_now_=churn_now,
                    contracts_used=bool(kc.any()), n_sims=n_sims, sims_=sims if keep_sims else None,
                    survival=survival, sbg_=sbg_ab if survival == "sbg" else None)


def unavailable(ds: Dataset) -> str | None:
    """Why these data give nothing to forecast from, as a message key of the report catalogue
    (``forecast.reason.no_payers``: no customer pays in the ``as_of`` month), or None."""
    p = ds.engine_table("panel")
    return None if int(p.filter(p.m == ds.as_of_m).count().execute()) else "forecast.reason.no_payers"


def missing_metrics(ds: Dataset, reason: str, *, horizon: int = 12, band: float = 0.8,
                    target_churn: float = DEFAULT_TARGET_CHURN, n_sims: int = 400) -> dict:
    """The forecast's part of ``metrics.json`` when there is no forecast (:func:`unavailable`): every estimate
    null with ``reason`` (a sentence)."""
    miss = Estimate.missing(reason).brief()
    hs = [f"{h}m" for h in (3, 6, 12) if h <= horizon]
    return {"origin": ds.as_of_month.strftime("%Y-%m-%d"), "mrr_now": 0.0, "customers_now": 0, "band": band,
            "mrr": {h: miss for h in hs}, "mrr_95": {h: miss for h in hs}, "parts": {},
            "new_business_level": None, "new_business_trend": None, "tail_hazard": None, "weight": None,
            "survival": None, "sbg": None,
            "scenario": {"target_churn": target_churn, "churn_now": None, "new_growth": None},
            "contracts_used": False, "n_sims": n_sims}


def _engine_frames(ds: Dataset) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame | None]:
    """The engine-form panel and spells of ``ds`` with each ``customer_id`` replaced by its position among the
    spells' ids in order of first appearance (the codes :func:`_integer_ids` gives), and the customers'
    ``renewal_date`` keyed by the same codes (None without the column). The panel is read from the engine with
    the codes joined there (:func:`csanalysis.data.keys.panel_rows`: no text id per customer-month comes into
    pandas), in the pandas panel's order (customer, month) when the spells list their customers sorted, as the
    loader's do; otherwise the pandas panel is converted."""
    from .data.keys import panel_rows

    spells = spells_from_pandas(ds.spells)
    ids = pd.Index(pd.unique(spells["customer_id"]))
    if ids.is_monotonic_increasing:
        panel = panel_rows(ds, ids, ("mrr", "spell", "spell_month"), frame=True).rename(columns={"row": "customer_id"})
        panel["customer_id"] = panel["customer_id"].astype(np.int64)
    else:
        panel = panel_from_pandas(ds.panel)
        panel["customer_id"] = ids.get_indexer(panel["customer_id"])
    spells["customer_id"] = ids.get_indexer(spells["customer_id"])
    renewals = None
    c = ds.customer_columns(["customer_id", "renewal_date"])  # not the customers' other columns
    if "renewal_date" in c.columns:
        code = ids.get_indexer(c["customer_id"].astype(str))
        renewals = pd.DataFrame({"customer_id": code[code >= 0], "renewal_date": c["renewal_date"].to_numpy()[code >= 0]})
    return panel, spells, renewals


def forecast(ds: Dataset, *, horizon: int = 12, window: int = 12, new_window: int = 24,
             new_growth: float | None = None, weight: str = "mrr",
             target_churn: float = DEFAULT_TARGET_CHURN, scenario_new_growth: float | None = None,
             contracts: bool = True, n_sims: int = 400, band: float = 0.8, min_at_risk: int = 30,
             seed: int = 0, survival: str = "km") -> Forecast:
    """MRR for each of the next ``horizon`` months from the ``as_of`` month, with its band (module docstring).

    Parameters
    ----------
    ds : Dataset
        The loaded data (a subscription or purchase log; a snapshot has no monthly MRR).
    horizon : int
        Months ahead.
    window : int
        Months of history the expansion rates and the new-business level are read from.
    new_window : int
        Months of new business the trend is fitted to (at most the months after the data window's first).
    new_growth : float, optional
        Monthly growth of new business in the base (None: the fitted log-linear trend; 0: the trend's current
        level held).
    weight : {'mrr', 'spells'}
        The survival curve's weights: MRR (the share of MRR still paying; default) or spells (the share of
        customers).
    target_churn : float
        The scenario's monthly churn (default 0.84%).
    scenario_new_growth : float, optional
        The scenario's monthly growth of new business (None: ``new_growth``).
    contracts : bool
        Treat the months before each customer's ``renewal_date`` as contracted (when the column exists).
    n_sims : int
        Simulations (bootstrap resamples of accounts, each with its own draws).
    band : float
        The band's coverage (0.8: 10th–90th percentiles).
    min_at_risk : int
        Fewest spells at risk for a month of the survival curve; later months use the last hazard.
    seed : int
        The random seed.
    survival : {'km', 'sbg'}
        Today's customers' survival: the Kaplan–Meier curve of every spell (default), or the sBG projection
        (:mod:`csanalysis.projection`) fitted to the spells observed from their start (module docstring).

    Returns
    -------
    Forecast
    """
    panel, spells, renewals = _engine_frames(ds)
    return forecast_panel(panel, spells, ds.as_of_m, customers=renewals if contracts else None,
                          horizon=horizon, window=window, new_window=new_window, new_growth=new_growth,
                          weight=weight, target_churn=target_churn,
                          scenario_new_growth=scenario_new_growth, n_sims=n_sims, band=band,
                          min_at_risk=min_at_risk, seed=seed, survival=survival)


# ----------------------------------------------------------------------------------------------- the back-test


@dataclass
class Backtest(TableSummary):
    """The rolling-origin back-test of :func:`backtest`: ``detail_`` one row per origin and horizon (``origin``,
    ``h``, ``month``, ``actual``, ``base``, ``lower``, ``upper``, ``ape``, ``inside``); ``summary`` per horizon
    of :data:`HORIZONS` the MAPE, the coverage and the origins they rest on."""

    detail_: pd.DataFrame
    n_origins: int
    band: float = 0.8

    @property
    def summary(self) -> pd.DataFrame:
        d = self.detail_
        rows = []
        for h in HORIZONS:
            x = d[d["h"] == h]
            rows.append({"h": h, "mape": float(x["ape"].mean()) if len(x) else np.nan,
                         "coverage": float(x["inside"].mean()) if len(x) else np.nan, "origins": int(len(x))})
        return pd.DataFrame(rows)

    @property
    def coverage_(self) -> float:
        """Share of every (origin, horizon) actual inside the band."""
        return float(self.detail_["inside"].mean()) if len(self.detail_) else float("nan")

    def metrics(self) -> dict:
        s = self.summary.set_index("h")
        why = "no origin is far enough back to see this horizon"
        return {"n_origins": self.n_origins, "band": self.band,
                "coverage_all": None if not len(self.detail_) else self.coverage_,
                "pairs": int(len(self.detail_)),
                **{f"{h}m": {"mape": None if np.isnan(s.loc[h, "mape"]) else float(s.loc[h, "mape"]),
                             "coverage": None if np.isnan(s.loc[h, "coverage"]) else float(s.loc[h, "coverage"]),
                             "origins": int(s.loc[h, "origins"]),
                             "reason": None if s.loc[h, "origins"] else why} for h in HORIZONS}}


def backtest(ds: Dataset, *, n_origins: int = 12, horizon: int = 12, window: int = 12, new_window: int = 24,
             new_growth: float | None = None, weight: str = "mrr", n_sims: int = 200,
             band: float = 0.8, min_at_risk: int = 30, seed: int = 0, survival: str = "km") -> Backtest:
    """Forecasts made at each of the last ``n_origins`` month-ends before the ``as_of`` month with only the data
    up to then (:func:`cut_at`), compared with the MRR that followed (module docstring). Origins that leave
    fewer than ``window`` months of history before them are skipped."""
    # the frames handed over in a list the back-test empties: it cuts the panel column by column, no copy beside it
    return _backtest(list(_engine_frames(ds)[:2]), ds.as_of_m, int(ds.settings.grace_months), first_m=ds.data_start_m,
                     n_origins=n_origins, horizon=horizon, window=window, new_window=new_window,
                     new_growth=new_growth, weight=weight, n_sims=n_sims, band=band,
                     min_at_risk=min_at_risk, seed=seed, survival=survival)


def backtest_panel(panel: pd.DataFrame, spells: pd.DataFrame, last: int, grace: int, *, first_m: int,
                   n_origins: int = 12, horizon: int = 12, window: int = 12, new_window: int = 24,
                   new_growth: float | None = None, weight: str = "mrr", n_sims: int = 200, band: float = 0.8,
                   min_at_risk: int = 30, seed: int = 0, survival: str = "km") -> Backtest:
    """:func:`backtest` on engine-form frames whose last observed month is ``last``."""
    return _backtest([panel, spells], last, grace, first_m=first_m, n_origins=n_origins, horizon=horizon,
                     window=window, new_window=new_window, new_growth=new_growth, weight=weight, n_sims=n_sims,
                     band=band, min_at_risk=min_at_risk, seed=seed, survival=survival)


def _backtest(frames: list, last: int, grace: int, *, first_m: int, n_origins: int, horizon: int, window: int,
              new_window: int, new_growth: float | None, weight: str, n_sims: int, band: float, min_at_risk: int,
              seed: int, survival: str) -> Backtest:
    """:func:`backtest_panel` on ``frames`` = [panel, spells], a list it empties: when the caller holds no other
    reference, the panel before each cut is released column by column as the cut is made. The origins are cut
    from the last back, each from the one after it (:func:`cut_at`'s rows and spells either way: the rows up to
    an earlier month are among those up to a later one, in the same order)."""
    panel, spells = frames.pop(0), frames.pop(0)
    actual = panel.groupby("m")["mrr"].sum()
    panel, spells, _ = _integer_ids(panel, spells)  # the ids hashed once, not at every origin
    cols = {c: panel[c].to_numpy() for c in panel.columns}
    del panel
    origins = [o for o in range(last - n_origins, last) if o - window + 1 > first_m]
    tables = {}
    owned = False  # whether the columns are the back-test's own (cut), not the caller's
    for o in reversed(origins):
        keep = cols["m"] <= o
        if not keep.all():
            for c in cols:  # one column at a time: the uncut column released as its cut replaces it
                cols[c] = cols[c][keep]
            owned = True
        del keep
        spells = _cut_spells(pd.DataFrame(cols, copy=False), spells, o, grace)
        # the customers numbered among the cut's spells as the forecast numbers them (_integer_ids), in place:
        # the forecast then reads the codes as they are, with no renumbered copy of the column beside them
        cols["customer_id"], spells = _renumber(cols["customer_id"], spells, in_place=owned)
        p = pd.DataFrame(cols, copy=False)
        f = forecast_panel(p, spells, o, horizon=min(horizon, last - o), window=window, new_window=new_window,
                           new_growth=new_growth, weight=weight, n_sims=n_sims, band=band,
                           min_at_risk=min_at_risk, seed=seed + o, survival=survival, scenario=False)
        tables[o] = f.table_
        del p, f
    rows = []
    for o in origins:
        t = tables[o]
        act = actual.reindex(o + t["h"].to_numpy()).to_numpy(dtype=float)
        rows.append(pd.DataFrame({"origin": periods.month_start(o), "h": t["h"], "month": t["month"],
                                  "actual": act, "base": t["base"], "lower": t["lower"], "upper": t["upper"]}))
    d = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame(
        columns=["origin", "h", "month", "actual", "base", "lower", "upper"])
    d["ape"] = (d["base"] - d["actual"]).abs() / d["actual"]
    d["inside"] = (d["actual"] >= d["lower"]) & (d["actual"] <= d["upper"])
    return Backtest(detail_=d, n_origins=len(origins), band=band)
