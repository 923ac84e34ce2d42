"""The report runner: papermill in the project kernel, stakeholder HTML, safe publishing, exit codes."""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from csanalysis.data import DataValidationError
from csanalysis.report import parameters, store
from csanalysis.report.run import NotebookFailed, ParameterError, run_report

ROOT = Path(__file__).resolve().parents[2]
CLI = str(Path(sys.executable).with_name("csanalysis"))
EVIL = "<script>alert(1)</script>"


@pytest.fixture()
def tiny(tmp_path: Path) -> Path:
    """Four customers, one with a hostile plan name; revenue Jan–Apr 2024."""
    d = tmp_path / "tiny"
    d.mkdir()
    pd.DataFrame({
        "customer_id": ["A", "B", "C", "D"],
        "signup_date": ["2024-01-10", "2024-01-20", "2023-06-01", "2024-02-05"],
        "plan": ["Basic", "Pro", EVIL, "Basic"],
    }).to_csv(d / "customers.csv", index=False)
    pd.DataFrame({
        "customer_id": ["A", "A", "A", "B", "C", "C", "D", "D"],
        "date": ["2024-01-10", "2024-02-10", "2024-03-10", "2024-01-20", "2024-01-01", "2024-02-01", "2024-02-05", "2024-04-05"],
        "amount": [100, 100, 150, 1200, 80, 80, 60, 60],
        "period_start": ["", "", "", "2024-01-20", "", "", "", ""],
        "period_end": ["", "", "", "2025-01-19", "", "", "", ""],
    }).to_csv(d / "revenue.csv", index=False)
    return d


def test_run_publishes_html_metrics_index_and_latest(tiny, tmp_path):
    out = tmp_path / "reports"
    res = run_report(["00_data_overview"], data=tiny, as_of="2024-04-30", out=out)
    folder = out / res.run_id / "00_data_overview"
    metrics = json.loads((folder / "metrics.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in JSON"))
    assert metrics["as_of"] == "2024-04-30"  # the parameter reached the notebook
    assert metrics["customers"] == 4 and metrics["paying_customers_as_of"] == 2  # B (annual) and D (reactivated)
    assert metrics["mrr_as_of"] == pytest.approx(160.0)  # 100 (B's 1,200 over 12 months) + 60 (D)
    html = (folder / "00_data_overview.html").read_text()
    assert "load_dataset" not in html and "import " not in html  # no code for stakeholders
    assert not re.search(r"<script[^>]*\ssrc=", html)  # self-contained: no script loaded from anywhere
    assert not re.search(r"<(?:link|img|iframe)[^>]*\s(?:src|href)=[\"']https?://", html)
    assert EVIL not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html.replace("\\", "")
    assert (out / "latest").resolve() == (out / res.run_id).resolve()
    index = (out / "index.html").read_text()
    assert res.run_id in index and "00_data_overview.html" in index
    manifest = json.loads((out / res.run_id / "manifest.json").read_text())
    assert manifest["status"] == "succeeded" and manifest["notebooks"]["00_data_overview"]["status"] == "succeeded"
    assert manifest["data_fingerprint"] and manifest["as_of"] == "2024-04-30"
    assert not list(out.glob(".tmp-*"))


def test_unknown_or_mistyped_parameter_refused_before_running(tiny, tmp_path):
    out = tmp_path / "reports"
    with pytest.raises(ParameterError, match="unknown parameter.*nope"):
        run_report(["00"], data=tiny, params={"nope": 1}, out=out)
    with pytest.raises(ParameterError, match="output_dir"):
        run_report(["00"], data=tiny, params={"output_dir": "/etc"}, out=out)
    with pytest.raises(ParameterError, match="does not exist"):
        run_report(["99_missing"], data=tiny, out=out)
    assert not out.exists() or not any(out.iterdir())


def test_bad_data_fails_before_any_notebook(tmp_path):
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "customers.csv").write_text("customer_id,signup_date\nA,2024-01-01\n")
    (bad / "revenue.csv").write_text("customer_id,date,amount\nA,not a date,10\n")
    with pytest.raises(DataValidationError) as err:
        run_report(data=bad, out=tmp_path / "reports")
    assert any(f.column == "date" and f.n_rows == 1 for f in err.value.report.errors)
    assert not (tmp_path / "reports").exists()


@pytest.mark.parametrize("jobs", [1, 2])
def test_failing_notebook_publishes_nothing_and_keeps_latest(tiny, tmp_path, monkeypatch, jobs):
    """One notebook at a time, and two at once in worker processes: a failure publishes nothing."""
    out = tmp_path / "reports"
    good = run_report(["00"], data=tiny, as_of="2024-04-30", out=out)
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    nb = nbformat.read(ROOT / "notebooks" / "00_data_overview.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('boom in the last cell')"))
    nbformat.write(nb, nbdir / "00_data_overview.ipynb")
    shutil.copy(ROOT / "notebooks" / "01_cohort_retention.ipynb", nbdir)
    monkeypatch.setattr(parameters, "notebooks_dir", lambda: nbdir)
    with pytest.raises(NotebookFailed, match="boom in the last cell"):
        run_report(data=tiny, as_of="2024-04-30", out=out, jobs=jobs)
    assert (out / "latest").resolve() == (out / good.run_id).resolve()
    assert [p.name for p in store.runs(out)] == [good.run_id]
    failed = list((out / "failed").iterdir())
    assert len(failed) == 1 and (failed[0] / "00_data_overview" / "00_data_overview.ipynb").is_file()
    assert not list(out.glob(".tmp-*"))


def test_cli_exit_codes(tiny, tmp_path):
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    r = subprocess.run([CLI, "report", "--data", str(tiny), "--out", str(tmp_path / "r"), "--param", "nope=1"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "nope" in r.stderr
    (tiny / "revenue.csv").write_text("customer_id,date,amount\nZ,2024-01-01,10\n")
    r = subprocess.run([CLI, "validate", "--data", str(tiny)], capture_output=True, text=True, env=env)
    assert r.returncode == 3 and "customer_id" in r.stderr and "1 row" in r.stderr


def test_every_notebook_declares_runner_parameters_papermill_can_read():
    """papermill silently ignores parameters it cannot parse (e.g. `str | None`): every assignment must parse."""
    for path in parameters.discover():
        nb = nbformat.read(path, as_version=4)
        cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
        assigned = [ln.split(":")[0].split("=")[0].strip() for ln in cell.source.splitlines()
                    if ln and not ln.startswith(("#", "from ", "import ")) and "=" in ln]
        inspected = parameters.parameters_of(path)
        assert list(inspected) == assigned, path.name
        assert set(parameters.RUNNER_PARAMS) <= set(inspected), path.name
        assert all(p["help"] for p in inspected.values()), f"{path.name}: every parameter needs a description"


def test_params_file_example_in_the_readme_is_accepted_by_every_notebook():
    import yaml

    params = yaml.safe_load((ROOT / "examples" / "monthly_by_touch_model.yaml").read_text())
    typed = parameters.check_parameters(parameters.discover(), params)
    by_name = {p.stem: v for p, v in typed.items()}
    assert by_name["02_churn_survival"]["segment"] == "touch_model"
    assert by_name["04_churn_risk"] == {"horizon_months": 3, "capacity": 25, "capacity_by": "team"}
    assert "examples/monthly_by_touch_model.yaml" in (ROOT / "README.md").read_text()


def test_an_edited_file_with_its_timestamp_restored_is_not_read_from_the_cache(tiny, tmp_path):
    """The cache is keyed on the files' content: an edit of the same size whose modification time is put back (as
    cp -p, tar and rsync -a do) gives a new key and the new numbers, and the manifest's fingerprint says so."""
    out = tmp_path / "reports"
    first = run_report(["00"], data=tiny, as_of="2024-04-30", out=out)
    rev = tiny / "revenue.csv"
    st = rev.stat()
    text = rev.read_text()
    assert "1200" in text
    rev.write_text(text.replace("1200", "9900"))  # same size
    os.utime(rev, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert rev.stat().st_size == st.st_size and rev.stat().st_mtime_ns == st.st_mtime_ns
    second = run_report(["00"], data=tiny, as_of="2024-04-30", out=out)
    assert second.manifest["cache_key"] != first.manifest["cache_key"]
    assert second.manifest["data_fingerprint"] != first.manifest["data_fingerprint"]
    recon = lambda res: json.loads((res.folder / "00_data_overview" / "metrics.json").read_text())  # noqa: E731
    assert recon(first) != recon(second)


def test_keep_below_one_and_an_unusable_out_are_refused_before_anything_runs(tiny, tmp_path):
    out = tmp_path / "reports"
    good = run_report(["00"], data=tiny, as_of="2024-04-30", out=out)
    for keep in (0, -1):
        with pytest.raises(ParameterError, match="--keep"):
            run_report(["00"], data=tiny, as_of="2024-04-30", out=out, keep=keep)
    assert store.runs(out) == [out / good.run_id]  # nothing was deleted
    afile = tmp_path / "a_file"
    afile.write_text("x")
    with pytest.raises(ParameterError, match="is a file"):
        run_report(["00"], data=tiny, out=afile)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        if os.access(locked, os.W_OK):  # root writes anyway: a folder under a file cannot be made by anyone
            locked = afile / "sub"
        with pytest.raises(ParameterError, match="cannot be written|is a file|cannot be made"):
            run_report(["00"], data=tiny, out=locked)
    finally:
        (tmp_path / "locked").chmod(0o700)
    r = subprocess.run([sys.executable, "-m", "csanalysis.cli", "report", "00", "--data", str(tiny), "--out", str(afile)],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr and "is a file" in r.stderr


def test_a_killed_runs_temporary_folder_is_cleaned_and_a_live_one_kept(tiny, tmp_path):
    import fcntl

    out = tmp_path / "reports"
    out.mkdir()
    dead = out / ".tmp-20240101-000000-dead"
    dead.mkdir()
    (dead / store.RUNNING).write_text("")  # its lock died with its process
    live = out / ".tmp-20240101-000000-live"
    live.mkdir()
    young = out / ".tmp-20240101-000000-young"  # just made: its run is about to take the lock
    young.mkdir()
    (young / store.RUNNING).write_text("")
    old = time.time() - 3600
    for d in (dead, live):
        os.utime(d, (old, old))
    fh = open(live / store.RUNNING, "w")
    fcntl.flock(fh, fcntl.LOCK_EX)  # a run still writing
    try:
        run_report(["00"], data=tiny, as_of="2024-04-30", out=out)
        assert not dead.exists() and live.exists() and young.exists()
    finally:
        fh.close()
    assert not (out / "latest" / store.RUNNING).exists()  # the published run carries no lock file


def test_index_and_latest_agree_on_the_newest_of_two_runs_in_the_same_second(tiny, tmp_path):
    out = tmp_path / "reports"
    run_report(["00"], data=tiny, as_of="2024-04-30", out=out, run_id="20240101-000000-ffff")
    second = run_report(["00"], data=tiny, as_of="2024-04-30", out=out, run_id="20240101-000000-0000")
    assert (out / "latest").resolve() == second.folder.resolve()
    assert store.runs(out)[0].name == second.run_id
    page = (out / "index.html").read_text(encoding="utf-8")
    assert page.index("20240101-000000-0000") < page.index("20240101-000000-ffff")
