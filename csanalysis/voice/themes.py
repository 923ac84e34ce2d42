"""Themes: a user-editable dictionary of keywords in English and Japanese, matched against normalised text.

The default dictionary is ``csanalysis/voice_themes.yaml`` (price, support, missing features, usability, bugs and
reliability, onboarding, contract and billing). A file has one key, ``themes``, mapping each theme name to its
keyword lists ``en`` and/or ``ja``. Matching (the text normalised by :func:`csanalysis.voice.text.normalise`,
keywords too, so full-width and half-width forms and letter case do not matter):

* an English keyword matches as whole words (``value for money``); a trailing ``*`` matches any ending
  (``pric*``: price, prices, pricing);
* a Japanese keyword matches a token's base form (``遅い`` matches 遅くて, whose base form is 遅い) or any part of
  the text (``使いにくい``: Japanese has no spaces between words).

A text can mention several themes. A malformed file raises :class:`ThemeFileError` naming the file and the entry.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from .text import is_japanese, normalise, tokenize

__all__ = ["DEFAULT_THEMES", "LANGUAGES", "ThemeDictionary", "ThemeFileError", "load_themes"]

DEFAULT_THEMES = Path(__file__).parent.parent / "voice_themes.yaml"
LANGUAGES = ("en", "ja")


class ThemeFileError(ValueError):
    """A theme dictionary that cannot be read: the message names the file and the entry."""


@dataclass(frozen=True)
class ThemeDictionary:
    """Themes and their normalised keywords: ``themes`` maps a theme to {"en": (...), "ja": (...)}."""

    themes: dict
    source: str = ""

    @property
    def names(self) -> list[str]:
        return list(self.themes)

    def _patterns(self):
        cached = self.__dict__.get("_compiled")
        if cached is None:
            cached = {}
            for theme, kw in self.themes.items():
                en = [re.escape(k[:-1]) + r"[a-z0-9]*" if k.endswith("*") else re.escape(k) for k in kw.get("en", ())]
                # whole words by Latin letters and digits only: a Japanese character next to an English word
                # (請求のinvoiceが) is a boundary too
                en_re = re.compile(r"(?<![a-z0-9])(?:" + "|".join(en) + r")(?![a-z0-9])") if en else None
                cached[theme] = (en_re, frozenset(kw.get("ja", ())), tuple(kw.get("ja", ())))
            object.__setattr__(self, "_compiled", cached)
        return cached

    def match(self, text) -> list[str]:
        """The themes one text mentions, in the dictionary's order."""
        s = normalise(text)
        if not s:
            return []
        toks = set(tokenize(s)) if is_japanese(s) else set()
        out = []
        for theme, (en_re, ja_set, ja) in self._patterns().items():
            if (en_re is not None and en_re.search(s)) or (toks & ja_set) or any(k in s for k in ja):
                out.append(theme)
        return out

    def matrix(self, texts) -> pd.DataFrame:
        """One boolean column per theme, one row per text (in order; each distinct text matched once)."""
        texts = pd.Series(list(texts), dtype=object)
        codes, uniq = pd.factorize(texts.map(normalise), sort=False)
        m = np.zeros((len(uniq), len(self.themes)), bool)
        pos = {t: j for j, t in enumerate(self.themes)}
        for i, u in enumerate(uniq):
            for t in self.match(u):
                m[i, pos[t]] = True
        out = m[codes] if len(texts) else np.zeros((0, len(self.themes)), bool)
        return pd.DataFrame(out, columns=self.names)


def load_themes(path: str | Path | None = None) -> ThemeDictionary:
    """Read a theme dictionary (None: the default ``csanalysis/voice_themes.yaml``); see the module docstring."""
    from ..data.mapping import read_yaml

    p = Path(path) if path else DEFAULT_THEMES
    where = str(p)
    if not p.is_file():
        raise ThemeFileError(f"theme dictionary {where}: no such file")
    raw = read_yaml(p.read_bytes(), f"theme dictionary {where}", ThemeFileError)  # size-limited, UTF-8, no aliases
    return parse_themes(raw, where)


def parse_themes(raw, where: str = "(themes)") -> ThemeDictionary:
    """A :class:`ThemeDictionary` from the parsed YAML (``{"themes": {name: {"en": [...], "ja": [...]}}}``)."""
    if not isinstance(raw, dict) or not isinstance(raw.get("themes"), dict) or not raw["themes"]:
        raise ThemeFileError(f"theme dictionary {where}: the file must be a mapping with a non-empty 'themes' mapping "
                             "(theme name -> {en: [keywords], ja: [keywords]})")
    themes = {}
    for name, kw in raw["themes"].items():
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_]+", name):
            raise ThemeFileError(f"theme dictionary {where}: theme {name!r}: a theme name is letters, digits and _")
        if not isinstance(kw, dict) or not kw or set(kw) - set(LANGUAGES):
            raise ThemeFileError(f"theme dictionary {where}: theme {name!r} must map en and/or ja to lists of keywords "
                                 f"(got {kw!r})")
        entry = {}
        for lang, words in kw.items():
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and normalise(w) for w in words):
                raise ThemeFileError(f"theme dictionary {where}: theme {name!r}, {lang}: give a list of non-empty "
                                     f"keywords (got {words!r})")
            bad = [w for w in words if normalise(w).strip("*") == "" or "*" in normalise(w)[:-1]]
            if bad:
                raise ThemeFileError(f"theme dictionary {where}: theme {name!r}, {lang}: keyword(s) {bad!r}: a * may only "
                                     "end a keyword")
            entry[lang] = tuple(dict.fromkeys(normalise(w) for w in words))
        themes[name] = entry
    return ThemeDictionary(themes, where)
