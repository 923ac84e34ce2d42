"""One message catalogue per language (``messages/<lang>/*.yaml``, one file per report area, merged; a key
defined twice is an error), one set of notebooks.

Notebooks show every heading, sentence, table column, chart title, axis label and legend through :func:`tr`
(text) or :func:`say` / :func:`heading` (Markdown with escaped values), so ``--lang ja`` renders the same
notebook in Japanese.

Some words depend on the data's layout: a purchase log has no cancellations, so what a subscription report calls
a churn is a lapse there (no purchase for 1 + ``grace_months`` months). A message writes such a word as a
placeholder ``{term_<name>}`` (``{term_churn}``, ``{term_churned}`` …), filled from the catalogue entry
``term.<name>.<layout>`` of the layout set by :func:`set_layout` (``term.<name>.subscription`` for a layout
without its own entry). One catalogue per language, one message per sentence: only the word changes.
"""
from __future__ import annotations

import string
from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGES = ("en", "ja")
_DIR = Path(__file__).parent / "messages"
_state = {"lang": "en", "layout": "subscription"}
TERM = "term_"  # placeholders filled with a layout-dependent word (see the module docstring)


@lru_cache(maxsize=None)
def catalogue(lang: str) -> dict[str, str]:
    if lang not in LANGUAGES:
        raise ValueError(f"language {lang!r} is not available; use one of {LANGUAGES}")
    merged: dict[str, str] = {}
    for path in sorted((_DIR / lang).glob("*.yaml")):
        part = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        twice = sorted(set(part) & set(merged))
        if twice:
            raise ValueError(f"messages/{lang}/{path.name} defines keys already defined in another file: {twice}")
        merged.update(part)
    return merged


def set_language(lang: str) -> None:
    catalogue(lang)
    _state["lang"] = lang


def language() -> str:
    return _state["lang"]


def set_layout(layout: str) -> None:
    """The data layout whose words the messages use (``ds.layout``): ``{term_churn}`` reads "lapse" for a
    purchase log, "churn" otherwise."""
    _state["layout"] = layout


def layout() -> str:
    return _state["layout"]


def term_fields(text: str) -> set[str]:
    """The layout-dependent word placeholders (``term_…``) of a message."""
    return {f for _, f, _, _ in string.Formatter().parse(text) if f and f.startswith(TERM)}


def term(name: str, layout_name: str | None = None, lang: str | None = None) -> str:
    """The word ``name`` (``churn``, ``churned`` …) for a layout in a language (the current ones by default)."""
    cat = catalogue(lang or _state["lang"])
    key = f"term.{name}.{layout_name or _state['layout']}"
    if key not in cat:
        key = f"term.{name}.subscription"
    if key not in cat:
        raise KeyError(f"word {name!r} is missing from messages/{lang or _state['lang']}/*.yaml (term.{name}.subscription)")
    return cat[key]


def _terms(text: str) -> dict[str, str]:
    return {f: term(f[len(TERM):]) for f in term_fields(text)}


def _reasons(values: dict) -> dict:
    """``values`` with each :class:`~csanalysis.reasons.Reason` (why an estimate is missing) in the current
    language: its own catalogue message."""
    from ..reasons import Reason

    return {k: tr(v.key, **v.values) if isinstance(v, Reason) else v for k, v in values.items()}


def tr(key: str, **values) -> str:
    """The message for ``key`` in the current language, formatted with ``values`` (not escaped: plain text; a
    value that is not text written for reading, :func:`~csanalysis.report.narrative.readable`; a
    :class:`~csanalysis.reasons.Reason` through its own message) and the layout's words."""
    from .narrative import readable

    values = _reasons(values)
    cat = catalogue(_state["lang"])
    if key not in cat:
        raise KeyError(f"message {key!r} is missing from messages/{_state['lang']}/*.yaml")
    values = {**_terms(cat[key]), **{k: readable(v) for k, v in values.items()}}
    return cat[key].format(**values) if values else cat[key]


def say(key: str, **values) -> None:
    """Display the message as Markdown, every value escaped."""
    from .narrative import md

    cat = catalogue(_state["lang"])
    if key not in cat:
        raise KeyError(f"message {key!r} is missing from messages/{_state['lang']}/*.yaml")
    text = cat[key]
    md(text, **{**_terms(text), **_reasons(values)})


def definition(ds) -> tuple[str, dict]:
    """The message key and values of the churn definition in force for a Dataset: ``definition.churn`` (active
    means MRR above zero) or, for a purchase log, ``definition.lapse`` (active means a purchase; a churn is a
    lapse of 1 + grace months without one). ``key, values = definition(ds)`` then ``say(key, **values)`` or ``tr(key, **values)``."""
    from .narrative import fmt_month

    g = ds.settings.grace_months
    month = fmt_month(ds.as_of_month)
    if getattr(ds, "layout", "subscription") == "purchase_log":
        return "definition.lapse", {"n": g + 1, "g": g, "window": g + 1, "month": month}
    if getattr(ds, "layout", "subscription") == "snapshot":  # T = tenure, E = churned (data/README.md)
        return "definition.churn_snapshot", {"month": month}
    grace = tr("definition.grace", g=g) if g else tr("definition.grace_none")
    return "definition.churn", {"grace": grace, "window": g + 1, "month": month}


def heading(key: str, level: int = 2, **values) -> None:
    from .narrative import md

    md("#" * level + " " + tr(key, **values).replace("{", "{{").replace("}", "}}"))


def attr_label(name: str) -> str:
    """A customer attribute's label: the catalogue's (``attr.<name>``) for a canonical attribute, else the name as
    the export writes it with underscores as spaces (``業種``, ``contract type``, ``monthly charges``)."""
    from ..data.attributes import label

    return label(name, tr)


def columns(df, prefix: str = "col."):
    """Rename columns through the catalogue (``col.<name>``); names without a message stay as they are. The table
    remembers each column's name before translation (``attrs["source_names"]``) for :func:`show_table`'s formats."""
    from .narrative import SOURCE_NAMES

    cat = catalogue(_state["lang"])
    names = {c: tr(prefix + str(c)) if prefix + str(c) in cat else c for c in df.columns}
    out = df.rename(columns=names)
    # the names before translation, so show_table(formats=...) can be keyed by either (earlier translations kept)
    before = df.attrs.get(SOURCE_NAMES, {})
    out.attrs = {**df.attrs, SOURCE_NAMES: {new: before.get(old, old) for old, new in names.items()}}
    return out
