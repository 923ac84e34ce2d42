"""Net Promoter Score: the statistic, and NPS against revenue.

Callers keep one import (``from csanalysis import nps``; ``nps.net_promoter_score(...)``,
``nps.nps_revenue(ds)``); the work is done in one module per concern:

* :mod:`~csanalysis.nps.statistic`: the NPS of scores 0–10 with its interval (Wald, adjusted Wald, bootstrap over
  accounts), the difference of two NPS, loyalty per account and NPS per group. It stands alone (scores in, no
  ``Dataset``), as ``statsmodels.stats.proportion`` does.
* :mod:`~csanalysis.nps.survey`: a Dataset's survey responses with their category, period and segment.
* :mod:`~csanalysis.nps.nonresponse`: who answered (coverage per period) and whether they differ (response bias).
* :mod:`~csanalysis.nps.alignment`: each response lined up with its account's revenue before and after it.
* :mod:`~csanalysis.nps.associations`: churn and revenue per category, correlations, NPS against another measure.
* :mod:`~csanalysis.nps.models`: the churn (logistic) and revenue (OLS) models on the category.
* :mod:`~csanalysis.nps.inference`: the pre-declared primary test and the Holm-corrected exploratory comparisons.
* :mod:`~csanalysis.nps.accounts`: one row per account and a fitted line, for the account scatter.
* :mod:`~csanalysis.nps.analysis`: the whole analysis of one Dataset, computed once (:func:`nps_revenue`).

Everything after the statistic reads the Dataset's monthly panel and spells (the one churn definition,
data/README.md): a response is aligned with its account's MRR in the last full month before the survey and
with what happened over the next k months. Nothing here re-derives churn.
"""
from .accounts import account_view, fitted_line
from .alignment import DEFAULT_HORIZONS, Alignment, align, align_responses
from .analysis import NPSRevenue, nps_revenue
from .associations import category_outcomes, compare_measures, correlation
from .inference import DEFAULT_PRIMARY, POWER, comparisons, holm, mde, parse_primary, primary_test
from .models import OUTCOMES, PAIRS, ModelResult, churn_model, revenue_model
from .nonresponse import coverage, response_bias
from .statistic import (AUTO_MAX_ABS_NPS, AUTO_MIN_N, METHODS, NPSDifference, NPSResult, account_loyalty,
                        net_promoter_score, nps_by, nps_difference, nps_interval)
from .survey import CATEGORIES, SURVEY_PERIODS, category, responses

__all__ = [
    # statistic
    "METHODS", "AUTO_MIN_N", "AUTO_MAX_ABS_NPS", "nps_interval", "NPSResult", "net_promoter_score", "NPSDifference",
    "nps_difference", "account_loyalty", "nps_by",
    # survey
    "CATEGORIES", "SURVEY_PERIODS", "category", "responses",
    # nonresponse
    "coverage", "response_bias",
    # alignment
    "DEFAULT_HORIZONS", "Alignment", "align", "align_responses",
    # associations
    "category_outcomes", "correlation", "compare_measures",
    # models
    "OUTCOMES", "PAIRS", "ModelResult", "churn_model", "revenue_model",
    # inference
    "DEFAULT_PRIMARY", "POWER", "parse_primary", "mde", "holm", "primary_test", "comparisons",
    # accounts
    "account_view", "fitted_line",
    # analysis
    "NPSRevenue", "nps_revenue",
]
