"""Plain-language output for notebooks: Markdown with every interpolated value escaped, readable numbers.

nbconvert does not sanitize HTML, so user strings (segment names, customer ids, file names) must never be
put into Markdown raw: :func:`md` escapes every value it interpolates (HTML and Markdown specials, and ``$``
so narrative money is not turned into mathematics).
"""
from __future__ import annotations

import html
import math
import re

import pandas as pd

_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|$~])")


def escape(value) -> str:
    """Text safe inside Markdown rendered to HTML."""
    text = html.escape(str(value), quote=True)
    return _MD_SPECIAL.sub(r"\\\1", text)


def md(template: str, **values):
    """Display Markdown from a trusted template with escaped values: ``md("**{n}** customers", n=fmt_int(5))``.

    Dollar signs in the template itself are escaped too, so "$1,000" stays text.
    """
    from IPython.display import Markdown, display

    text = template.replace("$", r"\$").format(**{k: escape(v) for k, v in values.items()})
    display(Markdown(text))


def show_table(df: pd.DataFrame, *, caption: str | None = None, index: bool = False, formats: dict | None = None):
    """Display a table as escaped HTML (``to_html`` escapes cell values) with readable numbers."""
    from IPython.display import HTML, display

    out = df.copy()
    for col, f in (formats or {}).items():
        if col in out.columns:
            out[col] = out[col].map(lambda v, f=f: f(v) if v is not None and not (isinstance(v, float) and math.isnan(v)) else "–")
    cap = f"<caption>{html.escape(caption)}</caption>" if caption else ""
    table = out.to_html(index=index, escape=True, na_rep="–", border=0, classes="cs-table")
    display(HTML(table.replace(">\n  <thead>", ">" + cap + "\n  <thead>", 1) if cap else table))


def fmt_int(v) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{int(round(v)):,}"


def fmt_money(v, decimals: int = 0) -> str:
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{v:,.{decimals}f}"


def fmt_num(v) -> str:
    """A measured value for reading, never in scientific notation: whole above 100 (171,100), two decimals above
    1 (3.25), three below (0.042); missing as –."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    a = abs(float(v))
    return f"{v:,.0f}" if a >= 100 else f"{v:,.2f}" if a >= 1 else f"{v:.3f}"


def fmt_pct(v, decimals: int = 0) -> str:
    """0.712 → '71%'."""
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else f"{100 * v:.{decimals}f}%"


def per_customers(*rates) -> tuple[str, list[str]]:
    """Rates (shares of customers, e.g. 0.0038 a month) as counts per 100 or per 1,000 customers, for readers
    who are not statisticians: per 100 when the largest absolute rate is at least 1%, else per 1,000; one decimal
    below 10, whole numbers above; the first rate (the estimate) chooses the base. Returns the base and the
    counts: ``per_customers(0.0038, -0.0017, 0.011)`` → ``("1,000", ["3.8", "-1.7", "11"])``."""
    base = 100 if abs(float(rates[0])) >= 0.01 else 1000
    vals = [float(r) * base for r in rates]
    return f"{base:,}", [f"{v:.1f}" if abs(v) < 10 else f"{v:,.0f}" for v in vals]


def fmt_ci(est, lower, upper, *, pct: bool = True, decimals: int = 0) -> str:
    """'71% (66–76%)' — an estimate with its 95% interval."""
    if pct:
        return f"{fmt_pct(est, decimals)} ({100 * lower:.{decimals}f}–{fmt_pct(upper, decimals)})"
    return f"{est:,.{decimals}f} ({lower:,.{decimals}f}–{upper:,.{decimals}f})"


def fmt_est(e: dict | None, *, pct: bool = True, decimals: int = 0, na: str = "–") -> str:
    """An estimate dict ({estimate, lower, upper}) as '71% (66–76%)', the estimate alone when it has no interval,
    or ``na`` when it is undefined."""
    if not e or e.get("estimate") is None or (isinstance(e["estimate"], float) and math.isnan(e["estimate"])):
        return na
    lo, hi = e.get("lower"), e.get("upper")
    if lo is None or hi is None or any(isinstance(v, float) and math.isnan(v) for v in (lo, hi)):
        return fmt_pct(e["estimate"], decimals) if pct else f"{e['estimate']:,.{decimals}f}"
    return fmt_ci(e["estimate"], lo, hi, pct=pct, decimals=decimals)


def ci_columns(df: pd.DataFrame, estimates: list[str], *, pct: bool = True, decimals: int = 0,
               lower: str = "{} lower", upper: str = "{} upper") -> pd.DataFrame:
    """Combine each estimate with its ``lower``/``upper`` columns into one readable column: '71% (66–76%)'."""
    out = df.copy()
    for est in estimates:
        lo, hi = lower.format(est), upper.format(est)
        out[est] = [
            "–" if e is None or (isinstance(e, float) and math.isnan(e)) else fmt_ci(e, a, b, pct=pct, decimals=decimals)
            for e, a, b in zip(out[est], out[lo], out[hi])
        ]
        out = out.drop(columns=[lo, hi])
    return out
