"""The optional tickets table: loaded, validated (errors name the file, table, column, values and rows), read by
the voice analysis, withheld in a pseudonymised Dataset."""
from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import csanalysis as cs
from csanalysis import voice
from csanalysis.data import DataValidationError
from csanalysis.data.pseudonym import pseudonymise_dataset

CUSTOMERS = "customer_id,signup_date,plan\nA,2024-01-01,Basic\nB,2024-01-01,Pro\nC,2024-01-01,Pro\n"
REVENUE = "".join(f"{c},2024-{m:02d}-01,100\n" for c in "ABC" for m in range(1, 13) if not (c == "B" and m > 5))
TICKETS = ("customer_id,date,text,category,channel\n"
           "A,2024-02-03,The invoice was wrong,billing,email\n"
           "B,2024-03-04,サポートの返信が遅い,support,chat\n"
           "C,2024-04-05,ＰＲＩＣＥ is too high,,phone\n")


def _folder(tmp_path: Path, tickets: str = TICKETS) -> Path:
    d = tmp_path / "src"
    d.mkdir(exist_ok=True)
    (d / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (d / "revenue.csv").write_text("customer_id,date,amount\n" + REVENUE, encoding="utf-8")
    (d / "tickets.csv").write_text(tickets, encoding="utf-8")
    return d


def test_tickets_are_loaded_and_read(tmp_path):
    ds = cs.load_dataset(_folder(tmp_path), as_of="2024-12-31")
    assert ds.has("tickets") and len(ds.tickets) == 3
    t = voice.voice_texts(ds)
    assert t["source"].tolist() == ["ticket"] * 3 and t["ticket_category"].tolist()[:2] == ["billing", "support"]
    res = voice.voice(ds, segment=None, min_count=1)
    themes = res.texts.set_index("customer_id")[["contract_billing", "support", "price"]]
    assert themes.loc["A", "contract_billing"] and themes.loc["B", "support"] and themes.loc["C", "price"]
    # B stopped paying after May: its ticket in March is followed by a churn within six months
    assert res.texts.set_index("customer_id").loc["B", "churned"] == 1.0
    assert res.texts.set_index("customer_id").loc["A", "churned"] == 0.0


def test_tickets_of_unknown_customers_are_errors(tmp_path):
    d = _folder(tmp_path, TICKETS + "Z,2024-05-01,who am I,,\n")
    with pytest.raises(DataValidationError) as e:
        cs.load_dataset(d, as_of="2024-12-31")
    (f,) = [f for f in e.value.report.errors if f.table == "tickets"]
    assert f.column == "customer_id" and f.n_rows == 1 and "Z" in f.examples and "tickets.csv" in str(f.file)


def test_tickets_without_text_column_are_errors(tmp_path):
    d = _folder(tmp_path, "customer_id,date,body\nA,2024-02-03,hello\n")
    with pytest.raises(DataValidationError) as e:
        cs.load_dataset(d, as_of="2024-12-31")
    msgs = [f for f in e.value.report.errors if f.table == "tickets"]
    assert msgs and any("text" in (f.column or "") + f.message for f in msgs), [f.message for f in msgs]


def test_tickets_bad_dates_are_errors(tmp_path):
    d = _folder(tmp_path, TICKETS + "A,not a date,hello,,\n")
    with pytest.raises(DataValidationError) as e:
        cs.load_dataset(d, as_of="2024-12-31")
    (f,) = [f for f in e.value.report.errors if f.table == "tickets"]
    assert f.column == "date" and f.n_rows == 1 and "not a date" in f.examples


def test_pseudonymised_dataset_withholds_ticket_text(tmp_path, monkeypatch):
    monkeypatch.setenv("CSANALYSIS_PSEUDONYM_KEY", "test-key")
    ds = pseudonymise_dataset(cs.load_dataset(_folder(tmp_path), as_of="2024-12-31"))
    assert ds.tickets["text"].isna().all() and ds.tickets["customer_id"].str.startswith("P-").all()
    res = voice.voice(ds, segment=None)
    assert not res.available and res.withheld and res.reason == "withheld"
    assert res.metrics()["voice"]["reason"] == "free text is withheld in a pseudonymised run"


def test_snapshot_reads_themes_but_not_later_churn(tmp_path):
    d = tmp_path / "snap"
    d.mkdir()
    (d / "snapshot.csv").write_text("customer_id,tenure_months,churned,plan\nA,5,0,Basic\nB,3,1,Pro\nC,8,0,Pro\n",
                                    encoding="utf-8")
    (d / "tickets.csv").write_text(TICKETS, encoding="utf-8")
    (d / "csanalysis.yaml").write_text("layout: snapshot\nsettings:\n  as_of: 2024-06-30\n", encoding="utf-8")
    ds = cs.load_dataset(d)
    res = voice.voice(ds, segment="plan", min_count=1)
    assert res.available and not res.churn_available and res.churn_reason == "history"
    assert res.associations.empty and res.counts()["tickets"] == 3
    assert set(res.prevalence_segment["group"]) == {"Basic", "Pro"}
    m = res.metrics()["voice"]
    assert m["themes"]["price"]["churn_risk_ratio"]["estimate"] is None
    assert "no monthly history" in m["themes"]["price"]["churn_risk_ratio"]["reason"]
    assert m["n_significant_churn_themes"] is None


def test_example_ids_pseudonymised_on_request(tmp_path, monkeypatch):
    monkeypatch.setenv("CSANALYSIS_PSEUDONYM_KEY", "test-key")
    from csanalysis.data.pseudonym import pseudonymise_ids

    res = voice.voice(cs.load_dataset(_folder(tmp_path), as_of="2024-12-31"), segment=None)
    raw, hidden = res.example_rows(), res.example_rows(pseudonymise=True)
    assert set(raw["customer_id"]) <= {"A", "B", "C"} and len(raw)
    assert hidden["customer_id"].tolist() == list(pseudonymise_ids(raw["customer_id"].to_numpy()))
    assert hidden["text"].tolist() == raw["text"].tolist()
