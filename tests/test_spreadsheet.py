"""CSV cells a spreadsheet would run are written as text (OWASP: a leading apostrophe), numbers stay numbers,
and a list written and read back keeps its values."""
from __future__ import annotations

import csv

import numpy as np
import pandas as pd

from csanalysis import health
from csanalysis.report import write_table
from csanalysis.spreadsheet import neutralise, restore

HOSTILE = ["=HYPERLINK(\"http://x\",\"click\")", "=1+1", "+1", "-2", "@SUM(1,1)", "\tx", "\rx", "'=already", "plain", "a=b"]


def _cells(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.reader(fh))


def test_text_cells_headers_and_index_are_neutralised_numbers_kept(tmp_path):
    df = pd.DataFrame({"customer_id": HOSTILE, "mrr": np.arange(10) - 5.0, "n": np.arange(10) - 3,
                       "=owner": ["@bob"] * 10})
    path = write_table(tmp_path, df.set_index("customer_id"), "t", index=True)
    rows = _cells(path)
    assert rows[0] == ["customer_id", "mrr", "n", "'=owner"]
    body = rows[1:]
    assert [r[0] for r in body] == ["'" + v for v in HOSTILE[:7]] + ["''=already", "plain", "a=b"]
    assert [r[1] for r in body] == [f"{v:.1f}" for v in np.arange(10) - 5.0]  # negative numbers are numbers
    assert [r[2] for r in body] == [str(v) for v in np.arange(10) - 3]
    assert {r[3] for r in body} == {"'@bob"}


def test_restore_undoes_neutralise_exactly():
    df = pd.DataFrame({"customer_id": HOSTILE, "x": range(10)})
    back = restore(neutralise(df))
    pd.testing.assert_frame_equal(back, df)


def test_archived_risk_list_reads_back_with_its_ids(tmp_path):
    lst = pd.DataFrame({"scoring_date": ["2024-06-30"] * 3, "customer_id": ["=1+1", "-7", "acme"], "on_list": [1, 0, 1],
                        "churn_probability": [0.3, 0.2, 0.1], "horizon_months": 3, "csm_owner": ["@x", "y", "+z"]})
    path = health.archive_list(lst, tmp_path)
    assert [r[1] for r in _cells(path)[1:]] == ["'=1+1", "'-7", "acme"]
    back = health.read_list(path)
    assert back["customer_id"].tolist() == ["=1+1", "-7", "acme"] and back["csm_owner"].tolist() == ["@x", "y", "+z"]
