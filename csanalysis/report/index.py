"""``reports/index.html``, the front page: the newest run's headline figures as cards (95% interval, change since the
previous run and whether it is beyond the run-to-run noise, a trend line over the kept runs), the data's freshness,
the newest run's reports and status, and the earlier runs.

The numbers come from :func:`csanalysis.report.front.gather` (computing and rules there); this module only renders
them: every word from the message catalogue (``messages/<lang>/index.yaml``), every value escaped, pictures as
inline SVG (no script, no network: the page works offline).
"""
from __future__ import annotations

import html
from pathlib import Path

from . import i18n
from .front import SCHEDULES, Card, FigureData, FrontPage, Run, Value, gather
from .narrative import fmt_int, fmt_money, fmt_pct
from .parameters import report_title

MINUS = "\u2212"


class _Words:
    """Catalogue messages in one language with one layout's words (``{term_churn}`` …), without touching the
    notebooks' language state."""

    def __init__(self, lang: str, layout: str):
        self.lang, self.layout, self.cat = lang, layout, i18n.catalogue(lang)

    def __call__(self, key: str, **values) -> str:
        if key not in self.cat:
            raise KeyError(f"message {key!r} is missing from messages/{self.lang}/*.yaml")
        text = self.cat[key]
        terms = {f: i18n.term(f[len(i18n.TERM):], self.layout, self.lang) for f in i18n.term_fields(text)}
        values = {**terms, **values}
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self.cat


def _e(text) -> str:
    return html.escape(str(text), quote=True)


def fmt_value(kind: str, v: float, decimals: int = 0) -> str:
    """A figure's value for reading: a share in %, money and counts with separators, an NPS whole."""
    if kind == "pct":
        return fmt_pct(v, decimals)
    if kind == "money":
        return fmt_money(v)
    if kind == "count":
        return fmt_int(v)
    return f"{v:,.0f}"


def fmt_change(kind: str, d: float, t: _Words, decimals: int = 0) -> str:
    """A change with its sign: percentage points for shares, points for an NPS, amounts and counts as such.

    Parameters
    ----------
    kind : {"pct", "money", "count", "nps"}
        What the figure is.
    d : float
        The change.
    t : _Words
        The catalogue words of the page's language.
    decimals : int
        Decimals of a share.

    Returns
    -------
    str
    """
    if kind == "pct":
        size, unit = f"{abs(100 * d):.{max(decimals, 1)}f}", "index.pp"
    elif kind == "score":
        size, unit = f"{abs(d):.1f}", "index.points"
    else:
        size, unit = (fmt_money(abs(d)) if kind == "money" else fmt_int(abs(d))), None
    zero = float(size.replace(",", "")) == 0
    text = ("±" if zero else "+" if d > 0 else MINUS) + size
    return t(unit, value=text) if unit else text


def trend_svg(points: list[tuple[str, Value]], kind: str, decimals: int, t: _Words,
              width: int = 220, height: int = 56, label_height: int = 12) -> str:
    """A small trend line: one dot per run that holds the figure (oldest left), its 95% interval as a band when the
    runs have one; the first and last runs' analysis dates below it, each dot's date and value in its ``<title>``
    (the browser's tooltip).

    Parameters
    ----------
    points : list of (str, Value)
        Per run, oldest first: its analysis date and the figure (with its interval when it has one).
    kind : str
        What the figure is (as :func:`fmt_value`).
    decimals : int
        Decimals of a share.
    t : _Words
        The catalogue words of the page's language.
    width, height : int
        The drawing's size in pixels.
    label_height : int
        Height of the date labels below it.

    Returns
    -------
    str
        The SVG element (values escaped).
    """
    pad = 6
    have = [(i, label, v) for i, (label, v) in enumerate(points) if v.present]
    if not have:
        return ""
    lows = [v.lower if v.has_interval else v.estimate for _, _, v in have]
    highs = [v.upper if v.has_interval else v.estimate for _, _, v in have]
    lo, hi = min(lows), max(highs)
    if hi - lo < 1e-12:
        lo, hi = lo - 1, hi + 1  # a flat line in the middle

    def x(i: int) -> float:
        n = len(points)
        return pad + (width - 2 * pad) * (i / (n - 1) if n > 1 else 0.5)

    def y(v: float) -> float:
        return pad + (height - 2 * pad) * (hi - v) / (hi - lo)

    parts = []
    banded = [(i, v) for i, _, v in have if v.has_interval]
    if len(banded) > 1:
        top = " ".join(f"{x(i):.1f},{y(v.upper):.1f}" for i, v in banded)
        bottom = " ".join(f"{x(i):.1f},{y(v.lower):.1f}" for i, v in reversed(banded))
        parts.append(f'<polygon class="band" points="{top} {bottom}"/>')
    for i, v in banded:
        parts.append(f'<line class="ci" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(v.lower):.1f}" y2="{y(v.upper):.1f}"/>')
    if len(have) > 1:
        line = " ".join(f"{x(i):.1f},{y(v.estimate):.1f}" for i, _, v in have)
        parts.append(f'<polyline class="line" points="{line}"/>')
    for i, label, v in have:
        tip = t("index.trend_point", as_of=label, value=fmt_value(kind, v.estimate, decimals))
        parts.append(f'<circle class="pt" cx="{x(i):.1f}" cy="{y(v.estimate):.1f}" r="3"><title>{_e(tip)}</title></circle>')
    base = height + label_height - 2
    parts.append(f'<text class="date" x="{x(0):.1f}" y="{base}" text-anchor="{"start" if len(points) > 1 else "middle"}">'
                 f"{_e(points[0][0])}</text>")
    if len(points) > 1:
        parts.append(f'<text class="date" x="{x(len(points) - 1):.1f}" y="{base}" text-anchor="end">{_e(points[-1][0])}</text>')
    label = t("index.trend_label", n=len(points), first=points[0][0], last=points[-1][0])
    full = height + label_height
    return (f'<svg class="trend" role="img" aria-label="{_e(label)}" width="{width}" height="{full}" '
            f'viewBox="0 0 {width} {full}" xmlns="http://www.w3.org/2000/svg"><title>{_e(label)}</title>'
            + "".join(parts) + "</svg>")


def _missing(v: Value, t: _Words) -> str:
    text = _e(t(v.missing))
    if v.detail:
        text += " " + _e(t("index.missing.reason", reason=v.detail))
    return f'<p class="missing">{text}</p>'


def _figure(fd: FigureData, t: _Words) -> str:
    fig, cur = fd.figure, fd.current
    out = [f'<div class="figure" data-figure="{_e(fig.key)}"><div class="label">{_e(t("index.figure." + fig.key))}</div>']
    if not cur.present:
        out.append(_missing(cur, t))
    else:
        out.append(f'<div class="value">{_e(fmt_value(fig.kind, cur.estimate, fig.decimals))}</div>')
        if cur.has_interval:
            ci = t("index.interval", lower=fmt_value(fig.kind, cur.lower, fig.decimals),
                   upper=fmt_value(fig.kind, cur.upper, fig.decimals))
        else:
            ci = t("index.counted") if cur.exact else t("index.no_interval")
        out.append(f'<div class="ci">{_e(ci)}</div>')
        if fd.previous is None:
            out.append(f'<div class="change none">{_e(t("index.change_first"))}</div>')
        elif fd.change is None:
            out.append(f'<div class="change none">{_e(t("index.change_gap", as_of=fd.previous_run.as_of))}</div>')
        else:
            change = t("index.change", change=fmt_change(fig.kind, fd.change, t, fig.decimals), as_of=fd.previous_run.as_of)
            out.append(f'<div class="change {_e(fd.noise)}" data-noise="{_e(fd.noise)}">{_e(change)} · '
                       f'<span class="noise">{_e(t("index.noise." + fd.noise))}</span></div>')
    out.append(trend_svg([(r.as_of or r.run_id, v) for r, v in fd.trend], fig.kind, fig.decimals, t))
    out.append("</div>")
    return "".join(out)


def _card(card: Card, t: _Words) -> str:
    return (f'<section class="card" id="card-{_e(card.key)}"><h3>{_e(t("index.card." + card.key))}</h3>'
            + "".join(_figure(fd, t) for fd in card.figures) + "</section>")


def _status(status, t: _Words) -> str:
    key = f"index.status.{status}"
    return t(key) if t.has(key) else t("index.status.unknown")


def _report_title(nb: str, t: _Words) -> str:
    key = report_title(nb)
    return f"{nb} · {t(key)}" if key and t.has(key) else nb


def _reports(run: Run, t: _Words) -> str:
    items = []
    for nb, info in (run.manifest.get("notebooks") or {}).items():
        title = _e(_report_title(nb, t))
        status = info.get("status")
        if status == "left out":  # the layout cannot answer it: the reason instead of a link
            items.append(f'<li>{title} <span class="state">{_e(t("index.report_left_out", reason=info.get("reason")))}</span></li>')
            continue
        state = (t("index.report_seconds", status=_status(status, t), seconds=info["seconds"])
                 if info.get("seconds") is not None else t("index.report_state", status=_status(status, t)))
        page = run.folder / nb / f"{nb}.html"
        name = f'<a href="{_e(f"{run.folder.name}/{nb}/{nb}.html")}">{title}</a>' if page.is_file() else title
        items.append(f'<li>{name} <span class="state">{_e(state)}</span></li>')
    return f"<ul class=\"reports\">{''.join(items)}</ul>"


def _run_meta(run: Run, t: _Words) -> str:
    lang = run.manifest.get("lang")
    return t("index.run_meta", as_of=run.as_of, lang=t(f"index.lang.{lang}") if t.has(f"index.lang.{lang}") else lang,
             fingerprint=run.manifest.get("data_fingerprint"), status=_status(run.manifest.get("status"), t))


def _freshness(page: FrontPage, t: _Words) -> str:
    f = page.freshness
    sched = t(f"index.schedule.{f.schedule}")
    out = [f'<section class="freshness"><h2>{_e(t("index.freshness_heading"))}</h2>']
    if f.tables is None:
        out.append(f'<p class="warning">{_e(t("index.no_dates"))}</p></section>')
        return "".join(out)
    out.append(f'<p>{_e(t("index.freshness_summary", as_of=f.as_of, newest=f.newest, run_date=f.run_date, schedule=sched))}</p>')
    if f.stale:
        out.append(f'<p class="warning stale">⚠ {_e(t("index.stale", newest=f.newest, days=fmt_int(f.age_days), run_date=f.run_date, schedule=sched, limit=fmt_int(f.limit_days)))}</p>')
    elif f.stale is not None:
        out.append(f'<p class="ok">{_e(t("index.fresh", days=fmt_int(f.age_days), limit=fmt_int(f.limit_days)))}</p>')

    def name(table: str) -> str:
        return t(f"index.table.{table}") if t.has(f"index.table.{table}") else table

    behind = [name(x.name) for x in f.tables if x.behind]
    if behind:
        out.append(f'<p class="warning behind">⚠ {_e(t("index.tables_behind", as_of=f.as_of, tables=", ".join(behind)))}</p>')
    rows = []
    for x in f.tables:
        state = t("index.no_date") if x.last is None else t("index.behind") if x.behind else t("index.current")
        rows.append(f'<tr class="{"behind" if x.behind else "current"}"><td>{_e(name(x.name))}</td><td>{_e(x.first or "–")}</td>'
                    f'<td>{_e(x.last or "–")}</td><td class="num">{_e(fmt_int(x.lag_days))}</td><td>{_e(state)}</td></tr>')
    head = "".join(f"<th>{_e(t('index.col.' + c))}</th>" for c in ("table", "first", "last", "lag", "state"))
    out.append(f'<table class="dates"><caption>{_e(t("index.dates_caption"))}</caption><thead><tr>{head}</tr></thead>'
               f"<tbody>{''.join(rows)}</tbody></table></section>")
    return "".join(out)


STYLE = """
body{font-family:system-ui,"Noto Sans CJK JP","Hiragino Sans",sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222}
h1{margin-bottom:.2em}.intro,.meta,.state,.ci,.rules{color:#555;font-size:.9em}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(320px,1fr));gap:1em}
.card{border:1px solid #ddd;border-radius:8px;padding:.8em 1em;background:#fafafa}
.card h3{margin:.1em 0 .5em;font-size:1.05em}.figure{margin-bottom:.8em}
.label{font-size:.9em;color:#333}.value{font-size:1.7em;font-weight:600}
.change{font-size:.9em}.change.beyond .noise{font-weight:700;color:#a33}.change.none,.missing{color:#777;font-size:.9em}
svg.trend{display:block;margin-top:.3em}svg.trend .band{fill:#cfe0f3}svg.trend .ci{stroke:#9bb8d8;stroke-width:1}
svg.trend .line{fill:none;stroke:#2a6bb5;stroke-width:1.5}svg.trend .pt{fill:#2a6bb5}
svg.trend .date{font-size:9px;fill:#666}
.warning{background:#fff3cd;border:1px solid #e0c060;padding:.5em .8em;border-radius:6px}.ok{color:#2a7a2a}
table.dates{border-collapse:collapse;margin-top:.5em}table.dates td,table.dates th{border-bottom:1px solid #ddd;padding:.2em .8em;text-align:left}
table.dates td.num{text-align:right}tr.behind td{color:#a33}caption{text-align:left;color:#555;font-size:.9em}
"""


def render(page: FrontPage, lang: str) -> str:
    """The front page's HTML in ``lang`` (the layout's words from the newest run)."""
    layout = page.runs[0].manifest.get("layout", "subscription") if page.runs else "subscription"
    t = _Words(lang, layout)
    body = [f"<h1>{_e(t('index.title'))}</h1>"]
    if not page.runs:
        body.append(f"<p>{_e(t('index.no_runs'))}</p>")
    else:
        newest = page.runs[0]
        body.append(f'<p class="intro">{_e(t("index.intro"))}</p>')
        date = (newest.manifest.get("started") or "")[:10]
        body.append(f'<p class="newest">{_e(t("index.newest", run=newest.run_id, as_of=newest.as_of, date=date, status=_status(newest.manifest.get("status"), t)))}</p>')
        if page.failed_since:
            body.append(f'<p class="warning failed">⚠ {_e(t("index.failed_since", runs=", ".join(page.failed_since)))}</p>')
        body.append(f'<h2>{_e(t("index.cards_heading"))}</h2><div class="cards">'
                    + "".join(_card(c, t) for c in page.cards) + "</div>")
        body.append(_freshness(page, t))
        body.append(f'<section class="newest-reports"><h2>{_e(t("index.reports_heading"))}</h2>'
                    f'<p class="meta">{_e(_run_meta(newest, t))}</p>{_reports(newest, t)}</section>')
        body.append(f'<section class="earlier"><h2>{_e(t("index.earlier_heading"))}</h2>')
        if len(page.runs) == 1:
            body.append(f'<p class="meta">{_e(t("index.no_earlier"))}</p>')
        others = len(page.runs) - len(page.compared)
        if others:
            body.append(f'<p class="meta">{_e(t("index.other_source", n=others))}</p>')
        for run in page.runs[1:]:
            body.append(f'<section class="run" id="run-{_e(run.run_id)}"><h3>{_e(t("index.run_heading", run=run.run_id))}</h3>'
                        f'<p class="meta">{_e(_run_meta(run, t))}</p>{_reports(run, t)}</section>')
        body.append("</section>")
        f = page.freshness
        period, grace = SCHEDULES[f.schedule]
        sched = t(f"index.schedule.{f.schedule}")
        body.append(f'<section class="rules"><h2>{_e(t("index.rules_heading"))}</h2>'
                    f'<p>{_e(t("index.rule_noise"))}</p>'
                    f'<p>{_e(t("index.rule_fresh", schedule=sched, period=t(f"index.period.{f.schedule}"), grace=grace))}</p>'
                    f'<p>{_e(t("index.rule_compare"))}</p></section>')
    return (f'<!DOCTYPE html>\n<html lang="{_e(lang)}"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>{_e(t('index.title'))}</title><style>{STYLE}</style></head>\n<body>\n"
            + "\n".join(body) + "\n</body></html>\n")


def write_index(out: Path, lang: str | None = None, schedule: str | None = None) -> Path:
    """Write ``out/index.html`` (atomically) in ``lang`` (default: the newest run's language); ``schedule``
    overrides the newest run's expected refresh schedule."""
    out = Path(out)
    page = gather(out, schedule)
    if lang is None:
        lang = page.runs[0].manifest.get("lang", "en") if page.runs else "en"
    if lang not in i18n.LANGUAGES:
        raise ValueError(f"language {lang!r} is not available; use one of {i18n.LANGUAGES}")
    text = render(page, lang)
    path = out / "index.html"
    tmp = out / ".index.html.tmp"
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return path


__all__ = ["render", "write_index", "trend_svg", "fmt_value", "fmt_change"]
