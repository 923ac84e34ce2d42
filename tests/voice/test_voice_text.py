"""Normalisation and tokenization of Japanese, English and mixed text (expected tokens written by hand)."""
from __future__ import annotations

import pytest

from csanalysis.voice import normalise, tokenize
from csanalysis.voice.text import STOP_WORDS, is_japanese


@pytest.mark.parametrize("raw, expected", [
    ("ＰＲＩＣＥ　ＩＳ　ＨＩＧＨ", "price is high"),  # full-width letters and space
    ("ｻﾎﾟｰﾄ", "サポート"),  # half-width katakana with a voiced mark
    ("  Too   EXPENSIVE\n", "too expensive"),
    ("１２３ＡＢＣ", "123abc"),
    (None, ""),
    (float("nan"), ""),
])
def test_normalise(raw, expected):
    assert normalise(raw) == expected


@pytest.mark.parametrize("text, tokens", [
    # nouns, verbs and adjectives in their base forms; particles, auxiliaries and する/いる dropped
    ("サポートの対応が遅くて困っています。", ("サポート", "対応", "遅い", "困る")),
    ("料金が高すぎる", ("料金", "高い")),
    ("ｻﾎﾟｰﾄは丁寧でした", ("サポート", "丁寧")),
    ("導入が難しかった", ("導入", "難しい")),
    ("契約の更新が面倒", ("契約", "更新", "面倒")),
])
def test_japanese_tokens(text, tokens):
    assert tokenize(text) == tokens


@pytest.mark.parametrize("text, tokens", [
    # stop words (is, too, the) and one-letter words dropped; negations kept; case folded; n't joined
    ("ＰＲＩＣＥ is too HIGH!", ("price", "high")),
    ("The dashboard isn't working, support never replied.", ("dashboard", "isnt", "working", "support", "never", "replied")),
    ("Not a good fit: 3 users, no API", ("not", "good", "fit", "users", "no", "api")),
])
def test_english_tokens(text, tokens):
    assert tokenize(text) == tokens


@pytest.mark.parametrize("text, tokens", [
    # English runs by the English rules, Japanese runs by Janome, in the order of the text
    ("請求書のinvoiceが間違っていた", ("請求", "invoice", "間違う")),
    ("Great tool. とても満足しています", ("great", "tool", "満足")),
    ("ＵＩが分かりにくい", ("ui", "分かる")),
])
def test_mixed_tokens(text, tokens):
    assert tokenize(text) == tokens


def test_helpers():
    assert is_japanese("UIが") and not is_japanese("ui only")
    assert "the" in STOP_WORDS and "not" not in STOP_WORDS
    assert tokenize("") == ()
    # memoised: the same text gives the same (cached) tuple object
    assert tokenize("料金が高すぎる") is tokenize("料金が高すぎる")
