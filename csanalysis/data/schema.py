"""The canonical tables: column names, types and which are required (see data/README.md).

Raw tables are checked in the engine (count queries in :mod:`csanalysis.data.load`); the aggregated pandas
tables that analyses read (panel, spells, customers) are checked with pandera schemas below.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache

# Column kinds: "id" and "text" stay strings, "date" is parsed, "number" is float, "integer" must be whole.


@dataclass(frozen=True)
class TableSpec:
    name: str
    required: dict[str, str]
    optional: dict[str, str] = field(default_factory=dict)
    # any other numeric column is kept (usage measures, satisfaction measures)
    extra_numeric: bool = False
    # any other column is kept as a customer attribute, numeric or categorical (data/attributes.py)
    extra_attributes: bool = False

    @property
    def columns(self) -> dict[str, str]:
        return {**self.required, **self.optional}


TABLES: dict[str, TableSpec] = {
    "customers": TableSpec(
        "customers",
        required={"customer_id": "id", "signup_date": "date"},
        optional={
            "plan": "text", "touch_model": "text", "industry": "text", "region": "text",
            "seats": "integer", "csm_owner": "text", "acquisition_channel": "text",
            "acquisition_cost": "number", "renewal_date": "date", "cancellation_reason": "text",
        },
        extra_attributes=True,
    ),
    "customer_attributes": TableSpec(
        "customer_attributes",
        required={"customer_id": "id", "attribute": "text", "value": "text", "valid_from": "date"},
    ),
    "revenue": TableSpec(
        "revenue",
        required={"customer_id": "id", "date": "date", "amount": "number"},
        optional={"period_start": "date", "period_end": "date", "kind": "text", "currency": "text"},
    ),
    "usage": TableSpec("usage", required={"customer_id": "id", "date": "date"}, extra_numeric=True),
    "nps": TableSpec(
        "nps",
        required={"customer_id": "id", "date": "date", "score": "integer"},
        optional={"respondent_id": "id", "comment": "text"},
        extra_numeric=True,
    ),
    "payments": TableSpec(
        "payments", required={"customer_id": "id", "date": "date", "status": "text"},
        optional={"amount": "number"},
    ),
    "cs_activities": TableSpec(
        "cs_activities", required={"customer_id": "id", "date": "date", "activity": "text"},
    ),
    "cs_costs": TableSpec("cs_costs", required={"month": "date", "cost": "number"}),
    # support tickets (free text, read by the voice-of-the-customer analysis, csanalysis/voice)
    "tickets": TableSpec(
        "tickets", required={"customer_id": "id", "date": "date", "text": "text"},
        optional={"category": "text", "channel": "text"},
    ),
    "snapshot": TableSpec(
        "snapshot",
        required={"customer_id": "id", "tenure_months": "integer", "churned": "flag"},
        optional={
            "signup_date": "date", "mrr": "number", "plan": "text", "touch_model": "text",
            "industry": "text", "region": "text", "seats": "integer", "csm_owner": "text",
            "acquisition_channel": "text", "acquisition_cost": "number", "renewal_date": "date",
            "cancellation_reason": "text",
        },
        extra_attributes=True,
    ),
}

# Which tables each layout requires and which it can use.
LAYOUTS: dict[str, dict[str, tuple[str, ...]]] = {
    "subscription": {
        "required": ("customers", "revenue"),
        "optional": ("customer_attributes", "usage", "nps", "payments", "cs_activities", "cs_costs", "tickets"),
    },
    "purchase_log": {
        "required": ("revenue",),
        "optional": ("customers", "customer_attributes", "usage", "nps", "payments", "cs_activities", "cs_costs",
                     "tickets"),
    },
    "snapshot": {"required": ("snapshot",), "optional": ("usage", "nps", "payments", "cs_activities", "cs_costs", "tickets")},
}

# What each layout calls a churn, in English: a purchase log's customer does not cancel, it lapses (stops
# buying). Reasons and definitions written by the analyses (English, as every ``reason`` in metrics.json) use
# it; the report's English words (``term.churn.<layout>`` in report/messages/en) agree (tests/test_i18n.py).
CHURN_WORD: dict[str, str] = {"subscription": "churn", "purchase_log": "lapse", "snapshot": "churn"}


def churn_word(layout: str) -> str:
    """The English word for a churn in ``layout`` (:data:`CHURN_WORD`)."""
    try:
        return CHURN_WORD[layout]
    except KeyError:
        raise ValueError(f"layout {layout!r} is not one of {sorted(CHURN_WORD)}") from None


# What each layout's data can answer. An analysis that needs what a layout does not hold is left out of the reports
# with the reason, a message key of the report catalogue (en and ja). "history": each customer's months, in
# calendar time (cohorts by start month, calendar churn, MRR movements, time-varying drivers, NPS against later
# revenue, the program's effect before and after its start): a snapshot holds one row per customer.
NEEDS = ("history",)
LEFT_OUT: dict[str, dict[str, str]] = {
    "subscription": {},
    "purchase_log": {},
    "snapshot": {"history": "layout.snapshot.no_history"},
}

# Canonical values of coded columns.
REVENUE_KINDS = ("recurring", "one_off")
PAYMENT_STATUSES = ("failed", "succeeded")

# --- aggregated tables (pandas, after the engine) --------------------------------------------------------

# pandera takes about a second to import; a notebook that reads the report run's cache never validates, so the
# schemas are built on first use (``schema.PANEL_SCHEMA`` as before, through the module's ``__getattr__``)


@cache
def _schemas() -> dict:
    import pandera.pandas as pa

    def panel_schema(mrr_checks: list, name: str):
        return pa.DataFrameSchema(
            {
                "customer_id": pa.Column(str),
                "month": pa.Column("datetime64[ns]"),
                "mrr": pa.Column(float, mrr_checks, nullable=True),
                "spell": pa.Column(int, pa.Check.ge(1)),
                "tenure": pa.Column(int, pa.Check.ge(0)),
                "spell_month": pa.Column(int, pa.Check.ge(0)),
            },
            unique=["customer_id", "month"],
            strict=True,
            coerce=True,
            name=name,
        )

    # subscription: a panel row is a month with MRR above zero. Purchase log: a month with at least one purchase
    # row, ``mrr`` holding what its purchases sum to: 0.0 for free items or fully discounted orders, below 0 when
    # returns outweigh the month's purchases (the load warns about those)
    panel = panel_schema([pa.Check.gt(0)], "panel")
    purchase_panel = panel_schema([], "panel (purchase log)")

    spells = pa.DataFrameSchema(
        {
            "customer_id": pa.Column(str),
            "spell": pa.Column(int, pa.Check.ge(1)),
            "start": pa.Column("datetime64[ns]"),
            "last_paid": pa.Column("datetime64[ns]"),
            "end": pa.Column("datetime64[ns]", nullable=True),
            "duration": pa.Column(int, pa.Check.ge(0)),
            "event": pa.Column(int, pa.Check.isin([0, 1])),
            "entry": pa.Column(int, pa.Check.ge(0)),
        },
        checks=[
            pa.Check(lambda d: (d["entry"] < d["duration"]) | (d["duration"] == 0), error="entry < duration"),
            pa.Check(lambda d: d["end"].isna() == (d["event"] == 0), error="end is set exactly for events"),
            # a snapshot's churned row with tenure 0 left in its first month: a churn at 0 with no paid month
            pa.Check(lambda d: (d["duration"] >= 1) | (d["event"] == 1), error="no paid month only for a churn at 0"),
        ],
        unique=["customer_id", "spell"],
        strict=True,
        coerce=True,
        name="spells",
    )
    return {"PANEL_SCHEMA": panel, "PURCHASE_PANEL_SCHEMA": purchase_panel, "SPELLS_SCHEMA": spells}


def panel_schema_name(layout: str) -> str:
    """The name of the panel schema for a layout: a purchase log's panel allows months whose purchases sum to 0
    or less (every purchase row is activity), and a snapshot's an active customer whose ``mrr`` column says 0 (a
    free account is still a customer; a negative one is refused at load); a subscription's needs MRR above zero."""
    return "PURCHASE_PANEL_SCHEMA" if layout in ("purchase_log", "snapshot") else "PANEL_SCHEMA"


def __getattr__(name: str):
    if name in ("PANEL_SCHEMA", "PURCHASE_PANEL_SCHEMA", "SPELLS_SCHEMA"):
        return _schemas()[name]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
