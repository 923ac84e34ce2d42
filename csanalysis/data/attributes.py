"""Customer attributes: the columns of ``customers`` (or of a ``snapshot``) that describe a customer, their kind
and the rules for using one as a segment or a model covariate, in one place.

**What is an attribute.** Every column of ``customers`` other than ``customer_id`` and the dates
(``signup_date``, ``renewal_date``): the canonical optional columns (``plan``, ``seats`` …) and every other
column of the export, kept under its own name (``company_size``, ``業種``, ``contract type``).

**Kinds.** ``numeric`` or ``categorical``. A canonical column keeps its declared type (``seats`` and
``acquisition_cost`` are numeric, the text columns categorical). Any other column is inferred at load: numeric
when every non-blank value parses as a number, else categorical. The mapping overrides the inference per table
(``attributes: {company_size: categorical, monthly_charges: numeric}``); a ``numeric`` override with values that
are not numbers is a load error naming the column, the rows and examples. The kinds are kept on the Dataset
(:attr:`Dataset.attribute_kinds`) and in a report run's cache.

**As a segment** (``by`` / ``segment`` of the curves, cohorts, log-rank tests, NPS by segment and the NPS revenue
model's segment control): a categorical attribute, its missing values one more level ``(missing)``, with at most
:data:`MAX_LEVELS` levels. A numeric attribute is refused with a message (declare it categorical in the mapping
when its values are codes, or bin it in the export): no silent binning.

**As a Cox covariate**: a categorical attribute is dummy-coded against its reference level (survival.py); a
numeric one enters on its own scale, its hazard ratio per unit, or per doubling with the suffix ``:log2``
(``monthly_charges:log2``; every value must be above zero). ``seats`` enters per doubling (log2 of seats, at
least 1) as before. **As a churn-risk model input** (health/model.py) a categorical attribute is one-hot coded and a
numeric one enters standardised on its own scale. A constant or all-missing attribute carries no information: it
is reported (a load note, the overview, ``CoxResult.skipped``) and never fitted.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

NUMERIC, CATEGORICAL = "numeric", "categorical"
KINDS = (NUMERIC, CATEGORICAL)
NOT_ATTRIBUTES = ("customer_id", "signup_date", "renewal_date", "cancellation_reason")  # columns of customers that are not attributes (a cancellation reason is an outcome: csanalysis/causes.py)
SNAPSHOT_OUTCOMES = ("tenure_months", "churned", "mrr")  # columns of a snapshot that are not customer attributes
MAX_LEVELS = 30  # most levels a categorical attribute may have as a segment or a Cox covariate
MISSING = "(missing)"  # the level of a missing value in a segment
LOG2 = "log2"  # covariate suffix: a numeric attribute per doubling


def infer_kinds(customers: pd.DataFrame) -> dict[str, str]:
    """Kinds from the columns' dtypes (a Dataset built without the loader: the loader types an attribute as
    float64 when numeric and as text otherwise, so the dtype says the kind)."""
    return {c: NUMERIC if pd.api.types.is_numeric_dtype(customers[c]) and not pd.api.types.is_bool_dtype(customers[c])
            else CATEGORICAL for c in customers.columns if c not in NOT_ATTRIBUTES}


def table_kinds(t) -> dict[str, str]:
    """Kinds of the attributes of the loader's typed ``customers`` or ``snapshot`` engine table: the loader types
    a numeric attribute as a number and every other as text."""
    return {c: NUMERIC if t[c].type().is_numeric() else CATEGORICAL
            for c in t.columns if c not in NOT_ATTRIBUTES + SNAPSHOT_OUTCOMES}


def report_uninformative(t, kinds: dict[str, str], report, table: str) -> None:
    """A load note for each attribute of engine table ``t`` that is constant or empty for every customer (one
    query for all of them: values, minimum and maximum; at 1M customers a distinct count per column took
    several times longer).

    Parameters
    ----------
    t : ibis.Table
        The customers table in the engine.
    kinds : dict
        Each attribute's kind (numeric or categorical).
    report : ValidationReport
        Where the notes go.
    table : str
        The table's name in the notes.

    Returns
    -------
    None
        The notes are added to ``report``.
    """
    if not kinds:
        return
    names = list(kinds)
    aggs = {"n": t.count()}
    for i, c in enumerate(names):
        aggs[f"v{i}"] = t[c].count()
        aggs[f"lo{i}"] = t[c].min()
        aggs[f"hi{i}"] = t[c].max()
    r = t.aggregate(**aggs).execute().iloc[0]
    n = int(r["n"])
    for i, c in enumerate(names):
        values = int(r[f"v{i}"] or 0)
        if n and values == 0:
            report.add("note", table, "the attribute is empty for every customer: it is kept but never fitted",
                       column=c, n_rows=n, key="finding.attribute_empty")
        elif n and values == n and r[f"lo{i}"] == r[f"hi{i}"]:
            report.add("note", table, "the attribute has one value for every customer: it is kept but never "
                       "fitted", column=c, n_rows=n, key="finding.attribute_constant")


def kinds(ds) -> dict[str, str]:
    """Each attribute of the Dataset and its kind, in column order."""
    known = getattr(ds, "attribute_kinds", None)  # a stand-in Dataset (tests) may have none
    if known is None:
        return infer_kinds(ds.customers)
    return dict(known)


def _unknown(ds, name: str, what: str) -> ValueError:
    names = list(kinds(ds))
    return ValueError(f"{what}={name!r} is not a customer attribute; attributes: {names}")


def check_segment(ds, name: str, *, what: str = "by") -> None:
    """Raise a ValueError unless ``name`` is a categorical attribute with at most :data:`MAX_LEVELS` levels."""
    k = kinds(ds)
    if name not in k:
        raise _unknown(ds, name, what)
    col = ds.customers[name]
    if k[name] == NUMERIC:
        raise ValueError(
            f"{what}={name!r} is a numeric attribute ({col.nunique():,} distinct values): a segment needs a "
            f"categorical attribute. If its values are codes, declare it in the mapping (attributes: "
            f"{{{name}: categorical}}); otherwise group it into bands in the export first")
    _check_levels(name, col, what)


def segment_problem(ds, name: str | None) -> tuple[str, dict] | None:
    """Why ``name`` cannot split the customers into segments, as a code and its values for a report sentence
    (``unknown``: not an attribute; ``numeric``; ``levels``: more than :data:`MAX_LEVELS`), or None when it can (or
    no segment is asked for). A report then shows all customers together and says why."""
    if name is None:
        return None
    k = kinds(ds)
    if name not in k:
        return "unknown", {"name": name, "names": ", ".join(n for n, kind in k.items() if kind != NUMERIC)}
    if k[name] == NUMERIC:
        return "numeric", {"name": name}
    n = int(ds.customers[name].fillna(MISSING).nunique())
    if n > MAX_LEVELS:
        return "levels", {"name": name, "n": n, "max": MAX_LEVELS}
    return None


def _check_levels(name: str, col: pd.Series, what: str) -> None:
    n = int(col.fillna(MISSING).nunique())
    if n > MAX_LEVELS:
        raise ValueError(f"{what}={name!r} has {n:,} levels (missing values included), more than the {MAX_LEVELS} a "
                         "segment or a covariate may have: group its rarer levels in the export, or choose another "
                         "attribute")


def segment_of(ds, name: str, *, what: str = "by") -> pd.Series:
    """Each customer's level of segment ``name`` (index ``customer_id``, text; missing values ``(missing)``),
    after :func:`check_segment`."""
    check_segment(ds, name, what=what)
    c = ds.customers
    return pd.Series(c[name].astype(object).where(c[name].notna(), MISSING).astype(str).to_numpy(),
                     index=c["customer_id"].to_numpy(), name=name)


def uninformative(col: pd.Series) -> str | None:
    """``"all missing"`` or ``"constant"`` when the column cannot inform a model, else None."""
    values = col.dropna()
    if not len(values):
        return "all missing"
    if values.nunique() == 1 and not col.isna().any():
        return "constant"
    return None


def parse_covariate(spec: str) -> tuple[str, str | None]:
    """``"monthly_charges:log2"`` → ``("monthly_charges", "log2")``; ``"plan"`` → ``("plan", None)``."""
    spec = str(spec)
    head, sep, tail = spec.rpartition(":")
    if sep and tail.strip() == LOG2 and head:
        return head.strip(), LOG2
    return spec, None


def present(ds, covariates) -> list[str]:
    """The covariate specifications (``plan``, ``monthly_charges:log2``) whose attribute the Dataset has: a
    notebook's default list runs on data without some of them."""
    k = kinds(ds)
    return [c for c in covariates if parse_covariate(c)[0] in k]


def check_covariates(ds, covariates) -> tuple[list[tuple[str, str | None]], dict[str, str]]:
    """The covariates to fit as (attribute, transform) and those skipped with the reason (constant, all missing).

    Raises a ValueError for an unknown attribute, ``:log2`` on a categorical attribute, or a categorical attribute
    with more than :data:`MAX_LEVELS` levels."""
    k = kinds(ds)
    keep, skipped = [], {}
    for spec in covariates:
        name, transform = parse_covariate(spec)
        if name not in k:
            raise _unknown(ds, name, "covariate")
        col = ds.customers[name]
        if transform == LOG2 and k[name] != NUMERIC:
            raise ValueError(f"covariate {spec!r}: {LOG2} needs a numeric attribute; {name!r} is categorical")
        why = uninformative(col)
        if why is not None:
            skipped[name] = why
            continue
        if k[name] == CATEGORICAL:
            _check_levels(name, col, "covariate")
        keep.append((name, transform))
    return keep, skipped


def overview(ds, *, top: int = 3) -> pd.DataFrame:
    """One row per attribute: ``attribute``, ``kind``, ``missing`` (share of customers), ``levels`` (distinct
    values), ``most common`` (a categorical attribute's ``top`` most common levels with their customers, most
    first), ``median`` / ``min`` / ``max`` (a numeric attribute's) and ``note``: ``constant``, ``all missing`` or
    ``too many levels`` (more than :data:`MAX_LEVELS`, so not usable as a segment), else None."""
    rows = []
    c = ds.customers
    for name, kind in kinds(ds).items():
        col = c[name]
        values = col.dropna()
        row = {"attribute": name, "kind": kind, "missing": float(col.isna().mean()) if len(c) else float("nan"),
               "levels": int(values.nunique()), "most common": None, "median": float("nan"), "min": float("nan"),
               "max": float("nan"), "note": uninformative(col)}
        if kind == NUMERIC:
            if len(values):
                v = values.astype(float)
                row.update(median=float(v.median()), min=float(v.min()), max=float(v.max()))
        else:
            counts = values.astype(str).value_counts()
            counts = counts.iloc[np.lexsort((counts.index.to_numpy(), -counts.to_numpy()))][:top]
            row["most common"] = ", ".join(f"{lv} ({cnt:,})" for lv, cnt in counts.items()) or None
            if row["note"] is None and int(col.fillna(MISSING).nunique()) > MAX_LEVELS:
                row["note"] = "too many levels"
        rows.append(row)
    return pd.DataFrame(rows, columns=["attribute", "kind", "missing", "levels", "most common", "median", "min",
                                       "max", "note"])


__all__ = ["NUMERIC", "CATEGORICAL", "KINDS", "MAX_LEVELS", "MISSING", "LOG2", "kinds", "infer_kinds",
           "table_kinds", "report_uninformative", "present", "check_segment", "segment_of", "uninformative",
           "parse_covariate", "check_covariates", "overview"]


def label(name: str, translate=None) -> str:
    """An attribute's label for a reader: the catalogue's (``attr.<name>``, through ``translate``) for a canonical
    attribute, else the name as the export writes it with underscores as spaces (``業種``, ``monthly charges``)."""
    if translate is not None:
        try:
            return translate(f"attr.{name}")
        except KeyError:
            pass
    return str(name).replace("_", " ")


# --- values in force month by month (the history table) ---------------------------------------------------------

SEATS = "seats"


def in_force_by_month(ds, name: str, customer_id, month) -> pd.Series:
    """The value of attribute ``name`` in force for each (``customer_id``, ``month``) pair: the latest row of the
    ``customer_attributes`` history for that customer and attribute with ``valid_from`` on or before the month's
    last day, else the customer's signup value (its column of ``customers``; missing when neither exists). The
    month-end rule matches :meth:`Dataset.attribute_at` at the month's last day: a change during the month is in
    force for that month (the rule of the churn-risk signals, csanalysis/health/signals.py); of two changes in one
    month the later date counts. Returns an object Series aligned with the pairs (values as in the sources: the
    history's values are text)."""
    ids = pd.Series(np.asarray(customer_id), dtype=object).astype(str)
    cust = ds.customers
    signup = (cust.assign(_id=cust["customer_id"].astype(str)).set_index("_id")[name]
              if name in cust.columns else pd.Series(dtype=object))
    out = pd.Series(signup.reindex(ids.to_numpy()).to_numpy(dtype=object), dtype=object)
    hist = ds.attributes
    if hist is None or not len(hist):
        return out
    h = hist.loc[hist["attribute"] == name, ["customer_id", "value", "valid_from"]]
    h = h.iloc[np.argsort(pd.to_datetime(h["valid_from"]).to_numpy(), kind="stable")]  # the later change in a month wins
    if not len(h):
        return out
    from ..periods import month_index
    from .keys import AccountMonths

    # the shared (account, month) as-of lookup: the latest row dated in the pair's month or before (of two rows in
    # one month, the last in table order), as the churn-risk signals read the same history
    keys = AccountMonths(ids.to_numpy(), month_index(pd.to_datetime(pd.Series(np.asarray(month)))))
    v = keys.latest(h["customer_id"].astype(str).to_numpy(dtype=object), month_index(pd.to_datetime(h["valid_from"])),
                    h["value"].to_numpy(dtype=object))
    found = pd.notna(v)
    values = out.to_numpy(dtype=object)
    values[found] = v[found]
    return pd.Series(values, dtype=object)


def seats_source(ds) -> str | None:
    """Where the seats in force come from: ``"history"`` (rows of attribute ``seats`` in ``customer_attributes``,
    the signup value of ``customers.seats`` before a customer's first row), ``"signup"`` (``customers.seats`` only:
    seats are then constant over each customer's life) or None (no seats in the data)."""
    hist = ds.attributes
    if hist is not None and len(hist) and (hist["attribute"] == SEATS).any():
        return "history"
    if SEATS in ds.customers.columns and ds.customers[SEATS].notna().any():
        return "signup"
    return None


def seats_in_force(ds, customer_id, month) -> np.ndarray:
    """Seats in force for each (``customer_id``, ``month``) pair (:func:`in_force_by_month` of ``seats``), as
    floats. Raises a ValueError naming the table, the customers and examples when the data hold no seats, when a
    pair has none (no signup value and no history row yet) or when a value is not a whole number ≥ 0."""
    if seats_source(ds) is None:
        raise ValueError("seat retention needs seats: a 'seats' column in customers (seats at signup) or rows of "
                         "attribute 'seats' in the customer_attributes history table (data/README.md); the data have "
                         "neither")
    raw = in_force_by_month(ds, SEATS, customer_id, month)
    num = pd.to_numeric(raw, errors="coerce")
    text = num.isna() & raw.notna()  # history values are text: "1,200" is 1200
    if text.any():
        num[text] = pd.to_numeric(raw[text].astype(str).str.replace(",", "", regex=False).str.strip(), errors="coerce")
    ids = pd.Series(np.asarray(customer_id), dtype=object).astype(str)
    missing = num.isna() & raw.isna()
    if missing.any():
        who = ids[missing].unique()
        raise ValueError(f"seats: {len(who):,} customer(s) have months with no seats in force (customers.seats blank "
                         f"and no earlier customer_attributes row of attribute 'seats'), e.g. {list(who[:5])}")
    bad = num.isna() | (num < 0) | (num != np.floor(num))
    if bad.any():
        ex = sorted(set(map(str, raw[bad].tolist())))[:5]
        who = ids[bad].unique()
        raise ValueError(f"seats: {int(bad.sum()):,} customer-month(s) of {len(who):,} customer(s) (e.g. {list(who[:5])}) "
                         f"have seats that are not whole numbers ≥ 0: {ex} (customers.seats or customer_attributes rows "
                         "of attribute 'seats')")
    return num.to_numpy(dtype=float)
