"""Issue 18: the churn-risk list is kept in the archive (``<reports>/risk_lists``) when its run is published, never by
a failed run; a pseudonymised run's list is kept apart from a raw run's and never followed up by the other kind."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from csanalysis import health
from csanalysis.data import pseudonym
from csanalysis.report import keep_on_publish
from csanalysis.report import parameters
from csanalysis.report.outputs import PUBLISH_COPIES, publish_copies
from csanalysis.report.run import NotebookFailed, run_report

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
NB = "04_churn_risk"


def test_archive_written_at_publish_only_and_apart_for_pseudonyms(tmp_path, monkeypatch):
    monkeypatch.setenv(pseudonym.KEY_ENV, "k" * 32)
    out = tmp_path / "reports"
    kept = out / "risk_lists"
    first = run_report([NB], data=DEMO, out=out, params={"scoring_date": "2024-06-30", "capacity": 4})
    archived = kept / "risk_list_2024-06-30.csv"
    assert archived.read_bytes() == (first.folder / NB / "risk_list.csv").read_bytes()
    assert not list(first.folder.rglob(PUBLISH_COPIES))  # the request is not part of the published run
    before = archived.read_bytes()

    # a run that fails after notebook 04 (a later notebook raises) keeps nothing, though its list differs
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "00_data_overview.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('boom after the risk list')"))
    nbformat.write(nb, nbdir / "09_boom.ipynb")
    (nbdir / f"{NB}.ipynb").write_bytes((ROOT / "notebooks" / f"{NB}.ipynb").read_bytes())
    monkeypatch.setattr(parameters, "notebooks_dir", lambda: nbdir)
    with pytest.raises(NotebookFailed, match="boom after the risk list"):
        run_report(data=DEMO, out=out, params={"scoring_date": "2024-06-30", "capacity": 9})
    failed = next((out / "failed").iterdir())
    assert (failed / NB / "risk_list.csv").read_bytes() != before  # 04 ran and wrote another list in its run folder
    assert archived.read_bytes() == before and sorted(p.name for p in kept.iterdir()) == [archived.name]
    monkeypatch.undo()
    monkeypatch.setenv(pseudonym.KEY_ENV, "k" * 32)

    # a pseudonymised run keeps its list apart and does not follow up the raw list of an earlier date
    pseudo = run_report([NB], data=DEMO, out=out, pseudonymise=True, params={"scoring_date": "2024-09-30", "capacity": 4})
    m = json.loads((pseudo.folder / NB / "metrics.json").read_text())
    assert m.get("follow_up") is None and m["list"]["new_on_list"] is None
    p_list = kept / "risk_list_2024-09-30_pseudonymised.csv"
    assert p_list.read_bytes() == (pseudo.folder / NB / "risk_list.csv").read_bytes()
    assert pseudonym.looks_pseudonymised(pd.read_csv(p_list, dtype={"customer_id": str})["customer_id"])
    assert archived.read_bytes() == before and not (kept / "risk_list_2024-09-30.csv").exists()


def test_latest_archived_and_read_list_never_mix_raw_and_pseudonymised(tmp_path, monkeypatch):
    monkeypatch.setenv(pseudonym.KEY_ENV, "k" * 32)
    raw = pd.DataFrame({"customer_id": ["C1", "C2"], "on_list": [1, 0], "scoring_date": ["2024-01-31"] * 2,
                        "churn_probability": [0.3, 0.1], "horizon_months": [3, 3]})
    hidden = raw.assign(customer_id=pseudonym.pseudonymise_ids(raw["customer_id"]))
    health.archive_list(raw, tmp_path)
    health.archive_list(hidden.assign(scoring_date="2024-02-29"), tmp_path, pseudonymised=True)
    assert health.latest_archived(tmp_path, "2024-06-30").name == "risk_list_2024-01-31.csv"
    assert health.latest_archived(tmp_path, "2024-06-30", pseudonymised=True).name == "risk_list_2024-02-29_pseudonymised.csv"
    assert health.latest_archived(tmp_path, "2024-02-15", pseudonymised=True) is None
    raw_path, hidden_path = tmp_path / "risk_list_2024-01-31.csv", tmp_path / "risk_list_2024-02-29_pseudonymised.csv"
    assert health.read_list(raw_path, pseudonymised=False)["customer_id"].tolist() == ["C1", "C2"]
    assert len(health.read_list(hidden_path, pseudonymised=True)) == 2
    with pytest.raises(ValueError, match="holds raw ids.*pseudonymised"):
        health.read_list(raw_path, pseudonymised=True)
    with pytest.raises(ValueError, match="holds pseudonymised ids.*raw"):
        health.read_list(hidden_path, pseudonymised=False)


def test_keep_on_publish_copies_only_when_asked_to_publish(tmp_path):
    run = tmp_path / "run" / "nb"
    run.mkdir(parents=True)
    (run / "t.csv").write_text("a\n1\n")
    assert keep_on_publish(run, "t.csv", None) is None and not (run / PUBLISH_COPIES).exists()
    dest = tmp_path / "kept" / "x.csv"
    keep_on_publish(run, "t.csv", dest)
    keep_on_publish(run, "t.csv", dest)  # the notebook run again in the same folder: one copy
    assert not dest.exists()  # nothing leaves the run folder before it is published
    assert publish_copies(run) == [dest] and dest.read_text() == "a\n1\n"
    assert not (run / PUBLISH_COPIES).exists() and [p.name for p in dest.parent.iterdir()] == ["x.csv"]
    assert publish_copies(run) == []
