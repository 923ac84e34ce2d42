"""Text normalisation and tokenization for customer comments in Japanese, English or both.

* **Normalisation**: Unicode NFKC (full-width Latin letters and digits become ASCII, half-width katakana become
  full-width: ｻﾎﾟｰﾄ → サポート, ＰＲＩＣＥ → PRICE), then case folding, then runs of white space as one space.
* **Mixed text**: the normalised text is split into runs of Japanese script (hiragana, katakana, CJK ideographs,
  the long-vowel mark ー and 々) and the rest. Japanese runs are tokenized by Janome (a pure-Python morphological
  analyser with the IPA dictionary), keeping nouns, verbs and adjectives as their base forms (遅くて → 遅い) and
  dropping dependent forms (非自立), pronouns, numbers and suffixes; the other runs by a plain regular expression
  (letters, with inner apostrophes), dropping English stop words (scikit-learn's ``ENGLISH_STOP_WORDS``) and
  one-letter tokens.
* **Memoised**: each distinct text is tokenized once per process (:func:`tokenize` keeps an LRU cache), and the
  Janome ``Tokenizer`` (which loads its dictionary, about a second) is built once, on first use.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

__all__ = ["normalise", "tokenize", "tokenize_many", "is_japanese", "JAPANESE_POS", "STOP_WORDS"]

# parts of speech kept from Janome (first field of part_of_speech), and second-level fields dropped
JAPANESE_POS = ("名詞", "動詞", "形容詞")
_DROP_SUB = {"非自立", "代名詞", "数", "接尾", "副詞可能"}
_JP_RUN = re.compile(r"[\u3040-\u309f\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff々〆ヵヶー]+")
_EN_WORD = re.compile(r"[^\W\d_](?:[^\W\d_]|'(?=[^\W\d_]))*")
_SPACE = re.compile(r"\s+")
# Japanese verbs too general to tell anything apart (する "do", ある/いる "be", なる "become", できる "can")
_JP_STOP = frozenset({"する", "ある", "いる", "なる", "できる", "れる", "られる", "せる", "ない", "思う", "いう", "こと", "もの"})


def _english_stop_words() -> frozenset:
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

    # negations carry meaning in feedback ("not working"): kept
    return frozenset(ENGLISH_STOP_WORDS) - {"not", "no", "nor", "never", "cannot"}


STOP_WORDS = _english_stop_words()


def normalise(text) -> str:
    """NFKC, case-folded, white space collapsed; None or NaN gives ""."""
    if text is None or (isinstance(text, float) and text != text):
        return ""
    s = unicodedata.normalize("NFKC", str(text)).casefold()
    return _SPACE.sub(" ", s).strip()


def is_japanese(text: str) -> bool:
    """Whether the text holds any Japanese script."""
    return bool(_JP_RUN.search(text))


@lru_cache(maxsize=1)
def _janome():
    from janome.tokenizer import Tokenizer

    return Tokenizer()


@lru_cache(maxsize=100_000)
def _japanese_tokens(run: str) -> tuple[str, ...]:
    out = []
    for tok in _janome().tokenize(run):
        pos = tok.part_of_speech.split(",")
        if pos[0] not in JAPANESE_POS or pos[1] in _DROP_SUB:
            continue
        base = tok.base_form if tok.base_form and tok.base_form != "*" else tok.surface
        if base in _JP_STOP or (len(base) == 1 and not re.match(r"[\u3400-\u9fff]", base)):
            continue  # single kana are particles or fragments; a single kanji (高, 品) can be a word
        out.append(base)
    return tuple(out)


def _english_tokens(run: str) -> list[str]:
    return [w.replace("'", "") if w.endswith("n't") else w for w in _EN_WORD.findall(run)
            if len(w) > 1 and w not in STOP_WORDS]


@lru_cache(maxsize=200_000)
def _tokenize_normalised(s: str) -> tuple[str, ...]:
    out: list[str] = []
    pos = 0
    for m in _JP_RUN.finditer(s):
        out += _english_tokens(s[pos:m.start()])
        out += _japanese_tokens(m.group(0))
        pos = m.end()
    out += _english_tokens(s[pos:])
    return tuple(out)


def tokenize(text) -> tuple[str, ...]:
    """The tokens of one text (normalised first; see the module docstring), in order; memoised."""
    return _tokenize_normalised(normalise(text))


def tokenize_many(texts) -> list[tuple[str, ...]]:
    """:func:`tokenize` for each text (each distinct text once)."""
    return [tokenize(t) for t in texts]
