"""One message catalogue per language (``messages/<lang>/*.yaml``, one file per report area, merged; a key
defined twice is an error), one set of notebooks.

Notebooks show every heading, sentence, table column, chart title, axis label and legend through :func:`tr`
(text) or :func:`say` / :func:`heading` (Markdown with escaped values), so ``--lang ja`` renders the same
notebook in Japanese.
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

LANGUAGES = ("en", "ja")
_DIR = Path(__file__).parent / "messages"
_state = {"lang": "en"}


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


def tr(key: str, **values) -> str:
    """The message for ``key`` in the current language, formatted with ``values`` (not escaped: plain text)."""
    cat = catalogue(_state["lang"])
    if key not in cat:
        raise KeyError(f"message {key!r} is missing from messages/{_state['lang']}/*.yaml")
    return cat[key].format(**values) if values else cat[key]


def say(key: str, **values) -> None:
    """Display the message as Markdown, every value escaped."""
    from .narrative import md

    tr(key)  # a clear error for a missing key
    md(catalogue(_state["lang"])[key], **values)


def heading(key: str, level: int = 2, **values) -> None:
    from .narrative import md

    md("#" * level + " " + tr(key).replace("{", "{{").replace("}", "}}"))


def attr_label(name: str) -> str:
    """A customer attribute's label: the catalogue's (``attr.<name>``) for a canonical attribute, else the name as
    the export writes it with underscores as spaces (``業種``, ``contract type``, ``monthly charges``)."""
    return catalogue(_state["lang"]).get(f"attr.{name}", str(name).replace("_", " "))


def columns(df, prefix: str = "col."):
    """Rename columns through the catalogue (``col.<name>``); names without a message stay as they are."""
    cat = catalogue(_state["lang"])
    return df.rename(columns={c: cat.get(prefix + str(c), c) for c in df.columns})
