"""A Japanese run is in Japanese: every notebook rendered on the demo data with ``--lang ja`` after an English run
into the same folder (conftest.demo_runs, shared with the readability and browser tests; each page then also shows
the changes since the previous run) and the text a reader sees is scanned for English words.

What is scanned: the visible text of each report's HTML (script and style removed), the ``alt``/``title``
attributes, and the text of every figure. Figures are drawn as SVG for these tests (a kernel profile,
conftest.SVG_TEXT_KERNEL, sets the inline backend to SVG with text kept as text), so titles, axis labels, legends, tick labels and the at-risk
table under the curves are read as text too; the published reports keep their PNG figures.

What may stay in Latin letters, and why (the allow-list is short on purpose):
- names from the user's data: every word of the demo customers' text columns (plans, regions, CSM names …)
  and the NPS table's other measure the report compares (``csat``);
- the customers' own words, as whole table cells only: a comment the voice report quotes (whole, or shortened
  with "…") and a word it found in the comments (its distinguishing-words tables); the same words in a sentence
  of the report's own are still found;
- identifiers the reader types or finds in files: words with an underscore or a file extension
  (``as_of``, ``risk_list.csv``), text set as code (``<code>``) or quoted in corner brackets (「model」: a value
  as the CSV holds it), the columns of the churn-risk CSV layout
  (``health.LIST_COLUMNS``, the CRM import keeps them in every language) and of the lifecycle report's lists
  (stalled adoption, upsell candidates, renewal rates), a findings-table cell naming a column
  of the data (``amount``; as a whole cell only), numbers and run ids with digits (``log2``, ``994d``);
- units and acronyms the Japanese catalogue uses deliberately (MRR, NPS, AUC …; see ``UNITS``) and the names
  of methods, people and tools the Japanese text names (Wilson, Holm, Cox, lifelines …; see ``NAMES``).
A cell that is a raw machine value (``False``, ``None``) is left to the raw-value scan of the readable-numbers
test. Anything else is English that the catalogue should have given in Japanese: the test lists each word with the
report and the text it came from.
"""
from __future__ import annotations

import base64
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import pandas as pd
import pytest

from csanalysis import health
from csanalysis.report import i18n

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"  # absolute: notebook runs change the cwd
NOTEBOOKS = ("00_data_overview", "01_cohort_retention", "02_churn_survival", "03_nps_revenue", "04_churn_risk",
             "05_cs_impact", "06_why_customers_leave", "07_lifecycle", "08_forecast")

# units and acronyms the ja catalogue writes in Latin letters on purpose (as Japanese business texts do)
UNITS = {"MRR", "ARR", "NPS", "ARPA", "LTV", "CAC", "RMST", "AUC", "ROI", "CS", "CSM", "CSV", "CRM", "ID", "NRR",
         "GRR", "pp", "min"}
# names of statistical methods, their authors and the tools, as the ja catalogue names them
NAMES = {"Wilson", "Greenwood", "Holm", "Cox", "Schoenfeld", "Welch", "Spearman", "Pearson",
         "Fader", "Hardie", "Newey", "West", "lowess", "lifelines", "statsmodels", "csanalysis",
         "Aalen", "Johansen", "Monroe", "Colaresi", "Quinn", "Janome"}
# a cell that is a raw machine value (a boolean or a missing value printed by Python) is the raw-value scan's
# finding (tests/test_readable_reports.py, issue 19 "Every number readable"), not a missing translation
MACHINE = {"True", "False", "None", "nan", "NaN", "NaT"}
SVG = "{http://www.w3.org/2000/svg}"


class _Visible(HTMLParser):
    """Text fragments a reader sees: element text outside script/style, alt/title/aria-label attributes, and
    the text of SVG figures embedded as data URIs. Text set as code (``<code>``: syntax the reader types, such
    as a mapping key) is literal, not prose, and is left out."""

    def __init__(self):
        super().__init__()
        self.skip = 0
        self.fragments: list[str] = []
        self.figures = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "code"):
            self.skip += 1
        for key, value in attrs:
            if key in ("alt", "title", "aria-label") and value:
                self.fragments.append(value)
            if tag == "img" and key == "src" and value and value.startswith("data:image/svg+xml;base64,"):
                root = ET.fromstring(base64.b64decode(value.split(",", 1)[1]))
                texts = ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]
                self.fragments += [t for t in texts if t]
                self.figures += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style", "code"):
            self.skip -= 1

    def handle_data(self, data):
        if not self.skip and data.strip():
            self.fragments.append(data.strip())


def _data_names() -> set[str]:
    """Every word of the demo customers' text columns (plan values, regions, CSM names …)."""
    customers = pd.read_parquet(DEMO / "customers.parquet") if (DEMO / "customers.parquet").is_file() \
        else pd.read_csv(DEMO / "customers.csv")
    words = set()
    for col in customers.columns:
        if customers[col].dtype == object or pd.api.types.is_string_dtype(customers[col]):
            for v in customers[col].dropna().astype(str).unique():
                words |= set(re.findall(r"[A-Za-z]+", v))
    return words


def _comments() -> tuple[tuple[str, ...], set[str]]:
    """The demo's NPS comments (and ticket texts, when the demo has them) and the lower-cased words in them: what
    the voice report quotes and the words its distinguishing-words tables list."""
    texts = []
    for name, col in (("nps", "comment"), ("tickets", "text")):
        path = DEMO / f"{name}.parquet"
        if path.is_file():
            t = pd.read_parquet(path)
            if col in t.columns:
                texts += [str(v) for v in t[col].dropna().unique()]
    words = {w.lower() for v in texts for w in re.findall(r"[A-Za-z]+", v)}
    return tuple(texts), words


def _customers_own_words(fragment: str, texts: tuple[str, ...], words: set[str]) -> bool:
    """A whole cell that is a customer's comment (whole, or shortened with "…") or one word found in the
    comments."""
    core = fragment.rstrip("…").rstrip()
    return bool(core) and (core.lower() in words or any(t.startswith(core) for t in texts))


def _measures() -> set[str]:
    """The other satisfaction measure the NPS report compares (notebook 03's ``other_measure``: a column of the
    reader's NPS table, named as the data name it)."""
    from csanalysis.report.parameters import parameters_of

    import ast

    return {ast.literal_eval(parameters_of(ROOT / "notebooks" / "03_nps_revenue.ipynb")["other_measure"]["default"])}


@pytest.fixture(scope="module")
def demo_ds():
    """The demo loaded once for this module's tests."""
    import csanalysis as cs

    if not DEMO.is_dir():
        pytest.skip(f"demo data not found at {DEMO}")
    return cs.load_dataset(DEMO)


def _finding_columns(ds) -> set[str]:
    """The data columns the demo's validation findings name (the findings table's "column" cells: the name as
    the reader's file has it); allowed as a whole cell only, not as a word in a sentence or a heading."""
    return {f.column for f in ds.report.findings if f.column}


def english_words(text: str, allowed: set[str]) -> list[str]:
    """The words of ``text`` in Latin letters that are neither allowed nor identifiers (a literal quoted in
    Japanese corner brackets, 「model」, is a value as a file holds it, not prose)."""
    found = []
    text = re.sub(r"「[\x20-\x7e]*」", " ", text)
    for token in re.findall(r"[A-Za-z0-9_.'’\-]+", text):
        token = token.strip(".-'’")
        if not re.search(r"[A-Za-z]", token) or re.search(r"\d", token) or "_" in token \
                or re.fullmatch(r"[\w-]+\.(csv|yaml|yml|json|html|parquet)", token):
            continue  # numbers, ids, identifiers, file names
        for word in re.split(r"[.\-'’]", token):
            if len(word) >= 2 and word not in allowed:
                found.append(word)
    return found


def test_english_words_are_found_and_names_and_identifiers_are_not():
    allowed = UNITS | NAMES | {"Basic"}
    assert english_words("37 months (95% CI 31–46)", allowed) == ["months", "CI"]
    assert english_words("At risk", allowed) == ["At", "risk"]
    assert english_words("プラン：Basic; MRR 1,424; risk_list.csv; as_of; log2; Run 20261206-171522-994d", allowed) \
        == ["Run"]
    assert english_words("Holm 補正後の p 値、C 統計量 0.69", allowed) == []
    assert english_words("スコア：「model」（モデル）または scorecard", allowed) == ["scorecard"]


@pytest.fixture(scope="module")
def ja_run(demo_runs):
    """Every demo report rendered in Japanese after the English run into the same folder (conftest.demo_runs, shared
    with the readability and browser tests), so each page also shows the changes since the previous run."""
    res = demo_runs["ja"]
    return {nb: res.folder / nb / f"{nb}.html" for nb in NOTEBOOKS}


def test_japanese_reports_show_no_english(ja_run, demo_ds):
    from csanalysis.health.renewals import CALENDAR_COLUMNS
    from csanalysis.lifecycle import adoption, expansion, renewal
    lists = [health.LIST_COLUMNS, adoption.STALLED_COLUMNS, expansion.CANDIDATE_COLUMNS, renewal.RATE_COLUMNS,
             renewal.EVENT_COLUMNS, CALENDAR_COLUMNS]
    allowed = UNITS | NAMES | _data_names() | _measures() | {c for cols in lists for c in cols}
    cells = _finding_columns(demo_ds)
    texts, comment_words = _comments()
    assert texts, "the demo has no comments: the voice report's quotes are not scanned"
    found: dict[str, list[str]] = {}
    assert 'id="cs-changes"' in ja_run["02_churn_survival"].read_text(encoding="utf-8")  # the run after the English one
    for nb, page in ja_run.items():
        assert page.is_file(), f"{nb} was not rendered"
        html = page.read_text(encoding="utf-8")
        assert '<html lang="ja">' in html, f"{nb}: the page does not declare its language"
        parser = _Visible()
        parser.feed(html)
        assert parser.figures, f"{nb}: no SVG figure was scanned (is the kernel profile applied?)"
        assert sum(bool(re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", f)) for f in parser.fragments) > 20, nb
        for fragment in dict.fromkeys(parser.fragments):
            own = _customers_own_words(fragment, texts, comment_words)
            words = [] if fragment in cells | MACHINE or own else english_words(fragment, allowed)
            if words:
                found.setdefault(nb, []).append(f"{' '.join(dict.fromkeys(words))}  ←  {fragment[:140]!r}")
    assert not found, "English in the Japanese reports:\n" + "\n".join(
        f"{nb}:\n  " + "\n  ".join(lines) for nb, lines in found.items())


def test_a_reason_is_english_where_kept_and_in_the_reports_language_where_shown(demo_ds):
    """Why an estimate is missing (csanalysis.reasons.Reason): English in metrics.json and logs, the catalogue's
    message in a report, here an NPS note for a segment the data do not have."""
    import json
    import pickle

    from csanalysis import nps
    from csanalysis.reasons import Reason

    res = nps.nps_revenue(demo_ds, [6], segment="no_such_attribute", n_boot=20)
    note = res.notes[0]
    assert isinstance(note, Reason) and note.key == "nps.reason.segment_unknown"
    assert note == ("segment 'no_such_attribute' is not a customer attribute: results are not split or adjusted by "
                    "segment")
    assert json.loads(json.dumps({"r": note})) == {"r": str(note)}
    again = pickle.loads(pickle.dumps(note))
    assert isinstance(again, Reason) and again.values == note.values
    try:
        i18n.set_language("en")
        assert i18n.tr("nps.note", text=note) == f"Note: {note}."  # the English message is the English text
        i18n.set_language("ja")
        shown = i18n.tr("nps.note", text=note)
        assert "no_such_attribute" in shown and re.search(r"[\u3040-\u30ff\u4e00-\u9fff]", shown)
        assert english_words(shown, UNITS | NAMES) == [], shown
    finally:
        i18n.set_language("en")
