"""Health scores and the churn-risk list (解約予備軍), judged on the future.

One import for the whole analysis (``from csanalysis import health; health.churn_risk(ds)``); each concern
lives in its own module:

* :mod:`~csanalysis.health.signals` — scoring dates and the signals read up to each scoring month's end;
* :mod:`~csanalysis.health.outcomes` — outcome windows: churned within the horizon, and whether that is known;
* :mod:`~csanalysis.health.scorecard` — the weighted scorecard (YAML) and its calibration to a probability;
* :mod:`~csanalysis.health.model` — the data-driven score (penalised logistic regression) and its importance;
* :mod:`~csanalysis.health.ceiling` — the generator's true probabilities on demo data (the best possible score);
* :mod:`~csanalysis.health.evaluation` — AUC, lift, capture, precision at capacity, calibration, with
  cluster-bootstrap intervals;
* :mod:`~csanalysis.health.capacity` — the groups a list is cut in (team, CSM, total);
* :mod:`~csanalysis.health.analysis` — :func:`churn_risk`: both scores at the scoring date, judged on the future;
* :mod:`~csanalysis.health.reasons` — why an account is at risk, in words;
* :mod:`~csanalysis.health.risklist` — the list in its CSV layout, cut at capacity, per team;
* :mod:`~csanalysis.health.archive` — the kept lists and the follow-up of an earlier one;
* :mod:`~csanalysis.health.renewals` — the renewal calendar: contracts renewing in the next 30/90/180 days with
  their ARR and churn risk (a view of the list);
* :mod:`~csanalysis.health.trend` — health over time: band shares per month, the accounts that declined.

**Scoring dates and outcomes.** A scoring date *t* is turned into its scoring month *T* (the last complete
month); every signal reads data up to the end of *T* only. The outcome of a score at *T* is churn within the
next ``horizon`` months; it is known once *T* + ``horizon`` + ``grace_months`` ≤ the as_of month.

**Two scores.** A weighted scorecard whose 0–100 points are calibrated to a churn probability on past scoring
dates, and a data-driven score, an L2-regularised logistic regression on the same signals, trained on past
scoring dates whose outcome windows closed before the date it scores.

**Judged on the future.** A later window of scoring dates is scored with models fitted only on earlier closed
windows; AUC, top-decile lift and capture, precision at capacity and calibration come with cluster-bootstrap
intervals (accounts resampled whole). On demo data the generator's true churn probabilities give the ceiling.

**The list.** :func:`risk_list` ranks accounts by risk with their reasons in words, cuts it at the team's
capacity and splits it by touch model; :data:`LIST_COLUMNS` documents the CSV layout for a CRM import.
"""
from . import trend
from .analysis import ChurnRisk, churn_risk
from .archive import archive_list, archive_path, default_archive, follow_up, latest_archived
from .capacity import CAPACITY_BY, capacity_groups
from .ceiling import load_true_probabilities, true_probability
from .evaluation import Evaluation, auc_difference, evaluate_score, gains_curve, rates_by
from .model import ChurnRiskModel, default_attributes, design, fit_model, importance_table
from .outcomes import TooLittleHistory, outcomes
from .reasons import (REASON_TEMPLATES, input_labels, model_reasons, odds_ratio_text, scorecard_reasons,
                      separation_note)
from .renewals import CALENDAR_COLUMNS, WINDOWS, calendar_metrics, renewal_calendar, renewal_summary
from .risklist import LIST_COLUMNS, LIST_SCORES, RANK_BY, list_layout, read_list, risk_list, team_lists
from .scorecard import (BAND_POINTS, CALIBRATIONS, DEFAULT_SCORECARD, CalibratedScorecard, Measure, Scorecard,
                        calibrate_scorecard)
from .signals import (ATTRIBUTES, NUMERIC_SIGNALS, TOUCH_MODELS, USAGE_SIGNALS, monthly_usage, reference_date,
                      scoring_month, signals)
from .trend import (DECLINED_COLUMNS, BandHistory, Declined, HealthTrend, band_history, changed_signals,
                    declined_accounts, declined_layout, health_trend)

__all__ = [
    # signals and outcomes
    "ATTRIBUTES", "TOUCH_MODELS", "NUMERIC_SIGNALS", "USAGE_SIGNALS", "scoring_month", "reference_date", "signals",
    "monthly_usage", "outcomes", "TooLittleHistory",
    # the two scores
    "DEFAULT_SCORECARD", "CALIBRATIONS", "BAND_POINTS", "Measure", "Scorecard", "CalibratedScorecard",
    "calibrate_scorecard", "design", "ChurnRiskModel", "fit_model", "importance_table", "default_attributes",
    "load_true_probabilities", "true_probability",
    # judged on the future
    "Evaluation", "evaluate_score", "gains_curve", "rates_by", "auc_difference",
    "ChurnRisk", "churn_risk",
    # the list and its archive
    "CAPACITY_BY", "capacity_groups", "LIST_COLUMNS", "LIST_SCORES", "RANK_BY", "REASON_TEMPLATES", "model_reasons",
    "scorecard_reasons", "input_labels", "odds_ratio_text", "separation_note",
    "risk_list", "list_layout", "team_lists", "read_list", "default_archive",
    "archive_path", "archive_list", "latest_archived", "follow_up",
    # the renewal calendar
    "WINDOWS", "CALENDAR_COLUMNS", "renewal_calendar", "renewal_summary", "calendar_metrics",
    # health over time
    "trend", "DECLINED_COLUMNS", "BandHistory", "Declined", "HealthTrend", "band_history", "changed_signals",
    "declined_accounts", "declined_layout", "health_trend",
]
