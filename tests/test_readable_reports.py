"""Every number readable (issue 19): the demo reports, rendered in English and Japanese, show no raw machine value
in any table cell or sentence — no float with five or more decimals, no scientific notation, no nan/NaT/None/True/
False, no "p = 0" — and the report helpers write numbers by meaning (money with its currency, p-values as < 0.001 or
two significant digits, ratios with 2 decimals, months with 1, booleans, missing values and dates in words)."""
from __future__ import annotations

import re
from html.parser import HTMLParser

import pandas as pd
import pytest

from csanalysis.report import i18n
from csanalysis.report import narrative as nr


# What a stakeholder must never read (the project's own rules; a fragment is a table cell or a block of text).
RAW = {
    "five or more decimals": re.compile(r"(?<![\w.])\d[\d,]*\.\d{5,}"),
    "scientific notation": re.compile(r"(?<![\w.])\d+(?:\.\d+)?[eE][-+]?\d+\b"),
    "machine value": re.compile(r"\b(?:nan|NaN|NaT|None|True|False|inf|Infinity)\b"),
    "p = 0": re.compile(r"\bp\s*[=<≤]\s*0(?:\.0+)?(?!\.?\d)"),
}
BLOCKS = {"p", "li", "td", "th", "caption", "h1", "h2", "h3", "h4", "h5", "h6", "div", "footer", "pre", "dt", "dd",
          "title", "tr", "table", "ul", "ol", "section", "main", "body", "figcaption", "blockquote"}


class _Fragments(HTMLParser):
    """The visible text of a page, one fragment per table cell or block (paragraph, list item, heading …); text
    inside inline markup (bold, links) stays in its sentence. Scripts and styles are not visible text."""

    def __init__(self):
        super().__init__()
        self.hidden, self.buf, self.fragments = 0, [], []

    def _flush(self):
        text = " ".join("".join(self.buf).split())
        if text:
            self.fragments.append(text)
        self.buf = []

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self.hidden += 1
        elif tag in BLOCKS or tag == "br":
            self._flush()

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self.hidden -= 1
        elif tag in BLOCKS:
            self._flush()

    def handle_data(self, data):
        if not self.hidden:
            self.buf.append(data)

    def close(self):
        super().close()
        self._flush()


def fragments(html: str) -> list[str]:
    p = _Fragments()
    p.feed(html)
    p.close()
    return p.fragments


def raw_values(html: str) -> list[tuple[str, str, str]]:
    """(rule, the raw value, its fragment) for every raw value in a page's visible text."""
    return [(rule, m.group(0), frag) for frag in fragments(html) for rule, rx in RAW.items() for m in rx.finditer(frag)]


def test_the_scan_finds_each_kind_of_raw_value_and_passes_readable_text():
    """The check can fail: each raw value the issue found, planted in a table cell or a sentence, is caught; the
    same values written for reading are not."""
    raw = ("<table><tr><td>15.455970</td><td>0.000000e+00</td><td>5.1e-09</td><td>False</td><td>None</td>"
           "<td>NaT</td><td>nan</td></tr></table><p>Survival differs by <b>plan</b> with log-rank p = 0.</p>"
           "<p>violation False; p = 0.00164; MRR 1284.135364</p><script>var x = 0.1234567;</script>")
    found = raw_values(raw)
    assert {(r, v) for r, v, _ in found} == {
        ("five or more decimals", "15.455970"), ("five or more decimals", "0.000000"), ("scientific notation", "0.000000e+00"),
        ("scientific notation", "5.1e-09"), ("machine value", "False"), ("machine value", "None"), ("machine value", "NaT"),
        ("machine value", "nan"), ("p = 0", "p = 0"), ("five or more decimals", "0.00164"),
        ("five or more decimals", "1284.135364")}
    assert ("p = 0", "p = 0", "Survival differs by plan with log-rank p = 0.") in found  # a sentence across markup
    readable = ("<table><tr><td>15.5</td><td>&lt; 0.001</td><td>0.0016</td><td>no</td><td>n/a</td><td>2024-03-31</td>"
                "<td>$1,284</td><td>1.27 (1.05–1.54)</td><td>71% (66–76%)</td></tr></table>"
                "<p>Survival differs by plan with log-rank p &lt; 0.001; p = 0.050; 3 of 12 cohorts.</p>")
    assert raw_values(readable) == []


def test_p_values_have_one_readable_form():
    assert [nr.fmt_p(v) for v in (0.0, 5.06e-10, 0.000999, 0.001, 0.00164, 0.0123, 0.04999, 0.05, 0.0999, 0.34, 0.996, 1.0)] == [
        "< 0.001", "< 0.001", "< 0.001", "0.0010", "0.0016", "0.012", "0.050", "0.050", "0.10", "0.34", "1.0", "1.0"]
    assert nr.fmt_p(0.0, label=True) == "p < 0.001" and nr.fmt_p(0.0321, label=True) == "p = 0.032"
    assert nr.fmt_p(float("nan")) == "–"
    with pytest.raises(ValueError, match="outside"):
        nr.fmt_p(1.5)


def test_numbers_by_meaning_money_ratios_months_words():
    try:
        nr.set_currency(None)
        assert nr.fmt_money(1284.135364) == "1,284"
        nr.set_currency("USD")
        assert (nr.fmt_money(1284.135364), nr.fmt_money(-56.4), nr.fmt_money(-0.2), nr.fmt_money(1234.5, 2)) == (
            "$1,284", "-$56", "$0", "$1,234.50")
        assert nr.fmt_ci(1200, 1000.4, 1500, money=True) == "$1,200 ($1,000–$1,500)"
        assert nr.fmt_est({"estimate": 1200.0, "lower": None, "upper": None}, money=True) == "$1,200"
        nr.set_currency("JPY")
        assert nr.fmt_money(120000) == "¥120,000"
        nr.set_currency("CHF")
        assert nr.fmt_money(1234) == "1,234 CHF"
        with pytest.raises(ValueError, match="currency"):
            nr.set_currency("  ")
    finally:
        nr.set_currency(None)
    assert (nr.fmt_ratio(1.27449), nr.fmt_months(15.455970), nr.fmt_int(12345.6), nr.fmt_pct(0.712)) == (
        "1.27", "15.5", "12,346", "71%")
    # an unbounded value (an interval's open end) as ∞, never 'inf'
    inf = float("inf")
    assert (nr.fmt_ratio(inf), nr.fmt_int(inf), nr.fmt_num(-inf), nr.fmt_pct(inf), nr.fmt_value(inf)) == ("∞", "∞", "-∞", "∞", "∞")
    assert (nr.fmt_ci(0.5, 0.1, inf), nr.fmt_ci(2.0, 1.0, inf, pct=False, decimals=2)) == ("50% (10–∞)", "2.00 (1.00–∞)")
    # a number of unknown unit (the changes since the previous run): three significant digits, never 5.65e+04
    assert [nr.fmt_sig(v) for v in (56498.44, 37.0, 1.5437, 0.2168, 0.02576, -0.0004, 0.0, 1e-7)] == [
        "56,498", "37.0", "1.54", "0.217", "0.0258", "-0.0004", "0", "0.0000"]
    try:
        for lang, words in {"en": ("yes", "no", "n/a", "2024-03-01", "2024-03"),
                            "ja": ("はい", "いいえ", "該当なし", "2024年3月1日", "2024年3月")}.items():
            i18n.set_language(lang)
            assert (nr.fmt_bool(True), nr.fmt_bool(False), nr.fmt_missing(), nr.fmt_date(pd.Timestamp("2024-03-01")),
                    nr.fmt_month(pd.Period("2024-03", "M"))) == words
            assert [nr.fmt_value(v) for v in (None, float("nan"), pd.NaT, True, pd.Timestamp("2024-03-01"))] == [
                words[2], words[2], words[2], words[0], words[3]]
    finally:
        i18n.set_language("en")
    assert [nr.fmt_value(v) for v in (0.054604, 15.455970, 1284.135364, 3.0, 7, 2928, "Pro")] == [
        "0.055", "15.46", "1,284", "3", "7", "2,928", "Pro"]


def _shown_cells(monkeypatch, df, **kw) -> list[list[str]]:
    """The cells show_table displays."""
    shown = []
    monkeypatch.setattr("IPython.display.display", lambda obj, **_: shown.append(obj.data))
    nr.show_table(df, **kw)
    return [re.findall(r"<td>(.*?)</td>", row) for row in re.findall(r"<tr>(.*?)</tr>", shown[0], re.S) if "<td>" in row]


def test_show_table_formats_apply_after_the_columns_are_translated(monkeypatch):
    """The cause the issue found: formats keyed by a column's own name did not apply once columns() had translated
    it ("p_value" shown as "p値"). Either name works now, and every cell without a formatter is still readable."""
    df = pd.DataFrame({"group": ["Pro", "Basic"], "p_value": [0.0, 0.0164], "statistic": [15.455970, 2.0],
                       "violation": [False, True], "renewal_date": [pd.Timestamp("2024-03-31"), pd.NaT],
                       "owner": [None, "Kim"], "upper": [float("inf"), 3.0]})
    try:
        i18n.set_language("ja")
        cat = i18n.catalogue("ja")
        assert "col.group" in cat  # translated: the displayed name is not "group"
        shown = i18n.columns(df)
        assert list(shown.columns)[0] != "group"
        cells = _shown_cells(monkeypatch, shown, formats={"p_value": nr.fmt_p, "group": str.upper})
    finally:
        i18n.set_language("en")
    assert cells == [["PRO", "&lt; 0.001", "15.46", "いいえ", "2024年3月31日", "該当なし", "∞"],
                     ["BASIC", "0.016", "2.00", "はい", "該当なし", "Kim", "3"]]


@pytest.fixture(scope="module")
def rendered(demo_runs):
    """The eight demo reports rendered once in English and once in Japanese, in one reports folder: the Japanese run
    also shows the changes since the previous (English) run (conftest.demo_runs, shared with the browser test)."""
    return {lang: demo_runs[lang] for lang in ("en", "ja")}


@pytest.mark.parametrize("lang", ["en", "ja"])
def test_demo_reports_show_no_raw_machine_values(rendered, lang):
    res = rendered[lang]
    pages = {nb: (res.folder / nb / f"{nb}.html").read_text(encoding="utf-8") for nb in res.notebooks}
    assert len(pages) == 9
    texts = {nb: fragments(html) for nb, html in pages.items()}
    assert all(len(t) > 50 for t in texts.values())  # the scan reads real pages
    cells = sum(html.count("<td>") for html in pages.values())
    assert cells > 300  # and their tables
    found = [(nb, *hit) for nb, html in pages.items() for hit in raw_values(html)]
    assert not found, "\n".join(f"{nb}: {rule}: {value!r} in {frag[:160]!r}" for nb, rule, value, frag in found)


def test_a_hazard_ratio_a_fit_cannot_settle_is_said_in_words():
    """A level with (almost) no churn drives the Cox fit towards 0 (a snapshot fixture printed "churn 36199616.5×
    more slowly … CI 0.00–inf"): such a ratio is said to be not estimable; a settled one keeps its sentence, its
    hazard ratio with 2 decimals."""
    from csanalysis import survival

    hrs = pd.DataFrame({"term": ["plan[T.Pro]", "plan[T.Enterprise]", "plan[T.Trial]"], "covariate": ["plan"] * 3,
                        "level": ["Pro", "Enterprise", "Trial"], "reference": ["Basic"] * 3,
                        "hr": [2.76e-8, 0.5, 1.5741], "lower": [0.0, 0.25, 1.2113], "upper": [float("inf"), 1.0, 2.0449]})
    try:
        for lang in ("en", "ja"):
            i18n.set_language(lang)
            sentences = survival.hr_sentences(hrs, i18n.tr)
            assert sentences[0] == i18n.tr("survival.hr.not_estimable", covariate=i18n.tr("attr.plan"), level="Pro",
                                           reference="Basic")
            assert "2.0" in sentences[1] and "0.50" in sentences[1] and not raw_values(f"<p>{sentences[1]}</p>")
            assert all(x in sentences[2] for x in ("1.57", "1.21", "2.04"))  # a hazard ratio with 2 decimals
    finally:
        i18n.set_language("en")


def test_money_takes_the_revenue_tables_currency_unless_the_mapping_sets_one(tmp_path):
    import csanalysis as cs
    from csanalysis.data.mapping import MappingError

    d = tmp_path / "jpy"
    d.mkdir()
    pd.DataFrame({"customer_id": ["A", "B"], "signup_date": ["2024-01-05", "2024-01-20"]}).to_csv(d / "customers.csv", index=False)
    pd.DataFrame({"customer_id": ["A", "A", "B"], "date": ["2024-01-05", "2024-02-05", "2024-01-20"],
                  "amount": [12000, 12000, 5000], "currency": ["JPY", "JPY", "JPY"]}).to_csv(d / "revenue.csv", index=False)
    assert cs.load_dataset(d, as_of="2024-02-29").settings.currency == "JPY"
    assert cs.load_dataset(d, mapping={"settings": {"currency": "¥"}}, as_of="2024-02-29").settings.currency == "¥"
    with pytest.raises(MappingError, match="currency"):
        cs.load_dataset(d, mapping={"settings": {"currency": "Japanese yen, paid monthly"}})
    pd.read_csv(d / "revenue.csv").drop(columns="currency").to_csv(d / "revenue.csv", index=False)
    assert cs.load_dataset(d, as_of="2024-02-29").settings.currency is None  # amounts without a currency
