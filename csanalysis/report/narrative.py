"""Plain-language output for notebooks: Markdown with every interpolated value escaped, readable numbers.

nbconvert does not sanitize HTML, so user strings (segment names, customer ids, file names) must never be
put into Markdown raw: :func:`md` escapes every value it interpolates (HTML and Markdown specials, and ``$``
so narrative money is not turned into mathematics).
"""
from __future__ import annotations

import datetime as dt
import html
import math
import re

import numpy as np
import pandas as pd

from ..stats.pvalue import fmt_p  # noqa: F401  (re-exported: the report's formatters in one import)

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|$~])")


def escape(value) -> str:
    """Text safe inside Markdown rendered to HTML."""
    text = html.escape(str(value), quote=True)
    return _MD_SPECIAL.sub(r"\\\1", text)


def md(template: str, **values):
    """Display Markdown from a trusted template with escaped values: ``md("**{n}** customers", n=fmt_int(5))``.

    Dollar signs in the template itself are escaped too, so "$1,000" stays text. A value that is not text is
    written for reading first (:func:`readable`: dates, yes/no, missing values in words; no raw float).
    """
    from IPython.display import Markdown, display

    text = template.replace("$", r"\$").format(**{k: escape(readable(v)) for k, v in values.items()})
    display(Markdown(text))


def show_table(df: pd.DataFrame, *, caption: str | None = None, index: bool = False, formats: dict | None = None):
    """Display a table as escaped HTML (``to_html`` escapes cell values) with every value written for reading.

    ``formats`` maps a column to its formatter (``fmt_money``, ``fmt_pct``, ``fmt_p`` …). A column is named as the
    table shows it or by its name before :func:`~csanalysis.report.i18n.columns` translated it (the translation
    is recorded on the table), so ``formats={"p_value": fmt_p}`` still applies once the column reads "p-value"
    or "p値". A missing value (None, NaN, NaT) reads as the catalogue's word for it in every column, before any
    formatter; cells of columns without a formatter are written by :func:`fmt_value` (yes/no, dates, measured
    numbers never in scientific notation): no machine value reaches the reader.

    Parameters
    ----------
    df : DataFrame
        The table.
    caption : str, optional
        A caption above it (escaped).
    index : bool
        Show the index.
    formats : dict, optional
        Column (shown or original name) → formatter.

    Returns
    -------
    None
        The table is displayed.
    """
    from IPython.display import HTML, display

    out = df.copy()
    source = dict(df.attrs.get(SOURCE_NAMES, {}))
    formats = dict(formats or {})
    cells = {}
    for i, col in enumerate(out.columns):  # by position: two columns may share a label
        series = out.iloc[:, i]
        f = formats.get(col, formats.get(source.get(col)))
        if f is None and pd.api.types.is_float_dtype(series):  # measured numbers: one form for the whole column
            values = series[np.isfinite(series)]
            f = fmt_int if len(values) and (values == values.round()).all() and values.abs().max() < 1e15 else fmt_num
        cells[i] = [fmt_missing() if is_missing(v) else f(v) if f is not None else fmt_value(v) for v in series]
    out = pd.DataFrame({i: cells[i] for i in range(out.shape[1])}, index=out.index)
    out.columns = df.columns
    if index:
        out.index = [fmt_value(v) for v in out.index]
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    table = out.to_html(index=index, escape=True, na_rep=fmt_missing(), border=0, classes="cs-table")
    display(HTML(table.replace(">\n  <thead>", ">" + cap + "\n  <thead>", 1) if cap else table))


SOURCE_NAMES = "source_names"  # DataFrame.attrs key: {shown column name: name before translation} (i18n.columns)


def is_missing(v) -> bool:
    """None, NaN, NaT or pandas' NA (a scalar)."""
    if v is None or v is pd.NaT or v is pd.NA:
        return True
    try:
        return bool(isinstance(v, (float, np.floating)) and math.isnan(v)) or (isinstance(v, np.datetime64) and np.isnat(v))
    except TypeError:
        return False


def _infinite(v) -> str | None:
    """'∞' / '-∞' for an unbounded value (never 'inf'), None for a finite one."""
    try:
        return None if not math.isinf(float(v)) else ("∞" if float(v) > 0 else "-∞")
    except (TypeError, ValueError):
        return None


def fmt_missing() -> str:
    """A missing value in words, from the catalogue (``value.missing``)."""
    from .i18n import tr

    return tr("value.missing")


def fmt_bool(v) -> str:
    """True/False in words (``value.yes`` / ``value.no``)."""
    from .i18n import tr

    return fmt_missing() if is_missing(v) else tr("value.yes" if bool(v) else "value.no")


def fmt_date(v) -> str:
    """A date for reading in the report's language (``value.date``: 2024-03-31, 2024年3月31日); a time of day only
    when it is not midnight."""
    from .i18n import tr

    if is_missing(v):
        return fmt_missing()
    t = pd.Timestamp(v)
    text = tr("value.date", y=t.year, m=t.month, d=t.day)
    return text if t == t.normalize() else f"{text} {t:%H:%M}"


def fmt_month(v) -> str:
    """A calendar month for reading in the report's language (``value.month``: 2024-03, 2024年3月)."""
    from .i18n import tr

    if is_missing(v):
        return fmt_missing()
    t = pd.Timestamp(v.to_timestamp() if isinstance(v, pd.Period) else v)
    return tr("value.month", y=t.year, m=t.month)


def readable(v):
    """A value as a sentence shows it: text and whole numbers as they are (a message may format a whole number
    itself, ``{m:02d}``), anything else through :func:`fmt_value` (a date in the report's language, yes/no, a
    missing value in words, a measured number never in scientific notation)."""
    if isinstance(v, str) or (isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))):
        return v
    return fmt_value(v)


def fmt_value(v) -> str:
    """Any cell without a formatter of its own: missing and booleans in words, dates as :func:`fmt_date`, measured
    numbers as :func:`fmt_num`, whole numbers as counts (:func:`fmt_int`, 2,928), text as it is."""
    if is_missing(v):
        return fmt_missing()
    if isinstance(v, (bool, np.bool_)):
        return fmt_bool(v)
    if isinstance(v, (pd.Timestamp, np.datetime64, dt.datetime, dt.date)):
        return fmt_date(v)
    if isinstance(v, (int, np.integer)):  # a count: 2,928
        return f"{int(v):,}"
    if isinstance(v, (float, np.floating)):
        return _infinite(v) or (fmt_int(v) if float(v).is_integer() and abs(v) < 1e15 else fmt_num(v))
    return str(v)


def fmt_int(v) -> str:
    """A count: 12,345."""
    return "–" if is_missing(v) else _infinite(v) or f"{int(round(v)):,}"


_MONEY = {"currency": None}
CURRENCY_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥"}  # written before the amount; other codes after it


def set_currency(currency: str | None) -> None:
    """The currency of the report's money (``ds.settings.currency``: an ISO code such as USD or JPY, or a mark such
    as ¥); None writes amounts without one."""
    if currency is not None and (not isinstance(currency, str) or not currency.strip() or len(currency.strip()) > 8):
        raise ValueError(f"currency {currency!r}: use an ISO code (USD, JPY …) or a short mark (¥, $)")
    _MONEY["currency"] = currency.strip() if currency else None


def currency() -> str | None:
    return _MONEY["currency"]


def fmt_money(v, decimals: int = 0) -> str:
    """An amount with the report's currency (:func:`set_currency`) and thousands separators: $1,234, -$56, ¥120,000,
    1,234 CHF."""
    if is_missing(v):
        return "–"
    amount = "∞" if math.isinf(v) else f"{abs(v):,.{decimals}f}"
    sign = "-" if v < 0 and (math.isinf(v) or float(amount.replace(",", "")) != 0) else ""
    code = _MONEY["currency"]
    if code is None:
        return sign + amount
    mark = CURRENCY_SYMBOLS.get(code.upper(), code if not code.isalpha() else None)
    return f"{sign}{mark}{amount}" if mark else f"{sign}{amount} {code}"


def fmt_num(v) -> str:
    """A measured value for reading, never in scientific notation: whole above 100 (171,100), two decimals above
    1 (3.25), three below (0.042); missing as –."""
    if is_missing(v):
        return "–"
    if _infinite(v):
        return _infinite(v)
    a = abs(float(v))
    return f"{v:,.0f}" if a >= 100 else f"{v:,.2f}" if a >= 1 else f"{v:.3f}"


def fmt_sig(v, digits: int = 3) -> str:
    """A number of unknown unit for reading: ``digits`` significant digits, thousands separators, never scientific
    notation nor more than four decimals (56,498 · 37.0 · 1.54 · 0.217 · 0.0258 · 0.0004)."""
    if is_missing(v):
        return "–"
    v = float(v)
    if v == 0 or math.isinf(v):
        return _infinite(v) or "0"
    a = abs(v)
    if a >= 10 ** digits:
        return f"{v:,.0f}"
    d = min(max(digits - 1 - math.floor(math.log10(a)), 0), 4)
    return f"{v:,.{d}f}"


def fmt_ratio(v) -> str:
    """A hazard, risk or odds ratio (or another multiplier): two decimals, 1.27."""
    return "–" if is_missing(v) else _infinite(v) or f"{v:,.2f}"


def fmt_months(v) -> str:
    """A duration in months: one decimal, 15.5."""
    return "–" if is_missing(v) else _infinite(v) or f"{v:,.1f}"


def fmt_pct(v, decimals: int = 0) -> str:
    """0.712 → '71%'."""
    return "–" if is_missing(v) else _infinite(v) or f"{100 * v:.{decimals}f}%"


def per_customers(*rates) -> tuple[str, list[str]]:
    """Rates (shares of customers, e.g. 0.0038 a month) as counts per 100 or per 1,000 customers, for readers
    who are not statisticians: per 100 when the first rate (the estimate) is at least 1%, else per 1,000; one
    decimal below 10, whole numbers above. Returns the base and the
    counts: ``per_customers(0.0038, -0.0017, 0.011)`` → ``("1,000", ["3.8", "-1.7", "11"])``."""
    base = 100 if abs(float(rates[0])) >= 0.01 else 1000
    vals = [float(r) * base for r in rates]
    return f"{base:,}", [f"{v:.1f}" if abs(v) < 10 else f"{v:,.0f}" for v in vals]


def fmt_ci(est, lower, upper, *, pct: bool = True, decimals: int = 0, money: bool = False) -> str:
    """'71% (66–76%)' — an estimate with its 95% interval; ``money``: '$1,234 ($1,100–$1,400)'. An undefined
    estimate is the missing value in words; without both bounds, the estimate alone.

    Parameters
    ----------
    est, lower, upper : float
        The estimate and its interval.
    pct : bool
        Shares in percent (else numbers).
    decimals : int
        Decimals shown.
    money : bool
        Amounts of money (overrides ``pct``).

    Returns
    -------
    str
    """
    if is_missing(est):
        return fmt_missing()
    if is_missing(lower) or is_missing(upper):
        return fmt_money(est, decimals) if money else fmt_pct(est, decimals) if pct else f"{est:,.{decimals}f}"
    if money:
        return f"{fmt_money(est, decimals)} ({fmt_money(lower, decimals)}–{fmt_money(upper, decimals)})"
    if pct:
        low = _infinite(lower) or f"{100 * lower:.{decimals}f}"
        return f"{fmt_pct(est, decimals)} ({low}–{fmt_pct(upper, decimals)})"
    e, lo, hi = (_infinite(x) or f"{x:,.{decimals}f}" for x in (est, lower, upper))
    return f"{e} ({lo}–{hi})"


def fmt_est(e: dict | None, *, pct: bool = True, decimals: int = 0, na: str = "–", money: bool = False) -> str:
    """An estimate dict ({estimate, lower, upper}) as '71% (66–76%)' (``money``: '$1,234 ($1,100–$1,400)'), the
    estimate alone when it has no interval, or ``na`` when it is undefined.

    Parameters
    ----------
    e : dict or None
        The estimate (``estimate``, ``lower``, ``upper``).
    pct : bool
        Shares in percent (else numbers).
    decimals : int
        Decimals shown.
    na : str
        The text of an undefined estimate.
    money : bool
        Amounts of money (overrides ``pct``).

    Returns
    -------
    str
    """
    if not e or is_missing(e.get("estimate")):
        return na
    lo, hi = e.get("lower"), e.get("upper")
    if is_missing(lo) or is_missing(hi):
        return (fmt_money(e["estimate"], decimals) if money else fmt_pct(e["estimate"], decimals) if pct
                else f"{e['estimate']:,.{decimals}f}")
    return fmt_ci(e["estimate"], lo, hi, pct=pct, decimals=decimals, money=money)


def ci_columns(df: pd.DataFrame, estimates: list[str], *, pct: bool = True, decimals: int = 0, money: bool = False,
               lower: str = "{} lower", upper: str = "{} upper") -> pd.DataFrame:
    """Combine each estimate with its ``lower``/``upper`` columns into one readable column: '71% (66–76%)'; an
    undefined estimate stays missing (:func:`show_table` writes it in words).

    Parameters
    ----------
    df : DataFrame
        The table.
    estimates : list of str
        The estimate columns.
    pct : bool
        Shares in percent (else numbers).
    decimals : int
        Decimals shown.
    money : bool
        Amounts of money (overrides ``pct``).
    lower, upper : str
        The bound columns' names, ``{}`` standing for the estimate's.

    Returns
    -------
    DataFrame
        ``df`` with each estimate's column readable and its bound columns dropped.
    """
    out = df.copy()
    for est in estimates:
        lo, hi = lower.format(est), upper.format(est)
        out[est] = [None if is_missing(e) else fmt_est({"estimate": e, "lower": a, "upper": b}, pct=pct,
                                                        decimals=decimals, money=money)
                    for e, a, b in zip(out[est], out[lo], out[hi])]
        out = out.drop(columns=[lo, hi])
    return out
