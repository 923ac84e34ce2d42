"""Theme matching with the default dictionary and with a user's file; a malformed file names the file and entry."""
from __future__ import annotations

import pytest

from csanalysis.voice import ThemeFileError, load_themes, parse_themes

THEMES = ["price", "support", "missing_features", "usability", "bugs_reliability", "onboarding", "contract_billing"]


def test_default_dictionary_covers_the_issue_themes():
    assert load_themes().names == THEMES


@pytest.mark.parametrize("text, themes", [
    ("Pricing went up again", ["price"]),  # pric* matches pricing
    ("ＴＯＯ　ＥＸＰＥＮＳＩＶＥ", ["price"]),  # full-width
    ("料金が高すぎます。", ["price"]),  # 高すぎ: base form 高い
    ("サポートの返信が遅いです。", ["support"]),
    ("The app crashes, support never replied.", ["support", "bugs_reliability"]),
    ("請求書のinvoiceが間違っていた", ["contract_billing"]),  # an English word between Japanese characters
    ("画面が使いにくい", ["usability"]),
    ("Great product, we love it.", []),
])
def test_matching(text, themes):
    assert load_themes().match(text) == themes


def test_wildcard_reach():
    # cost* matches every word starting with "cost", costume too (documented): a user narrows it in their own file
    assert load_themes().match("a costume party") == ["price"]


def test_whole_words_only():
    d = parse_themes({"themes": {"ui": {"en": ["ui"]}, "ja": {"ja": ["機能"]}}})
    assert d.match("the ui is bad") == ["ui"]
    assert d.match("a suitable guide") == []  # "ui" inside words does not count
    assert d.match("UIが悪い") == ["ui"]
    assert d.match("新機能が欲しい") == ["ja"]  # Japanese: part of the text


def test_matrix_matches_each_distinct_text_once():
    d = parse_themes({"themes": {"price": {"en": ["price"]}}})
    m = d.matrix(["Price!", None, "price!", "nothing"])
    assert m["price"].tolist() == [True, False, True, False]


def test_users_file(tmp_path):
    p = tmp_path / "mine.yaml"
    p.write_text("themes:\n  speed:\n    en: [slow, lag*]\n    ja: [遅い]\n", encoding="utf-8")
    d = load_themes(p)
    assert d.names == ["speed"] and d.match("Laggy screens") == ["speed"] and d.match("動作が遅くて") == ["speed"]


@pytest.mark.parametrize("body, needle", [
    ("themes: []\n", "non-empty 'themes' mapping"),
    ("themes:\n  price: [cheap]\n", "theme 'price' must map en and/or ja"),
    ("themes:\n  price:\n    fr: [cher]\n", "theme 'price' must map en and/or ja"),
    ("themes:\n  price:\n    en: cheap\n", "theme 'price', en: give a list"),
    ("themes:\n  price:\n    en: [cheap, '']\n", "theme 'price', en: give a list"),
    ("themes:\n  price:\n    en: ['*pric']\n", "a * may only end a keyword"),
    ("themes:\n  'bad name':\n    en: [x]\n", "theme 'bad name'"),
    ("themes: {price: [\n", "not valid YAML"),
])
def test_malformed_file_names_the_file_and_entry(tmp_path, body, needle):
    p = tmp_path / "broken.yaml"
    p.write_text(body, encoding="utf-8")
    with pytest.raises(ThemeFileError) as e:
        load_themes(p)
    assert str(p) in str(e.value) and needle in str(e.value), str(e.value)


def test_missing_file(tmp_path):
    with pytest.raises(ThemeFileError, match="no such file"):
        load_themes(tmp_path / "none.yaml")


def test_every_generator_phrase_is_found_as_its_theme_only():
    # the demo's planted prevalence is read through this dictionary: a bank phrase it missed (or read as another
    # theme) would bias the recovered prevalences and risk ratios, not just add noise
    from csanalysis.data import synth

    d = load_themes()
    assert list(synth._VOICE_PHRASES) == d.names
    for theme, banks in synth._VOICE_PHRASES.items():
        for lang, phrases in banks.items():
            for p in phrases:
                for s in [p, synth._full_width(p)] if lang == "en" else [p]:
                    assert d.match(s) == [theme], (theme, lang, s)
    for banks in synth._VOICE_MOOD.values():  # the mood phrases carry no theme word
        for p in [p for ps in banks.values() for p in ps]:
            assert d.match(p) == [] and d.match(synth._full_width(p)) == [], p
