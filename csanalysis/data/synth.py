"""Demo data: a simulated B2B SaaS with planted truth, in the canonical tables of data/README.md.

Churn follows a discrete-time proportional-hazards model with a complementary log-log link,

    h = 1 − exp(−exp(eta)),   eta = log h0(tenure) + Σ β·x,

so exp(β) is exactly the grouped-time hazard ratio a Cox model on the right covariates estimates. Baseline
attributes (plan, touch model, seats, acquisition channel) act from the start; time-varying effects act month
by month: a failed payment attempt in the month, the account's latest NPS category (from surveys in earlier
months), falling usage (logins last month below 60% of the two months before), and the customer-success
program (a level shift from ``program_start`` on). The baseline hazard falls with tenure, so an ageing base
churns less even with every effect switched off (``null_world``), which fools naive before/after comparisons.

``truth`` keys (JSON-serialisable):

* ``hazard_ratios``: {"plan": {"Basic": …, "Enterprise": …} vs reference "Pro"; "touch_model": {"tech": …,
  "high": …} vs "low"; "acquisition_channel": {"outbound": …, "partner": …} vs "inbound";
  "log2_seats": HR per doubling of seats; "failed_payment"; "nps_detractor" and "nps_passive" vs promoter;
  "falling_usage"; "program"}, and ``references``.
* ``monthly_churn_rate``: {"overall", "pre_program", "post_program"}: the mean true churn probability over the
  window's at-risk customer-months (what churned ÷ at risk estimates).
* ``program_hr``; ``program_effect_pp``: mean over post-program at-risk customer-months of
  (p without the program − p), in percentage points.
* ``s12``: {"overall": …, "plan": {…}, "touch_model": {…}}: the Kaplan–Meier estimand of surviving 12
  months from the start of the first spell, Π_j (1 − mean true hazard at tenure j over the first spells at risk
  at j in the window) — computed from the true probabilities, not the realised churns.
* ``nps_mrr_change_12m_pp``: promoter minus detractor expected 12-month MRR change of survivors, in
  percentage points (Monte Carlo of the seat process given the respondents' satisfaction, separate RNG stream):
  per response whose 12 months after the month before the survey lie in the window, the respondent account's
  seats in that month, its billing (annual accounts change seats only at renewal) and its satisfaction; each
  response classed by its own score (all responses when no window is complete).
* ``voice``: the survey comments' planted themes (:func:`voice_comments`, a separate random stream; the ``voice``
  effect switch, off in the null world): ``horizon_months``, ``comment_share``, ``language_shares``,
  ``churn_share_commented`` and per theme ``prevalence_retained``, ``prevalence_churned``, ``churn_risk_ratio`` (the
  stated factor: risk of churn within the horizon after a comment mentioning the theme ÷ after one that does not)
  and ``mrr_change_difference_pp`` (0: themes are unrelated to MRR change among stayers), with what was drawn:
  ``retained_comments`` (comments whose window closed without a churn) and ``retained_mentions`` (those of them
  mentioning the theme).
* ``adoption``: the planted adoption curves (:class:`_Adoption`, a separate random stream; only the usage table's
  ``active_users`` and ``features_used`` depend on it): the curve parameters per touch model (``u0``, ``u_inf``,
  ``tau``, ``f0``, ``f_inf``, ``tau_f``), ``typical_utilisation`` and, per touch model and months since start
  0 … 24, ``median_utilisation`` and ``median_features_used`` (the medians of the mixture of the paid
  account-months' true distributions, utilisation over the seats in force as the data record them: what
  csanalysis/lifecycle/adoption.py estimates) with ``account_months``.
* ``onboarding``: whether and when each window signup's onboarding session is held (by touch model) and the planted
  hazard ratio of churn after the landmark for accounts not onboarded by it (:func:`_plan_onboarding`; its own
  random stream; the ``onboarding`` effect switch, off in the null world).
* ``effects`` in force, ``null_world``, ``seed``, ``n_customers``, ``months``, ``start``, ``program_start``
  (date), ``as_of`` (last day of the window).

* ``expansion`` (issue 23): the planted expansion drivers (:func:`_plant_expansion`: utilisation, usage growth and
  plan scale a staying account's monthly probability of a seat increase) and the mean monthly probability.

``churn_prob``: customer_id, month, p, p_no_program for every at-risk account-month in the window.
``expansion_prob`` (``expansion_prob.parquet``): customer_id, month, p (monthly probability of a seat increase when
the seats can change), annual, next_change, factor for the same account-months (the expansion score's ceiling).
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

DEFAULT_EFFECTS = {
    "plan": True, "touch": True, "seats": True, "channel": True, "failed_payment": True, "nps_churn": True,
    "nps_revenue": True, "usage": True, "program": True, "voice": True, "expansion": True, "onboarding": True,
}
PLANS = np.array(["Basic", "Pro", "Enterprise"])
PRICE = np.array([20.0, 40.0, 70.0])
TOUCH = np.array(["tech", "low", "high"])
CHANNELS = np.array(["inbound", "outbound", "partner"])
INDUSTRIES = np.array(["Software", "Retail", "Finance", "Healthcare", "Manufacturing"])
REGIONS = np.array(["North America", "EMEA", "APAC", "Japan"])
CSMS = np.array(["Aiko Tanaka", "Ben Ortiz", "Chloe Martin", "Daichi Sato", "Emma Reed", "Farah Khan"])
# log hazard ratios (planted)
B_PLAN = np.array([np.log(1.6), 0.0, np.log(0.6)])  # vs Pro
B_TOUCH = np.array([np.log(1.3), 0.0, np.log(0.8)])  # tech, low (ref), high
B_CHANNEL = np.array([0.0, np.log(1.3), np.log(0.9)])  # inbound (ref), outbound, partner
B_SEATS = np.log(0.9)  # per doubling
B_FAIL = np.log(2.0)
B_DET, B_PAS = np.log(1.8), np.log(1.2)  # vs promoter
B_FALL = np.log(1.7)
B_PROG = np.log(0.75)
REFERENCES = {"plan": "Pro", "touch_model": "low", "acquisition_channel": "inbound", "nps": "promoter"}
H0_SCALE, H0_POWER = 0.035, -0.3  # baseline hazard 0.035 · tenure^−0.3 (falls with age)


@dataclass
class DemoData:
    tables: dict[str, pd.DataFrame]
    truth: dict
    churn_prob: pd.DataFrame
    expansion_prob: pd.DataFrame | None = None  # issue 23: see _plant_expansion


@dataclass(frozen=True)
class Block:
    """One block of accounts of a large world (:func:`write_large`): drawn from its own random stream
    ``np.random.default_rng([seed, 9000, index])`` (and the side streams ``[seed, 9000, index, k]``), with the
    account numbers ``first + 1 … first + n_customers`` written as ``C`` and ``width`` digits."""

    index: int
    first: int
    width: int = 6


def _stream(seed, k: int) -> np.random.Generator:
    """The side stream ``k`` of a world (``seed``: an int) or of a block of one (a tuple ``(seed, 9000, index)``)."""
    return np.random.default_rng([*(seed if isinstance(seed, tuple) else (seed,)), k])


def _cloglog(eta):
    return -np.expm1(-np.exp(eta))


def draw_accounts(rng: np.random.Generator, n: int, months: int) -> dict[str, np.ndarray]:
    """The accounts' fixed draws, in the generator's order: ``pre`` (started before the window, 10%),
    ``signup`` (month index; before the window up to two years, else weighted 1 → 1.6 over the window),
    ``plan``, ``seats`` (at signup), ``touch`` and ``channel`` (indices into PLANS, TOUCH, CHANNELS). Simulation
    studies that need only part of the world (tests) draw the same accounts through this function."""
    pre = rng.random(n) < 0.10
    weights = np.linspace(1.0, 1.6, months)
    signup = np.where(pre, -rng.integers(1, 25, n), rng.choice(months, size=n, p=weights / weights.sum()))
    plan = rng.choice(3, size=n, p=[0.5, 0.35, 0.15])
    seats = np.maximum(1, np.round(np.exp(rng.normal(np.log([5, 15, 60])[plan], 0.6)))).astype(np.int64)
    touch = np.select([plan == 2, plan == 1], [2, np.where(rng.random(n) < 0.7, 1, 2)], np.where(rng.random(n) < 0.8, 0, 1))
    channel = rng.choice(3, size=n, p=[0.5, 0.3, 0.2])
    return {"pre": pre, "signup": signup, "plan": plan, "seats": seats, "touch": touch, "channel": channel}


def baseline_eta(acc: dict, effects: dict | None = None) -> np.ndarray:
    """Log hazard ratio of each account's signup attributes (the effects switched on in ``effects``)."""
    eff = {**DEFAULT_EFFECTS, **(effects or {})}
    return ((B_PLAN[acc["plan"]] if eff["plan"] else 0.0) + (B_TOUCH[acc["touch"]] if eff["touch"] else 0.0)
            + (B_SEATS * np.log2(acc["seats"]) if eff["seats"] else 0.0)
            + (B_CHANNEL[acc["channel"]] if eff["channel"] else 0.0))


def generate(n_customers: int = 3000, months: int = 36, seed: int = 0, start: str = "2022-01-01",
             effects: dict | None = None, null_world: bool = False, program_start: int = 18,
             usage_freq: str | None = None, block: Block | None = None) -> DemoData:
    """Simulate ``n_customers`` accounts over ``months`` months from ``start`` (see the module docstring).

    Parameters
    ----------
    n_customers : int
        Accounts to simulate.
    months : int
        Months of the window.
    seed : int
        Seed of the random generator.
    start : str
        The window's first month.
    effects : dict, optional
        Effect switches to change (the keys of ``DEFAULT_EFFECTS``, and ``program_hr``).
    null_world : bool
        Switch off the time-varying effects and the program (the baseline hazard still falls with tenure).
    program_start : int
        The month of the window (0-based) the CS program starts.
    usage_freq : {"daily", "weekly", "monthly"}, optional
        The usage table's grain (None: weekly up to 20,000 accounts, else monthly).
    block : Block, optional
        Simulate one block of a large world (:func:`write_large`): the block's own random streams and account
        numbers, and a ``truth`` of the planted parameters only (the estimands of one block are not the world's:
        left out, as are the ``cs_costs`` of the whole team, which the caller computes from every block's counts).
        None: the world of ``seed`` itself.

    Returns
    -------
    DemoData
        The canonical ``tables``, the planted ``truth`` and the true monthly churn probabilities ``churn_prob``.
    """
    eff = dict(DEFAULT_EFFECTS)
    if null_world:
        eff.update({k: False for k in ("failed_payment", "nps_churn", "nps_revenue", "usage", "program", "voice",
                                        "expansion", "onboarding")})
    eff.update(effects or {})
    unknown = set(eff) - set(DEFAULT_EFFECTS) - {"program_hr"}
    if unknown:
        raise ValueError(f"unknown effect switch(es) {sorted(unknown)}; known: {sorted(DEFAULT_EFFECTS)}")
    b_prog = np.log(eff.get("program_hr", np.exp(B_PROG))) if eff["program"] else 0.0
    usage_freq = usage_freq or ("weekly" if n_customers <= 20000 else "monthly")
    if usage_freq not in ("daily", "weekly", "monthly"):
        raise ValueError(f"usage_freq={usage_freq!r}: use daily, weekly or monthly")
    key = seed if block is None else (seed, 9000, block.index)  # the random streams' key (_stream)
    rng = np.random.default_rng(seed if block is None else list(key))
    first, width = (0, 6) if block is None else (block.first, block.width)
    w0 = pd.Timestamp(start).to_period("M")
    n = int(n_customers)

    # --- customers -----------------------------------------------------------------------------------
    acc = draw_accounts(rng, n, months)
    pre, signup_c, plan, seats0, touch, channel = (acc[k] for k in ("pre", "signup", "plan", "seats", "touch", "channel"))
    annual = (rng.random(n) < np.array([0.2, 0.35, 0.6])[plan]) & ~pre
    satisfaction = rng.normal(0, 1, n)  # latent, stable per account
    base_eta = baseline_eta(acc, eff)
    day = rng.integers(1, 29, n)
    onb = _plan_onboarding(acc, day, w0, key, eff["onboarding"])  # issue 23: own stream; sessions and their effect
    onb_rows = []  # accounts whose onboarding session is held, per month
    ids = np.array([f"C{i:0{width}d}" for i in range(first + 1, first + n + 1)], dtype=object)

    # --- state ---------------------------------------------------------------------------------------
    active = np.zeros(n, bool)
    spell = np.zeros(n, np.int64)
    spell_start = np.full(n, -10**6)
    churned_at = np.full(n, -10**6)
    seats = seats0.copy()
    billing_annual = annual.copy()
    term_start = np.full(n, -10**6)
    engagement = rng.normal(0, 0.3, n)
    logins_hist = np.full((n, 3), np.nan)  # logins in months c−1, c−2, c−3
    nps_cat = np.full(n, -1)  # latest account category: 0 detractor, 1 passive, 2 promoter, −1 none
    au_last = np.full(n, np.nan)  # active users in the last month with usage drawn (0 in a month without usage rows)
    exp_log = []  # the expansion drivers' record, per at-risk account-month (_plant_expansion)

    rev, pay, use, nps, act, prob = [], [], [], [], [], []
    survey_months = set(range(3, months, 6))
    churn_log = []  # (accounts, month) of every churn
    resp_state = []  # per response: account, survey month, score, seats the month before, billing (for the truth)
    last_c = months - 1
    adoption = _Adoption(key, n, touch)  # issue 23: planted adoption curves, own random stream

    for c in range(int(signup_c.min()), months):
        # 1. new customers start paying
        new = signup_c == c
        active[new] = True
        spell[new] = 1
        spell_start[new] = c
        term_start[new] = c
        # 2. churn for customers past their first month
        at_risk = active & (spell_start < c)
        idx = np.nonzero(at_risk)[0]
        tenure = c - spell_start[idx]
        renewal = billing_annual[idx] & ((c - term_start[idx]) % 12 == 0)
        attempt = ~billing_annual[idx] | renewal
        fail = attempt & (rng.random(idx.size) < np.where(plan[idx] == 0, 0.06, 0.03))
        prev = logins_hist[idx]
        complete = ~np.isnan(prev).any(axis=1)
        falling = np.zeros(idx.size, bool)
        falling[complete] = prev[complete, 0] < 0.6 * prev[complete, 1:].mean(axis=1)
        cat = nps_cat[idx]
        eta = (np.log(H0_SCALE) + H0_POWER * np.log(tenure) + base_eta[idx]
               + (B_FAIL * fail if eff["failed_payment"] else 0.0)
               + (np.select([cat == 0, cat == 1], [B_DET, B_PAS], 0.0) if eff["nps_churn"] else 0.0)
               + (B_FALL * falling if eff["usage"] else 0.0)
               + _onboarding_eta(onb, idx, tenure, spell[idx] == 1))
        post = c >= program_start
        p_noprog = _cloglog(eta)
        p = _cloglog(eta + (b_prog if post else 0.0))
        churn = rng.random(idx.size) < p
        if c >= 1:  # observable: the customer paid in the window's previous month
            prob.append((idx, np.full(idx.size, c), p, p_noprog, tenure, spell[idx] == 1,
                         np.full(idx.size, c < program_start)))
        if c >= 0:
            if fail.any():
                f = idx[fail]
                pay.append((f, np.full(f.size, c), np.zeros(f.size, bool)))
                ok = f[~churn[fail]]  # a retry succeeds for those who stay
                pay.append((ok, np.full(ok.size, c), np.ones(ok.size, bool)))
            good = idx[attempt & ~fail & ~churn]
            pay.append((good, np.full(good.size, c), np.ones(good.size, bool)))
        gone = idx[churn]
        churn_log.append((gone, c))  # (no draw) for the comments' later churn (_voice_comments)
        active[gone] = False
        churned_at[gone] = c
        # annual customers leaving mid-term get a credit note for the unused months
        mid = gone[billing_annual[gone] & ((c - term_start[gone]) % 12 != 0)]
        if c >= 0 and mid.size:
            remaining = 12 - (c - term_start[mid]) % 12
            rev.append((mid, np.full(mid.size, c), -seats[mid] * PRICE[plan[mid]] * remaining, remaining, "credit"))
        seats_before = seats.copy() if c in survey_months else None  # seats in month c − 1 (for the truth)
        # 3. seat changes (monthly customers each month, annual ones at renewal) and invoices
        stay = idx[~churn]
        can_change = ~billing_annual[stay] | ((c - term_start[stay]) % 12 == 0)
        s_sat = satisfaction[stay] if eff["nps_revenue"] else 0.0
        x_up = _plant_expansion(exp_log, idx, c, eff, au_last, seats, plan, logins_hist, satisfaction,
                                billing_annual, term_start)  # issue 23: the expansion drivers
        p_up = 0.03 * np.exp(0.35 * s_sat) * x_up[~churn]
        p_down = 0.015 * np.exp(-0.35 * s_sat)
        u = rng.random(stay.size)
        up = can_change & (u < p_up)
        down = can_change & (u >= p_up) & (u < p_up + p_down)
        seats[stay[up]] = np.maximum(seats[stay[up]] + 1, np.round(seats[stay[up]] * rng.uniform(1.1, 1.5, up.sum())))
        seats[stay[down]] = np.maximum(1, np.minimum(seats[stay[down]] - 1, np.round(seats[stay[down]] * rng.uniform(0.6, 0.9, down.sum()))))
        # 4. reactivations (monthly billing from then on)
        back = np.nonzero(~active & (spell > 0) & (c - churned_at <= 12) & (c - churned_at >= 2))[0]
        back = back[rng.random(back.size) < 0.01]
        active[back] = True
        spell[back] += 1
        spell_start[back] = c
        billing_annual[back] = False
        payers = np.nonzero(active)[0]
        if c >= 0:
            monthly = payers[~billing_annual[payers]]
            rev.append((monthly, np.full(monthly.size, c), seats[monthly] * PRICE[plan[monthly]], np.zeros(monthly.size, np.int64), "monthly"))
            ann = payers[billing_annual[payers] & ((c - term_start[payers]) % 12 == 0)]
            rev.append((ann, np.full(ann.size, c), 12 * seats[ann] * PRICE[plan[ann]], np.full(ann.size, 12), "annual"))
            setup = payers[(spell_start[payers] == c) & (spell[payers] == 1)]
            setup = setup[rng.random(setup.size) < 0.3]
            rev.append((setup, np.full(setup.size, c), np.full(setup.size, 250.0), np.zeros(setup.size, np.int64), "one_off"))
            pay.append((back, np.full(back.size, c), np.ones(back.size, bool)))
        # 5. usage of active customers this month
        engagement[payers] = 0.85 * engagement[payers] + rng.normal(0, 0.35, payers.size)
        if eff["usage"]:
            # some accounts disengage for a while (gaps; falling usage)
            dip = rng.random(payers.size) < 0.03
            engagement[payers[dip]] -= 1.5
        rate = seats[payers] * 8.0 * np.exp(engagement[payers])
        logins = rng.poisson(rate)
        idle = rng.random(payers.size) < 0.01  # a month with no usage at all (no rows: a gap in the data)
        logins[idle] = 0
        logins_hist[:, 1:] = logins_hist[:, :-1].copy()
        logins_hist[:, 0] = np.nan
        logins_hist[payers, 0] = logins
        if c >= 0:
            au = rng.binomial(seats[payers], 1 / (1 + np.exp(-(engagement[payers] + 1.0))))
            fe = rng.poisson(rate * 3)
            fu = np.minimum(12, rng.poisson(4 * np.exp(0.5 * engagement[payers]) + 0.5))
            au, fu = adoption.draw(payers, c, c - spell_start[payers], seats[payers], engagement[payers], idle)
            busy = ~idle
            au_last[payers] = np.where(busy, au, 0)  # what the usage rows show (no rows: none active)
            use.append((payers[busy], np.full(busy.sum(), c), logins[busy], au[busy], fe[busy], fu[busy]))
        # 6. NPS survey (answers count for the hazard from next month on)
        if c in survey_months:
            resp = payers[(spell_start[payers] < c) & (rng.random(payers.size) < 0.5)]
            k = rng.integers(1, 4, resp.size)
            r_idx = np.repeat(resp, k)
            driver = satisfaction[r_idx] + (0.0 if null_world else 0.6 * engagement[r_idx])
            score = np.clip(np.round(7.2 + 1.8 * driver + rng.normal(0, 1.2, r_idx.size)), 0, 10).astype(np.int64)
            csat = np.clip(np.round(3.6 + 0.5 * satisfaction[r_idx] + rng.normal(0, 0.9, r_idx.size)), 1, 5).astype(np.int64)
            nps.append((r_idx, np.full(r_idx.size, c), score, csat, np.concatenate([np.arange(kk) for kk in k]) if k.size else np.zeros(0, np.int64)))
            mean_score = pd.Series(score).groupby(r_idx).mean()
            ms = np.round(mean_score.to_numpy())
            nps_cat[mean_score.index.to_numpy()] = np.select([ms <= 6, ms <= 8], [0, 1], 2)
            resp_state.append((r_idx, np.full(r_idx.size, c), score, seats_before[r_idx], billing_annual[r_idx],
                               term_start[r_idx]))
        # 7. customer-success activities: the onboarding sessions held this month (_plan_onboarding); from the
        # program start, contacts with risky accounts first
        onb_rows.append(payers[(onb["month"][payers] == c) & (spell[payers] == 1)])
        if c >= max(program_start, 0):
            risk = np.zeros(n)
            risk[idx] = p
            hi = payers[touch[payers] >= 1]
            contact = hi[rng.random(hi.size) < np.minimum(0.6, 0.05 + 6 * risk[hi])]
            kind = np.where(touch[contact] == 2, rng.choice(["qbr", "check_in", "training"], contact.size, p=[0.3, 0.5, 0.2]),
                            rng.choice(["check_in", "training"], contact.size, p=[0.7, 0.3])).astype(object)
            act.append((contact, np.full(contact.size, c), kind))

    # --- assemble tables -----------------------------------------------------------------------------
    def month_dates(cs: np.ndarray, days: np.ndarray) -> np.ndarray:
        base = (np.datetime64(str(w0.start_time.date()), "M") + cs.astype("timedelta64[M]")).astype("datetime64[D]")
        return (base + (days - 1).astype("timedelta64[D]")).astype("datetime64[ns]")

    keep = np.zeros(n, bool)
    for r in rev + pay + use + nps + act:  # accounts seen in any table
        keep[np.asarray(r[0], np.int64)] = True
    keep |= (signup_c >= 0) & (signup_c <= last_c)  # window signups are customers even if they never paid here
    cust_idx = np.nonzero(keep)[0]
    signup_dates = month_dates(signup_c[cust_idx] , day[cust_idx])
    renew = np.where(annual[cust_idx], signup_c[cust_idx] + 12 * ((last_c - signup_c[cust_idx]) // 12 + 1), last_c + 1)
    customers = pd.DataFrame({
        "customer_id": ids[cust_idx],
        "signup_date": signup_dates,
        "plan": PLANS[plan[cust_idx]],
        "touch_model": TOUCH[touch[cust_idx]],
        "industry": INDUSTRIES[rng.integers(0, len(INDUSTRIES), n)[cust_idx]],
        "region": REGIONS[rng.integers(0, len(REGIONS), n)[cust_idx]],
        "seats": seats0[cust_idx],
        "csm_owner": np.where(touch[cust_idx] == 0, "Pooled", CSMS[rng.integers(0, len(CSMS), n)[cust_idx]]),
        "acquisition_channel": CHANNELS[channel[cust_idx]],
        "acquisition_cost": np.round(seats0[cust_idx] * PRICE[plan[cust_idx]] * rng.uniform(3, 8, n)[cust_idx], 2),
        "renewal_date": month_dates(renew, day[cust_idx]),
    })

    def cat(parts, k):
        return np.concatenate([np.asarray(p[k]) for p in parts]) if parts else np.zeros(0)

    r_cust, r_c, r_amt, r_n = (cat(rev, k) for k in range(4))
    r_kind = np.concatenate([np.full(len(p[0]), p[4], dtype=object) for p in rev]) if rev else np.zeros(0, object)
    r_cust = r_cust.astype(np.int64)
    r_c = r_c.astype(np.int64)
    r_day = np.where(r_kind == "credit", 1, day[r_cust])
    r_date = month_dates(r_c, r_day)
    has_period = r_n > 0
    p_start = np.where(has_period, month_dates(r_c, np.ones_like(r_c)), np.datetime64("NaT"))
    p_end = np.where(has_period, (month_dates(r_c + r_n.astype(np.int64), np.ones_like(r_c)) - np.timedelta64(1, "D")), np.datetime64("NaT"))
    revenue = pd.DataFrame({
        "customer_id": ids[r_cust], "date": r_date, "amount": np.round(r_amt.astype(float), 2),
        "period_start": pd.to_datetime(p_start), "period_end": pd.to_datetime(p_end),
        "kind": np.where(r_kind == "one_off", "one_off", "recurring"), "currency": "USD",
    })
    revenue = revenue[revenue["amount"] != 0]

    p_cust, p_c, p_ok = (cat(pay, k) for k in range(3))
    payments = pd.DataFrame({"customer_id": ids[p_cust.astype(np.int64)],
                             "date": month_dates(p_c.astype(np.int64), day[p_cust.astype(np.int64)]),
                             "status": np.where(p_ok.astype(bool), "succeeded", "failed"),
                             "amount": np.round(seats[p_cust.astype(np.int64)] * PRICE[plan[p_cust.astype(np.int64)]], 2)})

    usage = _usage_rows(use, ids, w0, usage_freq, rng, month_dates)

    if nps:
        s_cust, s_c, s_score, s_csat, s_resp = (cat(nps, k) for k in range(5))
        s_cust = s_cust.astype(np.int64)
        nps_df = pd.DataFrame({
            "customer_id": ids[s_cust], "date": month_dates(s_c.astype(np.int64), rng.integers(1, 29, s_cust.size)),
            "score": s_score.astype(np.int64),
            "respondent_id": pd.Series(ids[s_cust]) + "-R" + pd.Series(s_resp.astype(np.int64) + 1).astype(str),
            "csat": s_csat.astype(np.int64),
            "comment": np.where(rng.random(s_cust.size) < 0.05, np.where(s_score >= 9, "Great support", "Too expensive"), None),
        })
    else:
        nps_df = pd.DataFrame(columns=["customer_id", "date", "score", "respondent_id", "csat", "comment"])

    a_cust, a_c, a_kind = (cat(act, k) for k in range(3))
    a_cust = a_cust.astype(np.int64)
    activities = pd.DataFrame({"customer_id": ids[a_cust], "date": month_dates(a_c.astype(np.int64), rng.integers(1, 29, a_cust.size)),
                               "activity": a_kind.astype(str)})
    activities = pd.concat([activities, _onboarding_rows(onb, onb_rows, ids)], ignore_index=True)
    cs_costs = _cs_costs(_active_counts(revenue), w0, program_start, months)

    tables = {
        "customers": customers, "revenue": revenue, "usage": usage, "nps": nps_df, "payments": payments,
        "cs_activities": activities, "cs_costs": cs_costs,
    }
    for name, df in tables.items():
        sort = [c for c in ("customer_id", "date", "month") if c in df.columns]
        tables[name] = df.sort_values(sort, kind="stable").reset_index(drop=True)

    # --- truth ---------------------------------------------------------------------------------------
    pr_idx, pr_c, pr_p, pr_p0, pr_ten, pr_first, pr_pre = (np.concatenate([np.asarray(t[k]) for t in prob]) for k in range(7))
    pr_c = pr_c.astype(np.int64)
    churn_prob = pd.DataFrame({"customer_id": ids[pr_idx.astype(np.int64)],
                               "month": month_dates(pr_c, np.ones_like(pr_c)), "p": pr_p, "p_no_program": pr_p0})
    truth_voice = _voice_comments(tables, churn_log, seed=key, eff=eff, months=months, w0=w0, first=first)  # issue 22
    expansion_prob, x_path = _expansion_table(exp_log, ids, n, months, month_dates, path=block is None)
    if block is None:
        truth = _truth(eff, null_world, b_prog, seed, n, months, start, program_start, w0,
                       pr_idx.astype(np.int64), pr_p, pr_p0, pr_ten.astype(np.int64), pr_first.astype(bool), pr_pre.astype(bool),
                       plan, touch, satisfaction, resp_state, x_path)
        truth.update(_plant_dunning(tables, churn_prob, seed))  # issue 22: retry delays and the churn causes' truth
        truth["voice"] = truth_voice
        truth["adoption"] = adoption.truth(tables, ids, w0)  # issue 23
        truth["expansion"] = _expansion_truth(eff, expansion_prob)
        truth["onboarding"] = onb["truth"]
    else:  # the planted parameters; no estimand of one block (see write_large)
        _plant_dunning(tables, None, key)
        truth = _truth(eff, null_world, b_prog, seed, n, months, start, program_start, w0, *([None] * 9),
                       estimands=False)
    return DemoData(tables, truth, churn_prob.sort_values(["customer_id", "month"], kind="stable").reset_index(drop=True),
                    expansion_prob)


def _active_counts(revenue: pd.DataFrame) -> pd.Series:
    """Customers with a recurring invoice dated in each month (a monthly Period index)."""
    rec = revenue[revenue["kind"] == "recurring"]
    return rec.assign(m=lambda d: d["date"].dt.to_period("M")).groupby("m")["customer_id"].nunique()


def _cs_costs(active_counts: pd.Series, w0, program_start: int, months: int) -> pd.DataFrame:
    """The CS team's monthly cost from the program start: 6,000 per 500 customers invoiced that month (or part)."""
    cost_months = [w0 + c for c in range(max(program_start, 0), months)]
    return pd.DataFrame({"month": pd.PeriodIndex(cost_months, freq="M").to_timestamp(),
                         "cost": [6000.0 * int(np.ceil(active_counts.get(m, 0) / 500)) for m in cost_months]})


# --- expansion drivers (issue 23) ----------------------------------------------------------------------------
# A staying account's monthly probability of a seat increase (when its seats can change: monthly billing, or an
# annual term's renewal month) is 0.03 · exp(0.35 · satisfaction) · x, x the expansion drivers' factor read from
# the account's state at the end of the month before (what a score at that month's end can see):
#   log x = log EXP_SCALE + B_EXP_UTIL · (min(utilisation, 1) − EXP_UTIL_REF)
#           + B_EXP_GROWTH · clip(log usage growth, ±1.5) + B_EXP_PLAN[plan],
# utilisation = active users ÷ seats in force (EXP_UTIL_REF when no usage was drawn yet), usage growth = logins
# last month ÷ the mean of the two months before (1 when unknown). Satisfaction, seen through NPS, was a driver
# already (the NPS → revenue effect). No draw of its own: the seat process's existing uniform decides.
B_EXP_UTIL = 3.0  # per unit of utilisation (×1.35 per 10 points)
EXP_UTIL_REF = 0.7
B_EXP_GROWTH = 1.3  # per unit of log usage growth (×2.46 for doubled logins)
B_EXP_PLAN = np.array([np.log(0.75), 0.0, np.log(1.5)])  # Basic, Pro (ref), Enterprise
EXP_SCALE = 0.6  # the factor's mean over the demo's account-months is about 0.8 (the seat process's variance, and
# with it the NPS → revenue interval's width, stays near what it was)
EXP_BASE = 0.03


def _plant_expansion(exp_log: list, idx, c: int, eff: dict, au_last, seats, plan, logins_hist, satisfaction,
                     billing_annual, term_start) -> np.ndarray:
    """The expansion drivers' factor x (see above) of the at-risk accounts ``idx`` in month ``c``, from the loop's
    state at the end of month c − 1 (active users and seats, the logins of c − 1 … c − 3, plan); 1 for all with the
    ``expansion`` effect off. Appends the record of ``expansion_prob`` (month ≥ 1, as churn_prob): the monthly
    probability of a seat increase when the seats can change, the months to the next month they can (0: this one)
    and x."""
    if eff["expansion"]:
        with np.errstate(divide="ignore", invalid="ignore"):
            util = np.minimum(au_last[idx] / seats[idx], 1.0)
            prev = logins_hist[idx]
            growth = np.log(prev[:, 0] / prev[:, 1:].mean(axis=1))
        util = np.where(np.isfinite(util), util, EXP_UTIL_REF)
        growth = np.where(np.isfinite(growth), np.clip(growth, -1.5, 1.5), 0.0)
        x = EXP_SCALE * np.exp(B_EXP_UTIL * (util - EXP_UTIL_REF) + B_EXP_GROWTH * growth + B_EXP_PLAN[plan[idx]])
    else:
        x = np.ones(idx.size)
    if c >= 1:
        s = satisfaction[idx] if eff["nps_revenue"] else 0.0
        nxt = np.where(billing_annual[idx], (term_start[idx] - c) % 12, 0)
        exp_log.append((idx, c, EXP_BASE * np.exp(0.35 * s) * x, nxt, x, billing_annual[idx]))
    return x


def _expansion_table(exp_log: list, ids, n: int, months: int, month_dates, path: bool = True) -> tuple[pd.DataFrame, np.ndarray | None]:
    """``expansion_prob`` (customer_id, month, p: monthly probability of a seat increase when the seats can change,
    annual: billed by annual term (seats change at its renewal only), next_change: months from this month to the
    next one they can, 0 = this month (always 0 when billed monthly); factor: the drivers' x) and the
    accounts × months path of x (forward-filled after an account's last at-risk month; 1 before its first), which
    the NPS → revenue truth's Monte Carlo uses (None when ``path`` is False)."""
    if exp_log:
        a, c, p, nxt, x, ann = (np.concatenate([np.broadcast_to(np.asarray(r[k]), np.asarray(r[0]).shape)
                                                for r in exp_log]) for k in range(6))
        a, c = a.astype(np.int64), c.astype(np.int64)
    else:
        a = c = nxt = np.zeros(0, np.int64)
        p = x = np.zeros(0)
        ann = np.zeros(0, bool)
    table = pd.DataFrame({"customer_id": ids[a], "month": month_dates(c, np.ones_like(c)), "p": p,
                          "annual": ann.astype(bool), "next_change": nxt.astype(np.int64), "factor": x})
    table = table.sort_values(["customer_id", "month"], kind="stable").reset_index(drop=True)
    if not path:
        return table, None
    grid = np.full((n, months), np.nan)
    grid[a, c] = x  # (months ≥ 1 only, inside the window)
    path = pd.DataFrame(grid).ffill(axis=1).fillna(1.0).to_numpy()
    return table, path


def _expansion_truth(eff: dict, table: pd.DataFrame) -> dict:
    """``truth["expansion"]``: the planted drivers and the mean monthly probability."""
    on = bool(eff["expansion"])
    can = table["next_change"].to_numpy() == 0
    return {
        "on": on, "base_monthly_probability": EXP_BASE, "satisfaction_log_factor": 0.35 if eff["nps_revenue"] else 0.0,
        "drivers": {"scale": EXP_SCALE if on else 1.0, "utilisation_per_unit": B_EXP_UTIL if on else 0.0, "utilisation_reference": EXP_UTIL_REF,
                    "log_usage_growth": B_EXP_GROWTH if on else 0.0,
                    "plan_factor": {str(PLANS[k]): float(np.exp(B_EXP_PLAN[k])) if on else 1.0 for k in range(3)}},
        "mean_monthly_probability_when_seats_can_change": float(table.loc[can, "p"].mean()) if can.any() else None,
        "note": "monthly probability of a seat increase of a staying account whose seats can change (monthly billing, "
                "or an annual term's renewal month) = base · exp(satisfaction_log_factor · satisfaction) · x, log x = "
                "log scale + utilisation_per_unit · (min(active users ÷ seats, 1) − utilisation_reference) + log_usage_growth · "
                "clip(log(logins ÷ mean of the two months before), ±1.5) + log plan_factor, all read at the end of the "
                "month before; expansion_prob.parquet holds p, next_change and x per at-risk account-month",
    }


# --- onboarding (issue 23) ----------------------------------------------------------------------------------------
ONBOARDING_HR = 1.5  # churn hazard of an account not onboarded by the landmark ÷ one onboarded (tenure months 3..12)
ONBOARDING_P_HELD = np.array([0.35, 0.7, 0.9])  # P(an onboarding session is ever held) by touch model: tech, low, high
ONBOARDING_MEAN_DAYS = np.array([45.0, 30.0, 14.0])  # days from signup to the session: floor(Exponential(mean))
ONBOARDING_LANDMARK_M = 2  # the landmark: the month of day 60 after signup (tenure month 2)
ONBOARDING_HORIZON_M = 12  # the effect lasts to tenure month 12 (early churn)


def _plan_onboarding(acc: dict, day: np.ndarray, w0, seed: int, on: bool) -> dict:
    """Whether and when each window signup's onboarding session is held, on its own random stream
    (``np.random.default_rng([seed, 2301])``), and the churn effect of not being onboarded by the landmark.

    A session is held with probability :data:`ONBOARDING_P_HELD` by touch model (high touch nearly always, tech
    touch rarely), ``D = floor(Exponential(ONBOARDING_MEAN_DAYS[touch]))`` days after the signup date (high touch
    within about two weeks, tech touch after six weeks on average); it is written to ``cs_activities`` on that date
    if the account still pays that month in its first spell. Accounts that started before the window get none.

    An account is *onboarded by the landmark* when its session falls in or before tenure month
    :data:`ONBOARDING_LANDMARK_M` (the month of day 60). In its first spell, at tenures ``L+1 .. H``
    (:data:`ONBOARDING_HORIZON_M`) the log hazard gets ``log c_t + log(HR)·[not onboarded]``: ``HR`` is
    :data:`ONBOARDING_HR`, and ``c_t = 1 / (q_t + (1 − q_t)·HR)`` (q_t: the expected share onboarded by the landmark
    in touch model t) keeps each touch model's mean hazard as planted (``hazard_ratios`` stay the total effects).
    A Cox model of churn after the landmark on the onboarded flag, adjusted for the touch model, estimates HR.

    Truth key ``onboarding``: ``hazard_ratio`` (1.0 when the ``onboarding`` effect is off), ``landmark_months``,
    ``horizon_months``, ``p_held``, ``mean_delay_days`` and ``p_by_month`` ({touch: {"1","2","3": expected
    share of window signups with a session in or before tenure month k, ignoring churn}}), ``reference``."""
    r = _stream(seed, 2301)
    touch, signup = acc["touch"], acc["signup"]
    n = touch.size
    held = (r.random(n) < ONBOARDING_P_HELD[touch]) & ~acc["pre"] & (signup >= 0)
    delay = np.floor(r.exponential(ONBOARDING_MEAN_DAYS[touch])).astype(np.int64)
    base = np.datetime64(str(w0.start_time.date()), "M")
    s_month = base + np.maximum(signup, 0).astype("timedelta64[M]")
    s_date = s_month.astype("datetime64[D]") + (day - 1).astype("timedelta64[D]")
    date = s_date + delay.astype("timedelta64[D]")
    month = np.where(held, (date.astype("datetime64[M]") - base).astype(np.int64), -10**6)
    by_landmark = held & (month - signup <= ONBOARDING_LANDMARK_M)
    window = ~acc["pre"] & (signup >= 0)

    def p_by(k: int) -> np.ndarray:  # per account: P(session in or before tenure month k), from its signup day
        end = (s_month + np.timedelta64(k + 1, "M")).astype("datetime64[D]")
        days = (end - s_date).astype(np.int64)  # the session is in or before month k when D < days
        return ONBOARDING_P_HELD[touch] * -np.expm1(-days / ONBOARDING_MEAN_DAYS[touch])

    hr = ONBOARDING_HR if on else 1.0
    q = np.array([p_by(ONBOARDING_LANDMARK_M)[window & (touch == t)].mean() if (window & (touch == t)).any()
                  else ONBOARDING_P_HELD[t] for t in range(3)])
    log_c = -np.log(q + (1 - q) * hr)
    log_mult = np.where(window, log_c[touch] + np.log(hr) * ~by_landmark, 0.0)
    p_month = {TOUCH[t]: {str(k): (float(p_by(k)[window & (touch == t)].mean()) if (window & (touch == t)).any()
                                   else None) for k in (1, 2, 3)} for t in range(3)}
    truth = {"hazard_ratio": hr, "reference": "onboarded by the landmark", "landmark_months": ONBOARDING_LANDMARK_M,
             "landmark_day": 60, "horizon_months": ONBOARDING_HORIZON_M,
             "p_held": dict(zip(TOUCH.tolist(), ONBOARDING_P_HELD.tolist())),
             "mean_delay_days": dict(zip(TOUCH.tolist(), ONBOARDING_MEAN_DAYS.tolist())), "p_by_month": p_month}
    return {"month": month, "date": date, "log_mult": log_mult, "truth": truth}


def _onboarding_eta(onb: dict, idx: np.ndarray, tenure: np.ndarray, first: np.ndarray) -> np.ndarray:
    """The onboarding term of the log hazard of the at-risk accounts ``idx`` (:func:`_plan_onboarding`)."""
    early = first & (tenure > ONBOARDING_LANDMARK_M) & (tenure <= ONBOARDING_HORIZON_M)
    return np.where(early, onb["log_mult"][idx], 0.0)


def _onboarding_rows(onb: dict, rows: list, ids: np.ndarray) -> pd.DataFrame:
    """The ``cs_activities`` rows of the sessions held (one per account, on its date)."""
    a = np.concatenate(rows + [np.zeros(0, np.int64)]).astype(np.int64)
    return pd.DataFrame({"customer_id": ids[a], "date": onb["date"][a].astype("datetime64[ns]"),
                         "activity": np.full(a.size, "onboarding", dtype=object)})


RETRY_MEAN_DAYS = 6.0  # dunning: days from a failed attempt to the retry that succeeds, floor(Exponential(6)), at most 27
RETRY_MAX_DAYS = 27
RECOVERY_DAYS = (7, 14, 30)


def retry_delay_cdf(d: int) -> float:
    """P(delay ≤ d) of the planted retry delay: floor(Exponential(:data:`RETRY_MEAN_DAYS`)) capped at 27 days."""
    return 1.0 if d >= RETRY_MAX_DAYS else float(-np.expm1(-(d + 1) / RETRY_MEAN_DAYS)) if d >= 0 else 0.0


def _plant_dunning(tables: dict, churn_prob: pd.DataFrame | None, seed) -> dict:
    """Dunning in the payments table and the truth of the churn causes (csanalysis/causes.py), on a separate random
    stream so every other table, and every payment's month and status, stay as they were.

    A failed attempt of an account that stays is followed in the same month by a retry that succeeds (the
    simulation above writes both on the account's billing day). Here the retry comes a delay D after the failure,
    D = floor(Exponential(:data:`RETRY_MEAN_DAYS`)) capped at :data:`RETRY_MAX_DAYS` days, both inside the month
    (the failure moves earlier when the account's day leaves no room: failed day = min(day, 28 − D)). An account that
    churns in the month of its failure gets no retry (it is a payment-failure churn by the rule of causes.py).

    Truth keys (new): ``churn_causes``: ``payment_failure_share`` = Σ p·fail ÷ Σ p over the at-risk account-months of
    ``churn_prob`` (fail: a failed attempt that month; the expected share of churns a payment failure precedes, what
    the rule of causes.py classifies as payment failure), ``attributable_share`` = Σ (p − p without the failure)·fail
    ÷ Σ p (the churns the failure itself added, B_FAIL), ``retry_mean_days``; ``dunning_recovery``: per d in 7, 14,
    30 days, the expected share of failed attempts (months with a churn probability) recovered within d days,
    mean of (1 − p)·P(D ≤ d). No truth (an empty dict) when ``churn_prob`` is None."""
    rng = _stream(seed, 2201)
    pay = tables["payments"]
    month = pay["date"].dt.to_period("M")
    key = pd.MultiIndex.from_arrays([pay["customer_id"], month])
    failed = (pay["status"] == "failed").to_numpy()
    fkeys = key[failed]
    retry = (~failed) & key.isin(fkeys)
    fail_retried = failed & key.isin(key[retry])
    # one delay per retried failure, in the table's order (each failure has at most one retry, on the same date)
    delay = np.minimum(np.floor(rng.exponential(RETRY_MEAN_DAYS, int(fail_retried.sum()))), RETRY_MAX_DAYS).astype(np.int64)
    day = pay["date"].dt.day.to_numpy()
    fday = np.minimum(day[fail_retried], 28 - delay)
    start = pay["date"].dt.to_period("M").dt.start_time.to_numpy()
    dates = pay["date"].to_numpy().copy()
    dates[fail_retried] = start[fail_retried] + (fday - 1).astype("timedelta64[D]")
    pos = pd.Series(np.flatnonzero(fail_retried), index=key[fail_retried])
    r_idx = np.flatnonzero(retry)
    src = pos.reindex(key[retry]).to_numpy()
    dates[r_idx] = dates[src] + delay[np.searchsorted(np.flatnonzero(fail_retried), src)].astype("timedelta64[D]")
    pay = pay.assign(date=dates).sort_values(["customer_id", "date"], kind="stable").reset_index(drop=True)
    tables["payments"] = pay
    if churn_prob is None:
        return {}
    # truth, from the true probabilities of the at-risk account-months
    cp = churn_prob.assign(m=churn_prob["month"].dt.to_period("M"))
    fail_m = pd.MultiIndex.from_arrays([pay.loc[pay["status"] == "failed", "customer_id"],
                                        pay.loc[pay["status"] == "failed", "date"].dt.to_period("M")]).unique()
    fail = pd.MultiIndex.from_arrays([cp["customer_id"], cp["m"]]).isin(fail_m)
    p = cp["p"].to_numpy()
    eta = np.log(-np.log1p(-np.clip(p, 0, 1 - 1e-15)))
    p_nofail = _cloglog(eta - B_FAIL)
    total = p.sum()
    rec = {str(d): float(((1 - p[fail]) * retry_delay_cdf(d)).mean()) if fail.any() else None for d in RECOVERY_DAYS}
    return {
        "churn_causes": {"payment_failure_share": float((p * fail).sum() / total) if total else None,
                         "attributable_share": float(((p - p_nofail) * fail).sum() / total) if total else None,
                         "retry_mean_days": RETRY_MEAN_DAYS, "retry_max_days": RETRY_MAX_DAYS},
        "dunning_recovery": rec,
    }


def _usage_rows(use, ids, w0, freq, rng, month_dates) -> pd.DataFrame:
    if not use:
        return pd.DataFrame(columns=["customer_id", "date", "logins", "active_users", "feature_events", "features_used"])
    cust = np.concatenate([u[0] for u in use]).astype(np.int64)
    cm = np.concatenate([u[1] for u in use]).astype(np.int64)
    logins, au, fe, fu = (np.concatenate([u[k] for u in use]) for k in range(2, 6))
    if freq == "monthly":
        return pd.DataFrame({"customer_id": ids[cust], "date": month_dates(cm, np.ones_like(cm)), "logins": logins,
                             "active_users": au, "feature_events": fe, "features_used": fu})
    # split each month into weekly (Mondays) or daily rows
    first = month_dates(cm, np.ones_like(cm)).astype("datetime64[D]")
    nxt = month_dates(cm + 1, np.ones_like(cm)).astype("datetime64[D]")
    ndays = (nxt - first).astype(np.int64)
    if freq == "daily":
        k = ndays
        offs = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
        dates = np.repeat(first, k) + offs.astype("timedelta64[D]")
    else:
        dow = (first.astype(np.int64) - 4) % 7  # 1970-01-05 was a Monday
        first_monday = (7 - dow) % 7
        k = (ndays - first_monday + 6) // 7
        offs = np.arange(k.sum()) - np.repeat(np.cumsum(k) - k, k)
        dates = np.repeat(first + first_monday.astype("timedelta64[D]"), k) + (7 * offs).astype("timedelta64[D]")
    rep = np.repeat(np.arange(cust.size), k)
    lg = _split(logins.astype(np.int64), k, offs, rep, rng)  # the rows of a month add up to its total
    fev = _split(fe.astype(np.int64), k, offs, rep, rng)
    return pd.DataFrame({"customer_id": ids[cust[rep]], "date": dates.astype("datetime64[ns]"), "logins": lg,
                         "active_users": au[rep], "feature_events": fev, "features_used": fu[rep]})


def _split(total: np.ndarray, k: np.ndarray, pos: np.ndarray, rep: np.ndarray, rng) -> np.ndarray:
    """Split each month's total into its k rows at random (a multinomial by sequential binomials)."""
    out = np.zeros(rep.size, np.int64)
    remaining = total.copy()
    for i in range(int(k.max()) if k.size else 0):
        sel = pos == i
        r = rep[sel]
        left = k[r] - i
        take = np.where(left == 1, remaining[r], rng.binomial(remaining[r], 1.0 / np.maximum(left, 1)))
        out[sel] = take
        remaining[r] -= take
    return out


def _truth(eff, null_world, b_prog, seed, n, months, start, program_start, w0, idx, p, p0, tenure, first, pre,
           plan, touch, satisfaction, resp_state=(), x_path=None, *, estimands: bool = True) -> dict:
    """The planted parameters and, with ``estimands``, what the analyses estimate (``monthly_churn_rate``,
    ``program_effect_pp``, ``s12``, ``nps_mrr_change_12m_pp``; see the module docstring)."""
    on = lambda flag, v: float(np.exp(v)) if flag else 1.0  # noqa: E731
    hrs = {
        "plan": {"Basic": on(eff["plan"], B_PLAN[0]), "Enterprise": on(eff["plan"], B_PLAN[2])},
        "touch_model": {"tech": on(eff["touch"], B_TOUCH[0]), "high": on(eff["touch"], B_TOUCH[2])},
        "acquisition_channel": {"outbound": on(eff["channel"], B_CHANNEL[1]), "partner": on(eff["channel"], B_CHANNEL[2])},
        "log2_seats": on(eff["seats"], B_SEATS),
        "failed_payment": on(eff["failed_payment"], B_FAIL),
        "nps_detractor": on(eff["nps_churn"], B_DET), "nps_passive": on(eff["nps_churn"], B_PAS),
        "falling_usage": on(eff["usage"], B_FALL), "program": float(np.exp(b_prog)),
    }
    planted = {
        "effects": {k: (bool(v) if k != "program_hr" else float(v)) for k, v in eff.items()},
        "null_world": bool(null_world), "seed": int(seed), "n_customers": int(n), "months": int(months),
        "start": str(w0.start_time.date()), "program_start": str((w0 + program_start).start_time.date()),
        "as_of": str((w0 + months - 1).end_time.date()),
    }
    if not estimands:
        return {"hazard_ratios": hrs, "references": dict(REFERENCES), "program_hr": float(np.exp(b_prog)), **planted}

    def km_estimand(mask) -> float:
        t = tenure[mask & first]
        s = 1.0
        for j in range(1, 13):
            sel = t == j
            if not sel.any():
                return float("nan")
            s *= 1 - p[mask & first][sel].mean()
        return float(s)

    all_rows = np.ones(idx.size, bool)
    post = ~pre
    s12 = {"overall": km_estimand(all_rows),
           "plan": {str(PLANS[k]): km_estimand(plan[idx] == k) for k in range(3)},
           "touch_model": {str(TOUCH[k]): km_estimand(touch[idx] == k) for k in range(3)}}
    # NPS → 12-month MRR change among survivors: Monte Carlo of the seat process of the respondents (separate
    # stream): months c … c + 11 after the baseline c − 1, seats changing each month (annual: at renewal only)
    mc = _stream(seed, 7919)
    nps_pp = float("nan")
    if resp_state:
        r_acc, r_c, r_score, r_seats, r_annual, r_term = (np.concatenate([np.asarray(x[k]) for x in resp_state])
                                                          for k in range(6))
        full = r_c - 1 + 12 <= months - 1
        if full.any():
            r_acc, r_c, r_score, r_seats, r_annual, r_term = (a[full] for a in (r_acc, r_c, r_score, r_seats, r_annual, r_term))
        reps = 40
        acc, c0 = np.repeat(r_acc, reps), np.repeat(r_c, reps)
        seats = np.repeat(r_seats, reps).astype(float)
        s0 = seats.copy()
        annual, term = np.repeat(r_annual, reps), np.repeat(r_term, reps)
        s_sat = satisfaction[acc] if eff["nps_revenue"] else 0.0
        p_up, p_down = 0.03 * np.exp(0.35 * s_sat), 0.015 * np.exp(-0.35 * s_sat)
        for j in range(12):
            can = ~annual | ((c0 + j - term) % 12 == 0)
            # the expansion drivers' factor on the account's own path (_plant_expansion; its last value after it left)
            x = x_path[acc, np.minimum(c0 + j, months - 1)] if x_path is not None else 1.0
            u = mc.random(seats.size)
            up, down = can & (u < p_up * x), can & (u >= p_up * x) & (u < p_up * x + p_down)
            seats[up] = np.maximum(seats[up] + 1, np.round(seats[up] * mc.uniform(1.1, 1.5, up.sum())))
            seats[down] = np.maximum(1, np.minimum(seats[down] - 1, np.round(seats[down] * mc.uniform(0.6, 0.9, down.sum()))))
        change = (seats / s0 - 1).reshape(-1, reps).mean(axis=1)
        pro, det = r_score >= 9, r_score <= 6
        if pro.any() and det.any():
            nps_pp = 100 * (change[pro].mean() - change[det].mean())
    return {
        "hazard_ratios": hrs,
        "references": dict(REFERENCES),
        "monthly_churn_rate": {"overall": float(p.mean()), "pre_program": float(p[pre].mean()) if pre.any() else None,
                               "post_program": float(p[post].mean()) if post.any() else None},
        "program_hr": float(np.exp(b_prog)),
        "program_effect_pp": float(100 * (p0[post] - p[post]).mean()) if post.any() else 0.0,
        "s12": s12,
        "nps_mrr_change_12m_pp": None if np.isnan(nps_pp) else float(nps_pp),
        **planted,
    }


def write_demo(out_dir, *, fmt: str = "parquet", **kwargs) -> DemoData:
    """Generate and write one file per table, ``truth.json``, ``churn_prob.parquet`` and a ``csanalysis.yaml``
    with the window's ``as_of``. Written into a temporary folder first, then moved into place."""
    if fmt not in ("parquet", "csv"):
        raise ValueError(f"fmt={fmt!r}: use parquet or csv")
    demo = generate(**kwargs)
    with _published(out_dir) as tmp:
        for name, df in demo.tables.items():
            if fmt == "parquet":
                df.to_parquet(tmp / f"{name}.parquet", index=False)
            else:
                df.to_csv(tmp / f"{name}.csv", index=False, date_format="%Y-%m-%d")
        demo.churn_prob.to_parquet(tmp / "churn_prob.parquet", index=False)
        if demo.expansion_prob is not None:
            demo.expansion_prob.to_parquet(tmp / "expansion_prob.parquet", index=False)
        _write_meta(tmp, demo.truth)
    return demo


@contextmanager
def _published(out_dir):
    """A temporary folder beside ``out_dir`` to write into; moved into place (replacing ``out_dir``) when the
    block ends without an error, removed otherwise."""
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".demo-", dir=out.parent))
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _write_meta(folder: Path, truth: dict) -> None:
    """``truth.json`` and the ``csanalysis.yaml`` with the window's ``as_of``."""
    (folder / "truth.json").write_text(json.dumps(truth, indent=2) + "\n", encoding="utf-8")
    (folder / "csanalysis.yaml").write_text(
        "# Written by `csanalysis demo-data`: the simulated window ends on this date.\n"
        f"settings:\n  as_of: {truth['as_of']}\n", encoding="utf-8")


def _large_block(args) -> tuple[dict, pd.Series, dict]:
    """One block of :func:`write_large`: its tables as Arrow tables (but ``cs_costs``), the customers invoiced in
    each month and the planted truth."""
    import pyarrow as pa

    size, block, kwargs = args
    demo = generate(n_customers=size, block=block, **kwargs)
    tables = {name: pa.Table.from_pandas(df, preserve_index=False) for name, df in demo.tables.items() if name != "cs_costs"}
    return tables, _active_counts(demo.tables["revenue"]), demo.truth


@contextmanager
def _block_runner(jobs: int):
    """A map over blocks that yields results in order: in this process (``jobs`` 1), else in ``jobs`` worker
    processes with at most ``jobs`` blocks waiting to be written."""
    if jobs == 1:
        yield lambda f, items: map(f, items)
        return
    from collections import deque
    from concurrent.futures import ProcessPoolExecutor

    with ProcessPoolExecutor(jobs) as pool:
        def run(f, items):
            pending = deque()
            for item in items:
                pending.append(pool.submit(f, item))
                if len(pending) > jobs:
                    yield pending.popleft().result()
            while pending:
                yield pending.popleft().result()
        yield run


LARGE_BLOCK = 100_000  # accounts per block of write_large (about 1 GB of peak memory each; see benchmarks/RESULTS.md)


def write_large(out_dir, *, n_customers: int, months: int = 36, seed: int = 0, block_size: int = LARGE_BLOCK,
                start: str = "2022-01-01", effects: dict | None = None, null_world: bool = False,
                program_start: int = 18, usage_freq: str | None = None, jobs: int = 1, progress=None) -> dict:
    """Write a world too large to hold in memory, ``block_size`` accounts at a time, as one Parquet file per table.

    Each block is :func:`generate` with a :class:`Block`: the same model, the block's own random streams
    (``np.random.default_rng([seed, 9000, b])`` for block ``b``), account numbers that continue the previous
    block's (ids ``C`` and as many digits as ``n_customers`` has, at least six, so the files stay sorted by id) and
    the same months. Its tables are appended to ``<table>.parquet`` (row groups of one block), so the peak memory
    is one block's whatever ``n_customers`` is. The world is **not** the one :func:`write_demo` writes for the
    same ``seed`` (one stream there, one per block here), and it has no ``churn_prob`` or ``expansion_prob``
    file: ``truth.json`` holds the planted parameters (hazard ratios, effects, window) and ``blocks``, not the
    estimands, which would need every block at once. ``cs_costs`` is computed from every block's invoiced
    customers, as :func:`generate` computes it for one world.

    Parameters
    ----------
    out_dir : path
        The folder to write (replaced when it exists; written beside it first, then moved into place).
    n_customers, months, seed, start, effects, null_world, program_start
        As :func:`generate`.
    block_size : int
        Accounts per block.
    usage_freq : {"daily", "weekly", "monthly"}, optional
        As :func:`generate`, decided on ``n_customers`` (None: monthly above 20,000 accounts).
    jobs : int
        Blocks generated at once, each in a process of its own (the files are the same whatever ``jobs`` is: the
        blocks are appended in order; the peak memory is about ``jobs + 1`` blocks').
    progress : callable, optional
        Called with (accounts written, ``n_customers``) after each block.

    Returns
    -------
    dict
        The ``truth`` written to ``truth.json``.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    n = int(n_customers)
    if n < 1 or block_size < 1 or jobs < 1:
        raise ValueError(f"n_customers={n_customers!r}, block_size={block_size!r}, jobs={jobs!r}: each must be at least 1")
    usage_freq = usage_freq or ("weekly" if n <= 20000 else "monthly")
    width = max(6, len(str(n)))
    w0 = pd.Timestamp(start).to_period("M")
    kwargs = dict(months=months, seed=seed, start=start, effects=effects, null_world=null_world,
                  program_start=program_start, usage_freq=usage_freq)
    blocks = [(min(block_size, n - first), Block(b, first, width)) for b, first in enumerate(range(0, n, block_size))]
    writers: dict = {}
    counts = pd.Series(dtype=np.int64)
    truth: dict = {}
    with _published(out_dir) as tmp, _block_runner(jobs) as run:
        try:
            for (size, block), (tables, active, truth) in zip(blocks, run(_large_block, [(size, block, kwargs) for size, block in blocks])):
                counts = counts.add(active, fill_value=0)
                for name, table in tables.items():
                    w = writers.get(name)
                    if w is None:  # a column with no value in the first block (all None) is text
                        schema = pa.schema([f.with_type(pa.string()) if pa.types.is_null(f.type) else f
                                            for f in table.schema], metadata=table.schema.metadata)
                        w = writers[name] = pq.ParquetWriter(tmp / f"{name}.parquet", schema)
                    w.write_table(table.cast(w.schema))
                del tables
                if progress is not None:
                    progress(block.first + size, n)
        finally:
            for w in writers.values():
                w.close()
        _cs_costs(counts, w0, program_start, months).to_parquet(tmp / "cs_costs.parquet", index=False)
        truth = {**truth, "n_customers": n, "blocks": -(-n // block_size), "block_size": int(block_size),
                 "note": "a large world written block by block (synth.write_large): each block of block_size accounts "
                         "has its own random stream [seed, 9000, block]; the planted parameters only, no estimands"}
        _write_meta(tmp, truth)
    return truth


# --- what customers say (issue 22) ----------------------------------------------------------------------------
# Comments on survey responses, in English, Japanese or both, whose themes are drawn from a separate stream
# (np.random.default_rng([seed, 2202])): every other table, and every draw of the main stream, stays as it was.
# A theme is present with probability q0 on a response whose account stays through the next VOICE_HORIZON months
# and q1 on one whose account churns in them, q1 solved so that the churn risk ratio of responses mentioning the
# theme against those that do not equals the stated factor at the churn share of the commented responses whose
# window is closed by the end of the data (the analysed ones). Themes raise churn only as associations: churn is
# drawn first, by the hazard above; themes follow it.
VOICE_HORIZON = 6
VOICE_COMMENT_SHARE = 0.3
VOICE_LANGUAGES = {"en": 0.45, "ja": 0.40, "mixed": 0.15}
VOICE_PREVALENCE = {"price": 0.12, "support": 0.10, "missing_features": 0.10, "usability": 0.08,
                    "bugs_reliability": 0.08, "onboarding": 0.05, "contract_billing": 0.05}
VOICE_RISK_RATIO = {"price": 2.0, "support": 1.5, "bugs_reliability": 2.5}  # the others 1.0
VOICE_FULL_WIDTH = 0.1  # share of English comments typed in full-width letters (normalisation)
_VOICE_PHRASES = {
    "price": {"en": ["The price is too high for what we use.", "Pricing went up again this year.",
                     "Too expensive for a team our size."],
              "ja": ["料金が高すぎます。", "値上げが厳しいです。", "価格に見合う価値を感じません。"],
              "mixed": ["pricingが高すぎる。", "このplanの料金は高い。"]},
    "support": {"en": ["Support takes days to reply.", "The support team is slow to answer.",
                       "Hard to reach customer service."],
                "ja": ["サポートの返信が遅いです。", "問い合わせへの対応に時間がかかります。"],
                "mixed": ["supportからの返信が来ない。", "サポートのreplyが遅い。"]},
    "missing_features": {"en": ["We miss an integration with our CRM.", "Key features are missing.",
                                "Please add an export to Excel."],
                         "ja": ["必要な機能がありません。", "外部サービスとの連携が欲しいです。"],
                         "mixed": ["Salesforceとのintegrationが欲しい。", "exportの機能が欲しい。"]},
    "usability": {"en": ["The interface is confusing.", "Navigation is clunky and not intuitive."],
                  "ja": ["画面が分かりにくいです。", "操作が使いにくい。"],
                  "mixed": ["UIが分かりにくい。", "dashboardの操作が使いにくい。"]},
    "bugs_reliability": {"en": ["The app crashes every week.", "Too many bugs and errors lately.",
                                "Another outage this month."],
                         "ja": ["不具合が多いです。", "エラーで動かないことがあります。"],
                         "mixed": ["reportがcrashする。", "bugが多くて困る。"]},
    "onboarding": {"en": ["Onboarding took far too long.", "Setup was hard without documentation."],
                   "ja": ["導入に時間がかかりました。", "初期設定が大変でした。"],
                   "mixed": ["onboardingが長すぎた。", "trainingの導入が大変だった。"]},
    "contract_billing": {"en": ["The invoice was wrong again.", "Renewal terms in the contract are unclear."],
                         "ja": ["請求書の内容が間違っていました。", "契約の更新手続きが面倒です。"],
                         "mixed": ["invoiceの金額が違う。", "contractの更新が面倒。"]},
}
_VOICE_MOOD = {  # by NPS category (0 detractor, 1 passive, 2 promoter): no theme keyword in any
    0: {"en": ["Disappointed overall.", "Not happy at all."], "ja": ["不満です。", "期待外れでした。"]},
    1: {"en": ["It is okay overall.", "Does the job."], "ja": ["まあまあです。", "普通です。"]},
    2: {"en": ["Great product, we love it.", "Very happy with the tool."], "ja": ["とても満足しています。", "素晴らしい製品です。"]},
}


def _solve_q1(q0: float, rr: float, pi: float) -> float:
    """Theme probability among churners giving the risk ratio ``rr`` at churn share ``pi`` (bisection)."""
    def ratio(q1):
        a = q1 * pi / (q1 * pi + q0 * (1 - pi))
        b = (1 - q1) * pi / ((1 - q1) * pi + (1 - q0) * (1 - pi))
        return a / b

    if rr == 1.0 or not 0 < pi < 1:
        return q0
    lo, hi = (q0, 1 - 1e-12) if rr > 1 else (1e-12, q0)
    for _ in range(200):
        mid = (lo + hi) / 2
        if (ratio(mid) < rr) == (rr > 1):
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def _full_width(s: str) -> str:
    return "".join(chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ("\u3000" if ch == " " else ch) for ch in s)


def churned_later(account, month, churn_months: dict, horizon: int) -> np.ndarray:
    """Whether each (``account``, survey ``month``) has a churn of the account in months ``month + 1 … month − 1 +
    horizon`` (``churn_months``: {account: its churn months}); vectorised by sorted keys account · span + month."""
    account, month = np.asarray(account, np.int64), np.asarray(month, np.int64)
    ev = [(int(a), int(x)) for a, xs in churn_months.items() for x in xs]
    big = max([1, *(abs(x) for _, x in ev), *(np.abs(month).tolist() if month.size else [])]) + horizon + 2
    span, off = 2 * big, big
    keys = np.sort(np.array([a * span + x + off for a, x in ev], np.int64))
    base = account * span + month + off
    return np.searchsorted(keys, base + horizon - 1, side="right") > np.searchsorted(keys, base + 1, side="left")


def voice_comments(account: np.ndarray, month: np.ndarray, score: np.ndarray, churn_months: dict, *, seed: int,
                   on: bool = True, months: int, horizon: int = VOICE_HORIZON) -> tuple[np.ndarray, dict]:
    """Comments for survey responses (``account``, survey ``month`` index in the window, ``score``) and the truth.

    ``churn_months``: {account: sorted months of its churns}. A response churns later when its account churns in
    months ``month + 1 … month − 1 + horizon``; its window is closed when ``month − 1 + horizon ≤ months − 1``.
    ``on`` False: every stated risk ratio is 1 (the null world). Returns (an object array: text or None; the
    ``truth["voice"]`` part)."""
    vr = _stream(seed, 2202)
    n = len(account)
    churned = churned_later(account, month, churn_months, horizon)
    closed = month - 1 + horizon <= months - 1
    has = vr.random(n) < VOICE_COMMENT_SHARE
    langs = np.array(list(VOICE_LANGUAGES))
    lang = langs[vr.choice(len(langs), n, p=list(VOICE_LANGUAGES.values()))]
    sel = has & closed
    pi = float(churned[sel].mean()) if sel.any() else float("nan")
    themes = {}
    present = {}
    for t, q0 in VOICE_PREVALENCE.items():
        rr = float(VOICE_RISK_RATIO.get(t, 1.0)) if on else 1.0
        q1 = _solve_q1(q0, rr, pi) if np.isfinite(pi) else q0
        present[t] = vr.random(n) < np.where(churned, q1, q0)
        themes[t] = {"prevalence_retained": q0, "prevalence_churned": q1, "churn_risk_ratio": rr,
                     "mrr_change_difference_pp": 0.0,
                     # what was drawn: the comments whose window closed without a churn, and those mentioning t
                     "retained_comments": int((sel & ~churned).sum()),
                     "retained_mentions": int((present[t] & sel & ~churned).sum())}
    cat = np.select([score <= 6, score <= 8], [0, 1], 2)
    mood = vr.random(n) < 0.7
    fw = vr.random(n) < VOICE_FULL_WIDTH
    pick = vr.random((n, len(VOICE_PREVALENCE) + 2))
    out = np.full(n, None, dtype=object)
    for i in np.flatnonzero(has):
        lg = lang[i]
        parts = []
        if mood[i] or not any(present[t][i] for t in VOICE_PREVALENCE):
            bank = _VOICE_MOOD[int(cat[i])]["en" if lg == "en" else "ja" if lg == "ja" else ("en", "ja")[int(pick[i, -1] < 0.5)]]
            parts.append(bank[int(pick[i, -2] * len(bank))])
        for j, t in enumerate(VOICE_PREVALENCE):
            if present[t][i]:
                bank = _VOICE_PHRASES[t][lg]
                parts.append(bank[int(pick[i, j] * len(bank))])
        text = ("" if lg != "en" else " ").join(parts) if lg != "mixed" else " ".join(parts)
        out[i] = _full_width(text) if lg == "en" and fw[i] else text
    truth = {"horizon_months": int(horizon), "comment_share": VOICE_COMMENT_SHARE, "language_shares": dict(VOICE_LANGUAGES),
             "churn_share_commented": pi, "themes": themes, "on": bool(on),
             "note": "themes are drawn given the account's later churn (within horizon_months after the month before "
                     "the survey); the risk ratio holds at churn_share_commented, the share among commented responses "
                     "whose window closes by the end of the data; themes have no relation to MRR change among stayers"}
    return out, truth


def _voice_comments(tables: dict, churn_log: list, *, seed, eff: dict, months: int, w0, first: int = 0) -> dict:
    """Replace the nps table's comment column by :func:`voice_comments` (in place); returns ``truth["voice"]``.
    ``first``: the number of the accounts' first id less one (a :class:`Block`'s)."""
    nps_df = tables["nps"]
    churn_months: dict = {}
    for accts, c in churn_log:
        for a in accts:
            churn_months.setdefault(int(a), []).append(int(c))
    account = nps_df["customer_id"].str[1:].astype(np.int64).to_numpy() - 1 - first
    month = (pd.to_datetime(nps_df["date"]).to_numpy().astype("datetime64[M]").astype(np.int64)
             - ((w0.year - 1970) * 12 + w0.month - 1))  # the survey month's index in the window
    comments, truth = voice_comments(account, month, nps_df["score"].to_numpy(np.int64), churn_months, seed=seed,
                                     on=bool(eff.get("voice", True)), months=months)
    nps_df["comment"] = pd.Series(comments, index=nps_df.index, dtype=object)
    return truth


# --- adoption curves (issue 23) ----------------------------------------------------------------------------------
# Active users and feature breadth ramp up over the months since the start of an account's spell, faster and higher
# for a higher touch model. Drawn from a separate stream (np.random.default_rng([seed, 2302])) after the main
# stream's own draws of the month (which are kept and discarded), so every other table, every other usage column
# and every draw of the main stream stay as they were: only the usage table's active_users and features_used change.
# Per touch model t (tech, low, high) and months since start k, the typical account's (account effect 0, engagement
# 0) expected utilisation is u(k) = u_inf − (u_inf − u0)·exp(−k / tau) and its expected breadth
# f(k) = f_inf − (f_inf − f0)·exp(−k / tau_f). An account-month's
#   active users ~ Binomial(seats in force, π),  logit π = logit u(k) + a + 0.8·engagement,  a ~ N(0, 0.6²) per account;
#   features used = min(12, Poisson(f(k)·exp(b + 0.3·engagement))),  b ~ N(0, 0.25²) per account;
# both 0 in an idle month (no usage rows).
ADOPTION_U0 = np.array([0.15, 0.25, 0.35])  # tech, low, high
ADOPTION_UINF = np.array([0.55, 0.65, 0.75])
ADOPTION_TAU = np.array([5.0, 3.0, 2.0])
ADOPTION_F0 = np.array([1.5, 2.0, 3.0])
ADOPTION_FINF = np.array([5.0, 6.0, 8.0])
ADOPTION_TAU_F = np.array([6.0, 5.0, 4.0])
ADOPTION_SD_A, ADOPTION_SD_B, ADOPTION_ENG_U, ADOPTION_ENG_F = 0.6, 0.25, 0.8, 0.3
ADOPTION_MAX_FEATURES = 12
ADOPTION_TRUTH_MONTHS = 24  # truth for months since start 0 … 24


def adoption_curve(k, touch: int, which: str = "utilisation") -> np.ndarray:
    """The planted curve of the typical account of touch model index ``touch`` at months since start ``k``."""
    k = np.asarray(k, dtype=float)
    if which == "utilisation":
        return ADOPTION_UINF[touch] - (ADOPTION_UINF[touch] - ADOPTION_U0[touch]) * np.exp(-k / ADOPTION_TAU[touch])
    return ADOPTION_FINF[touch] - (ADOPTION_FINF[touch] - ADOPTION_F0[touch]) * np.exp(-k / ADOPTION_TAU_F[touch])


class _Adoption:
    """The adoption draws of the monthly loop and their truth (see the comment above)."""

    def __init__(self, seed: int, n: int, touch: np.ndarray):
        self.rng = _stream(seed, 2302)
        self.a = self.rng.normal(0, ADOPTION_SD_A, n)
        self.b = self.rng.normal(0, ADOPTION_SD_B, n)
        self.touch = touch
        self.rows = []  # per draw: accounts, month, k, seats, π, λ, idle

    def draw(self, acc, c, k, seats, engagement, idle):
        t = self.touch[acc]
        u = adoption_curve(k, t)
        pi = 1 / (1 + np.exp(-(np.log(u / (1 - u)) + self.a[acc] + ADOPTION_ENG_U * engagement)))
        lam = adoption_curve(k, t, "features") * np.exp(self.b[acc] + ADOPTION_ENG_F * engagement)
        au = self.rng.binomial(seats, pi)
        fu = np.minimum(ADOPTION_MAX_FEATURES, self.rng.poisson(lam))
        au[idle], fu[idle] = 0, 0
        self.rows.append((acc, c, k, seats, pi, lam, idle))
        return au, fu

    def truth(self, tables: dict, ids: np.ndarray, w0) -> dict:
        """``adoption`` truth: the planted parameters and, per touch model and k = 0 … 24, the median of
        utilisation (active users ÷ the seats in force *as the data record them*: the seats history of
        ``customer_attributes`` when the tables have one, else ``customers.seats``) and of features used among the
        paid account-months of the window, each the median of the mixture of the account-months' true
        distributions (binomial and capped Poisson given their true π and λ), not of the realised draws — the
        number the adoption curves estimate (csanalysis/lifecycle/adoption.py; an account's values at the same k
        in two spells are both counted here, the analysis keeps the later: reactivations are rare)."""
        from scipy.stats import binom, poisson

        if not self.rows:
            return {}
        acc, k, seats, pi, lam, idle = (np.concatenate([np.asarray(r[j]) for r in self.rows]) for j in (0, 2, 3, 4, 5, 6))
        month = np.concatenate([np.full(len(r[0]), r[1]) for r in self.rows])
        acc, k = acc.astype(np.int64), k.astype(np.int64)
        rec = _recorded_seats(tables, ids[acc], month, w0)
        out = {"u0": dict(zip(TOUCH.tolist(), ADOPTION_U0.tolist())), "u_inf": dict(zip(TOUCH.tolist(), ADOPTION_UINF.tolist())),
               "tau": dict(zip(TOUCH.tolist(), ADOPTION_TAU.tolist())), "f0": dict(zip(TOUCH.tolist(), ADOPTION_F0.tolist())),
               "f_inf": dict(zip(TOUCH.tolist(), ADOPTION_FINF.tolist())), "tau_f": dict(zip(TOUCH.tolist(), ADOPTION_TAU_F.tolist())),
               "sd_account_logit": ADOPTION_SD_A, "sd_account_log_features": ADOPTION_SD_B,
               "typical_utilisation": {}, "median_utilisation": {}, "median_features_used": {}, "account_months": {},
               "note": ("median_* per touch model and months since start (0 … 24): the median of the mixture of the paid "
                        "account-months' true distributions, utilisation over the seats in force as the data record "
                        "them; typical_utilisation: the planted curve of an account with account effect 0 and "
                        "engagement 0")}
        for ti, name in enumerate(TOUCH.tolist()):
            ks = range(ADOPTION_TRUTH_MONTHS + 1)
            out["typical_utilisation"][name] = [float(adoption_curve(x, ti)) for x in ks]
            mu, mf, na = [], [], []
            for x in ks:
                sel = (self.touch[acc] == ti) & (k == x)
                s, p, d, lm, idl = seats[sel], pi[sel], rec[sel], lam[sel], idle[sel]
                ok = d > 0
                s, p, d, lm, idl_u = s[ok], p[ok], d[ok], lm, idl[ok]
                na.append(int(sel.sum()))
                if not sel.any():
                    mu.append(None), mf.append(None)
                    continue

                def f_util(v):  # P(active / recorded seats ≤ v), mixture over the account-months
                    j = np.floor(v * d + 1e-9)  # (1e-9: v = j / d exactly counts j)
                    return float(np.where(idl_u, 1.0, binom.cdf(j, s, p)).mean())

                lo, hi = 0.0, float((s / d).max()) + 1e-9
                if f_util(0.0) >= 0.5:
                    hi = 0.0
                for _ in range(60):
                    mid = (lo + hi) / 2
                    lo, hi = (lo, mid) if f_util(mid) >= 0.5 else (mid, hi)
                cand = np.ceil((hi - 1e-7) * d) / d  # the jump point: a value j / seats of some account-month
                mu.append(float(cand[cand >= hi - 1e-7].min()) if hi > 0 else 0.0)
                cdf = [float(np.where(idl, 1.0, poisson.cdf(j, lm) if j < ADOPTION_MAX_FEATURES else 1.0).mean())
                       for j in range(ADOPTION_MAX_FEATURES + 1)]
                mf.append(float(next(j for j, c in enumerate(cdf) if c >= 0.5)))
            out["median_utilisation"][name], out["median_features_used"][name] = mu, mf
            out["account_months"][name] = na
        return out


def _recorded_seats(tables: dict, cust_ids: np.ndarray, month: np.ndarray, w0) -> np.ndarray:
    """Seats in force as the tables record them for each (customer id, window month index): the latest
    ``customer_attributes`` row of attribute ``seats`` dated in the month or before, else ``customers.seats``."""
    c = tables["customers"].set_index("customer_id")["seats"]
    out = c.reindex(cust_ids).to_numpy(dtype=float)
    hist = tables.get("customer_attributes")
    if hist is not None and len(hist) and (hist["attribute"] == "seats").any():
        h = hist[hist["attribute"] == "seats"]
        hm = (pd.to_datetime(h["valid_from"]).dt.to_period("M") - w0).map(lambda x: x.n).to_numpy()
        q = pd.DataFrame({"cid": cust_ids, "m": month.astype(np.int64), "i": np.arange(len(cust_ids))}).sort_values("m")
        r = pd.DataFrame({"cid": h["customer_id"].to_numpy(), "m": hm.astype(np.int64),
                          "v": pd.to_numeric(h["value"], errors="coerce").to_numpy(dtype=float)}).sort_values("m", kind="stable")
        j = pd.merge_asof(q, r, on="m", by="cid", direction="backward")
        v = np.full(len(cust_ids), np.nan)
        v[j["i"].to_numpy()] = j["v"].to_numpy()
        out = np.where(np.isnan(v), out, v)
    return out
