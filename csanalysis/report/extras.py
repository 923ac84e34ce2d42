"""What the runner adds to every stakeholder report: a table of contents, the definitions and reconciliation
block, the changes since the previous run, and the check of ``metrics.json`` against its schema."""
from __future__ import annotations

import html as _html
import json
import math
import re
from pathlib import Path
from typing import Any

from . import i18n
from .narrative import fmt_money, fmt_sig

SCHEMAS = Path(__file__).parent / "schemas"
DEFINITIONS = "definitions.json"  # the definitions every report's schema refers to (definitions.json#/$defs/estimate)
Z95 = 1.959963984540054


# ------------------------------------------------------------------------------------------- table of contents


def add_toc(body: str) -> str:
    """Insert a table of contents of the report's sections (h2) after its first section (the summary)."""
    heads = list(re.finditer(r'<h2 id="([^"]+)">(.*?)</h2>', body, flags=re.S))
    if len(heads) < 3:
        return body
    items = "".join(
        f'<li><a href="#{m.group(1)}">{re.sub(r"<a class=.anchor-link.*?</a>", "", m.group(2)).strip()}</a></li>'
        for m in heads)
    nav = f'<nav class="cs-toc"><h2 class="cs-toc-title">{_html.escape(i18n.tr("report.toc"))}</h2><ol>{items}</ol></nav>'
    # the enclosing cell of the second section heading starts after the summary: insert before that cell
    second = heads[1].start()
    cell = body.rfind('<div class="jp-Cell', 0, second)
    at = cell if cell > heads[0].end() else second
    return body[:at] + nav + body[at:]


# ------------------------------------------------------------------------------------------- definitions


def _bold(escaped: str) -> str:
    """Markdown bold (``**word**``) in an escaped text as HTML."""
    import re

    return re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escaped)


def definitions_html(ds) -> str:
    """Churn definition, grace period, as_of, rows excluded and why, and the MRR total against the source."""
    tr, esc = i18n.tr, _html.escape
    i18n.set_layout(ds.layout)  # a purchase log's churn is a lapse
    key, values = i18n.definition(ds)
    rows = [
        (tr("report.def_churn"), tr(key, **values)),
        (tr("report.def_as_of"), str(ds.as_of)),
    ]
    cut = [(name, c.get("read", 0) - c.get("used", 0), c.get("cut_after_as_of", 0))
           for name, c in ds.report.counts.items()]
    cat = i18n.catalogue(i18n.language())
    excluded = "; ".join(tr("report.def_excluded_row", table=tr(f"table.{n}") if f"table.{n}" in cat else n, n=f"{d:,}",
                            after=f"{a:,}") for n, d, a in cut if d or a)
    rows.append((tr("report.def_excluded"), excluded or tr("report.def_none_excluded")))
    rec = ds.report.reconciliation
    if rec:
        rows.append((tr("report.def_reconciliation"),
                     "; ".join(f"{tr('recon.' + k) if ('recon.' + k) in i18n.catalogue(i18n.language()) else k}: "
                               f"{fmt_money(v, 2)}" for k, v in rec.items())))
    if getattr(ds, "pseudonymised", False):
        rows.append((tr("report.def_pseudonymised"), tr("report.def_pseudonymised_text")))
    # a catalogue sentence may set a word in bold (**lapse**): bold in the table, never shown as asterisks
    body = "".join(f"<tr><th>{esc(k)}</th><td>{_bold(esc(v))}</td></tr>" for k, v in rows)
    return (f'<section class="cs-definitions" id="cs-definitions"><h2>{esc(tr("report.definitions"))}</h2>'
            f'<table class="cs-table cs-deftable">{body}</table></section>')


# ------------------------------------------------------------------------------------------- changes


def _estimates(d: Any, path: str = "") -> dict[str, dict]:
    """Every {estimate, lower, upper} object in a metrics.json, by its dotted path."""
    out = {}
    if isinstance(d, dict):
        if {"estimate", "lower", "upper"} <= set(d):
            out[path] = d
        for k, v in d.items():
            if k != "headline":
                out.update(_estimates(v, f"{path}.{k}" if path else str(k)))
    return out


def _num(v) -> float | None:
    return None if v is None or isinstance(v, bool) or (isinstance(v, float) and math.isnan(v)) else float(v)


def changes(previous: dict, current: dict) -> list[dict]:
    """Differences of every estimate present in both runs, with an approximate 95% interval for the change.

    Each run's standard error is read off its own interval (width ÷ 2·1.96) and the two runs are treated as
    independent: √(SE₁² + SE₂²). Overlapping customers make that conservative. A change is ``exploratory``
    unless its interval excludes zero.
    """
    before, now = _estimates(previous), _estimates(current)
    rows = []
    for key in sorted(set(before) & set(now)):
        a, b = before[key], now[key]
        vals = [_num(x.get(f)) for x in (a, b) for f in ("estimate", "lower", "upper")]
        if any(v is None for v in vals):
            continue
        ea, la, ua, eb, lb, ub = vals
        se = math.hypot((ua - la) / (2 * Z95), (ub - lb) / (2 * Z95))
        d = eb - ea
        lo, hi = d - Z95 * se, d + Z95 * se
        rows.append({"metric": key, "previous": ea, "current": eb, "change": d, "lower": lo, "upper": hi,
                     "exploratory": not (lo > 0 or hi < 0)})
    return rows


def changes_html(rows: list[dict], previous_run: str, previous_as_of: str) -> str:
    """The changes since the previous run as a section; each metric named by its path in ``metrics.json`` (set as
    code: a key the reader finds in the file, in every language)."""
    tr, esc = i18n.tr, _html.escape
    if not rows:
        return ""
    f = fmt_sig  # each metric in its report's unit: three significant digits, never scientific notation
    body = "".join(
        f"<tr><td><code>{esc(r['metric'])}</code></td><td>{f(r['previous'])}</td><td>{f(r['current'])}</td>"
        f"<td>{f(r['change'])} ({f(r['lower'])} – {f(r['upper'])})</td>"
        f"<td>{esc(tr('report.exploratory') if r['exploratory'] else tr('report.interval_excludes_zero'))}</td></tr>"
        for r in rows)
    head = "".join(f"<th>{esc(tr(k))}</th>" for k in
                   ("report.col_metric", "report.col_previous", "report.col_current", "report.col_change", "report.col_status"))
    return (f'<section class="cs-changes" id="cs-changes"><h2>{esc(tr("report.changes"))}</h2>'
            f'<p>{esc(tr("report.changes_text", run=previous_run, as_of=previous_as_of))}</p>'
            f'<table class="cs-table"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></section>')


# ------------------------------------------------------------------------------------------- metrics schema


class MetricsSchemaError(ValueError):
    pass


def metrics_validator(notebook: str):
    """The JSON Schema validator of ``notebook``'s ``metrics.json``: ``schemas/<notebook>.json`` (draft 2020-12)
    with the shared ``schemas/definitions.json`` in its registry, so its references resolve offline."""
    import jsonschema
    from referencing import Registry, Resource

    path = SCHEMAS / f"{notebook}.json"
    if not path.is_file():
        raise MetricsSchemaError(f"no metrics schema for {notebook} (expected {path.name} in report/schemas)")
    schema = json.loads(path.read_text(encoding="utf-8"))
    shared = json.loads((SCHEMAS / DEFINITIONS).read_text(encoding="utf-8"))
    registry = Registry().with_resource(DEFINITIONS, Resource.from_contents(shared))
    return jsonschema.Draft202012Validator(schema, registry=registry)


def check_metrics(notebook: str, metrics: dict) -> None:
    """``metrics.json`` against ``schemas/<notebook>.json`` (JSON Schema, :func:`metrics_validator`) and the
    estimate's contract (:mod:`csanalysis.estimate`) in every {estimate, lower, upper} object, wherever it sits:
    lower ≤ estimate ≤ upper, and a null estimate comes with a reason."""
    problems = []
    for err in metrics_validator(notebook).iter_errors(metrics):
        problems.append(f"{'/'.join(map(str, err.absolute_path)) or '(top)'}: {err.message}")
    for key, e in _estimates(metrics).items():
        odd = [k for k in ("estimate", "lower", "upper") if e.get(k) is not None
               and (isinstance(e[k], bool) or not isinstance(e[k], (int, float)))]
        if odd:
            problems.append(f"{key}: {', '.join(odd)} must be a number or null")
            continue
        est, lo, hi = (_num(e.get(k)) for k in ("estimate", "lower", "upper"))
        if est is None:
            if not isinstance(e.get("reason"), str):
                problems.append(f"{key}: estimate is null without a reason")
            continue
        if lo is not None and hi is not None and not (lo - 1e-9 <= est <= hi + 1e-9):
            problems.append(f"{key}: interval {lo}–{hi} does not contain the estimate {est}")
    if problems:
        raise MetricsSchemaError(f"{notebook}/metrics.json breaks its schema: " + "; ".join(problems))
