"""One set of notebooks, one catalogue per language: every English key has a Japanese entry, a Japanese report
keeps no English heading, and figures render Japanese glyphs without a system font."""
from __future__ import annotations

import json
import re
import string
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from csanalysis import plots  # noqa: E402
from csanalysis.report import i18n  # noqa: E402
from csanalysis.report.run import run_report  # noqa: E402

FIX = Path(__file__).parent / "fixtures" / "cohort10"


def _fields(text: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(text) if f}


def test_every_english_key_has_a_japanese_entry_with_the_same_placeholders():
    """The same values in both languages; the layout-dependent words ({term_…}) are the catalogue's own and each
    language uses the grammatical forms it needs (English "churned" / "churns", Japanese 解約 for both)."""
    en, ja = i18n.catalogue("en"), i18n.catalogue("ja")
    assert set(en) == set(ja), f"missing in ja: {sorted(set(en) - set(ja))}; only in ja: {sorted(set(ja) - set(en))}"
    for key in en:
        assert _fields(en[key]) - i18n.term_fields(en[key]) == _fields(ja[key]) - i18n.term_fields(ja[key]), key
        assert ja[key].strip(), key
        assert bool(i18n.term_fields(en[key])) == bool(i18n.term_fields(ja[key])), key  # both or neither vary


def test_layout_words_exist_for_every_layout_and_a_purchase_log_says_lapse():
    for lang in i18n.LANGUAGES:
        cat = i18n.catalogue(lang)
        used = set().union(*(i18n.term_fields(v) for v in cat.values()))
        assert "term_churn" in used
        for field in used:
            for layout in ("subscription", "purchase_log", "snapshot"):
                assert i18n.term(field[len(i18n.TERM):], layout, lang).strip(), (lang, field, layout)
    try:
        i18n.set_language("en")
        assert i18n.tr("cohorts.curve_title") == "Customers not yet churned since their start"
        i18n.set_layout("purchase_log")
        assert i18n.tr("cohorts.curve_title") == "Customers not yet lapsed since their start"
        assert i18n.tr("cohorts.summary_ltv_undefined", reason="x") == (
            "Lifetime value (ARPA × gross margin ÷ monthly lapse) is undefined: x.")
        assert i18n.tr("cohorts.movement.churn") == "Lapse"
        i18n.set_language("ja")
        assert i18n.tr("cohorts.curve_y") == "未離脱の割合"
        i18n.set_layout("snapshot")  # no words of its own: the subscription's
        assert i18n.tr("cohorts.curve_y") == "未解約の割合"
    finally:
        i18n.set_language("en")
        i18n.set_layout("subscription")


def test_the_english_word_for_a_churn_is_the_data_layers_for_every_layout():
    """Analyses write their reasons with the data layer's word (csanalysis.data.schema.CHURN_WORD; they import
    nothing from report/); the English report says the same word for each layout."""
    from csanalysis.data.schema import CHURN_WORD, LAYOUTS, churn_word

    assert set(CHURN_WORD) == set(LAYOUTS)
    for layout in LAYOUTS:
        assert i18n.term("churn", layout, "en") == churn_word(layout), layout
    assert churn_word("purchase_log") == "lapse" and churn_word("snapshot") == "churn"
    with pytest.raises(ValueError, match="layout 'weekly'"):
        churn_word("weekly")


def test_unknown_language_and_key_are_clear_errors():
    with pytest.raises(ValueError, match="language 'fr'"):
        i18n.set_language("fr")
    with pytest.raises(KeyError, match="no.such.key"):
        i18n.tr("no.such.key")


def test_japanese_glyphs_render_without_missing_glyph_warnings():
    plots.set_style("ja")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        fig, ax = plt.subplots()
        ax.set(title="月次経常収益（MRR）", xlabel="月", ylabel="顧客数")
        fig.canvas.draw()
        plt.close(fig)
    assert not [w for w in caught if "Glyph" in str(w.message)]
    plots.set_style("en")


def test_japanese_report_has_no_english_heading(tmp_path):
    res = run_report(["00"], data=FIX, as_of="2024-06-15", lang="ja", out=tmp_path)
    folder = res.folder / "00_data_overview"
    html = (folder / "00_data_overview.html").read_text(encoding="utf-8")
    headings = re.findall(r"<h[1-3][^>]*>(.*?)</h[1-3]>", html, flags=re.S)
    texts = [re.sub(r"<[^>]+>|¶", "", h).strip() for h in headings]
    assert texts, "no headings found"
    ja = i18n.catalogue("ja")
    en = i18n.catalogue("en")
    for t in texts:
        assert re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", t), f"heading without Japanese: {t!r}"
        assert t not in {v for k, v in en.items() if k.endswith("heading") or k.endswith("title")}
    assert ja["overview.summary_heading"] in texts
    nb = json.loads((folder / "00_data_overview.ipynb").read_text(encoding="utf-8"))
    streams = "".join("".join(o.get("text", "")) for c in nb["cells"] for o in c.get("outputs", []))
    assert "Glyph" not in streams and "missing from font" not in streams


def test_measured_values_are_written_for_reading_never_in_scientific_notation():
    from csanalysis.report import fmt_num

    assert [fmt_num(v) for v in (171_100.0, 1.711e5, 3.249, -12.5, 0.04213, 2e-7, float("nan"), None)] == [
        "171,100", "171,100", "3.25", "-12.50", "0.042", "0.000", "–", "–"]
