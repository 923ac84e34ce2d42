"""Reliability of scheduled runs: one aggregation per run (cache), pseudonymisation, the publishing lock,
determinism, pruning, run folders that cannot escape reports/, changes since the previous run, metrics schemas,
the table of contents and the definitions block."""
from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path

import pandas as pd
import pytest

import csanalysis as cs
from csanalysis.data import cache, pseudonym
from csanalysis.report import extras
from csanalysis.report import job, parameters, schedule, store
from csanalysis.report.run import ParameterError, run_report

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "cohort10"
SECRET_IDS = ["ACME-CORP-0001", "GLOBEX-0002", "INITECH-0003", "UMBRELLA-0004"]


@pytest.fixture()
def named(tmp_path: Path) -> Path:
    """Four customers with telling ids; UMBRELLA never pays, so a validation warning quotes its id."""
    d = tmp_path / "named"
    d.mkdir()
    pd.DataFrame({"customer_id": SECRET_IDS, "signup_date": ["2024-01-05", "2024-01-09", "2024-02-01", "2024-02-03"],
                  "plan": ["Basic", "Pro", "Basic", "Pro"]}).to_csv(d / "customers.csv", index=False)
    pd.DataFrame({"customer_id": [SECRET_IDS[i] for i in (0, 0, 0, 1, 1, 2, 2)],
                  "date": ["2024-01-05", "2024-02-05", "2024-03-05", "2024-01-09", "2024-02-09", "2024-02-01", "2024-03-01"],
                  "amount": [100, 100, 100, 50, 50, 70, 70]}).to_csv(d / "revenue.csv", index=False)
    return d


def _all_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


THREE = ["00_data_overview", "01_cohort_retention", "02_churn_survival"]


@pytest.fixture(scope="module")
def three(tmp_path_factory):
    """Reports 00, 01 and 02 of the fixture run one after another (jobs=1) into a reports folder of their own,
    read by the tests of the cache, determinism, two kernels at a time and the report's contents (each rendered
    its own before): ``(RunResult, reports folder)``."""
    out = tmp_path_factory.mktemp("three") / "reports"
    return run_report(THREE, data=FIX, as_of="2024-06-15", out=out), out


def test_one_aggregation_per_run_read_from_the_cache(three):
    res, out = three
    key = res.manifest["cache_key"]
    entry = out / ".cache" / key
    hits = (entry / "hits.log").read_text().split()
    assert len(hits) == 3 and len(set(hits)) == 3  # each notebook's kernel read the run's Dataset
    cached, fresh = cache.load(entry), cs.load_dataset(FIX, as_of="2024-06-15")
    # the cached tables are read when first used, not all on opening
    assert {"customers", "panel", "spells"} <= set(cached.pending())
    for name in ("customers", "panel", "spells"):
        pd.testing.assert_frame_equal(getattr(cached, name), getattr(fresh, name), check_dtype=False)
    assert not {"customers", "panel", "spells"} & set(cached.pending())
    assert cached.settings == fresh.settings and cached.date_ranges() == fresh.date_ranges()
    # a change of input or settings is a different key (no stale reuse)
    assert cache.cache_key(FIX, None, {"as_of": "2024-05-31"}) != cache.cache_key(FIX, None, {"as_of": "2024-06-15"})


def test_pseudonymised_run_leaks_no_identifier_and_no_key(named, tmp_path, monkeypatch):
    key = "test-secret-key-" + "9" * 20
    monkeypatch.setenv(pseudonym.KEY_ENV, key)
    out = tmp_path / "reports"
    plain = run_report(["00_data_overview"], data=named, as_of="2024-03-31", out=tmp_path / "plain")
    assert "UMBRELLA-0004" in _all_text(plain.folder)  # the warning quotes it when not pseudonymised
    res = run_report(["00_data_overview"], data=named, as_of="2024-03-31", out=out, pseudonymise=True)
    text = _all_text(out)  # HTML, CSV, executed notebook, manifest, metrics and the run cache
    for cid in SECRET_IDS:
        assert cid not in text
    assert key not in text
    assert res.manifest["pseudonymised"] is True
    ps = pseudonym.pseudonymise_ids(SECRET_IDS, key.encode())
    assert list(ps) == list(pseudonym.pseudonymise_ids(SECRET_IDS, key.encode()))  # stable across runs
    assert list(ps) != list(pseudonym.pseudonymise_ids(SECRET_IDS, b"another key"))
    assert all(p[2:] != hashlib.sha256(c.encode()).hexdigest()[:12] for p, c in zip(ps, SECRET_IDS))  # not a plain hash
    cached = cache.load(out / ".cache" / res.manifest["cache_key"])
    assert set(cached.customers["customer_id"]) == set(ps) and cached.pseudonymised


def test_key_file_is_created_private_outside_the_reports(tmp_path, monkeypatch):
    monkeypatch.delenv(pseudonym.KEY_ENV, raising=False)
    monkeypatch.setenv(pseudonym.KEY_FILE_ENV, str(tmp_path / "keys" / "pseudonym.key"))
    k1 = pseudonym.pseudonym_key()
    path = tmp_path / "keys" / "pseudonym.key"
    assert path.stat().st_mode & 0o777 == 0o600 and len(k1) == 64
    assert pseudonym.pseudonym_key() == k1


def test_publishing_waits_for_the_lock(tmp_path):
    """While another run holds the lock, a finished run does not touch latest or the index."""
    out = tmp_path / "reports"
    first = run_report(["00_data_overview"], data=FIX, as_of="2024-06-15", out=out, run_id="20240101-000000-aaaa")
    result = {}
    with store.lock(out):
        t = threading.Thread(target=lambda: result.setdefault("r", run_report(
            ["00_data_overview"], data=FIX, as_of="2024-06-15", out=out, run_id="20240101-000001-bbbb")))
        t.start()
        deadline = time.time() + 120
        while time.time() < deadline and not (out / ".tmp-20240101-000001-bbbb" / "manifest.json").exists():
            time.sleep(0.2)
        time.sleep(1.0)
        assert (out / ".tmp-20240101-000001-bbbb" / "manifest.json").exists()  # rendered, waiting to publish
        assert (out / "latest").resolve().name == first.run_id
        assert "20240101-000001-bbbb" not in (out / "index.html").read_text()
    t.join(180)
    assert (out / "latest").resolve().name == "20240101-000001-bbbb"
    index = (out / "index.html").read_text()
    assert first.run_id in index and "20240101-000001-bbbb" in index


def test_concurrent_runs_both_publish_and_the_index_lists_both(tmp_path):
    out = tmp_path / "reports"
    errors, ids = [], ["20240202-000000-cccc", "20240202-000000-dddd"]

    def go(rid):
        try:
            run_report(["00_data_overview"], data=FIX, as_of="2024-06-15", out=out, run_id=rid)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    cwd = os.getcwd()
    threads = [threading.Thread(target=go, args=(r,)) for r in ids]
    [t.start() for t in threads]
    [t.join(300) for t in threads]
    # the runner never changes the process's working directory (papermill's cwd= did, and two runs in threads of one
    # process could leave it in notebooks/)
    assert os.getcwd() == cwd
    assert not errors
    index = (out / "index.html").read_text()
    assert all(r in index and (out / r / "manifest.json").is_file() for r in ids)
    assert (out / "latest").resolve().name in ids and not list(out.glob(".tmp-*"))


def test_same_inputs_give_identical_metrics(three, tmp_path):
    """Report 02 run again, alone, into another reports folder: the same metrics.json, byte for byte."""
    a = three[0]
    b = run_report(["02_churn_survival"], data=FIX, as_of="2024-06-15", out=tmp_path / "b")
    name = "02_churn_survival/metrics.json"
    assert (a.folder / name).read_bytes() == (b.folder / name).read_bytes()


def test_notebooks_run_two_at_a_time_give_the_same_reports(three, tmp_path):
    names = THREE
    a = three[0]
    b = run_report(names, data=FIX, as_of="2024-06-15", out=tmp_path / "b", jobs=2)
    assert [a.notebooks[n]["status"] for n in names] == ["succeeded"] * 3
    assert [b.notebooks[n]["status"] for n in names] == ["succeeded"] * 3
    for n in names:
        assert (a.folder / n / "metrics.json").read_bytes() == (b.folder / n / "metrics.json").read_bytes()
        assert (b.folder / n / f"{n}.html").is_file()


def test_keep_prunes_old_runs_but_never_latest(tmp_path):
    out = tmp_path / "reports"
    for i in range(3):
        run_report(["00_data_overview"], data=FIX, as_of="2024-06-15", out=out, run_id=f"2024030{i}-000000-eeee",
                   keep=2)
    left = sorted(p.name for p in store.runs(out))
    assert left == ["20240301-000000-eeee", "20240302-000000-eeee"]
    assert (out / "latest").resolve().name == "20240302-000000-eeee"


@pytest.mark.parametrize("rid", ["../escape", "..", "a/b", "/tmp/x", "x y"])
def test_run_folder_cannot_escape_reports(tmp_path, rid):
    with pytest.raises(ParameterError):
        run_report(["00_data_overview"], data=FIX, as_of="2024-06-15", out=tmp_path / "r", run_id=rid)
    assert not (tmp_path / "escape").exists() and not (tmp_path / "r" / "..escape").exists()


def test_bad_jobs_is_refused_before_any_data_is_read(tmp_path):
    """--jobs 0 is a parameter error, raised before the data source is opened (it does not exist here)."""
    with pytest.raises(ParameterError, match="--jobs 0"):
        run_report(["00_data_overview"], data=tmp_path / "no-such-folder", out=tmp_path / "r", jobs=0)
    assert not (tmp_path / "r").exists()


def test_changes_since_previous_run(tmp_path):
    prev = {"nps": {"estimate": 20.0, "lower": 15.0, "upper": 25.0}, "churn": {"estimate": 0.02, "lower": 0.019, "upper": 0.021}}
    cur = {"nps": {"estimate": 24.0, "lower": 19.0, "upper": 29.0}, "churn": {"estimate": 0.03, "lower": 0.029, "upper": 0.031},
           "new_only": {"estimate": 1, "lower": 0, "upper": 2}}
    rows = {r["metric"]: r for r in extras.changes(prev, cur)}
    assert set(rows) == {"nps", "churn"}
    se = ((10 / 3.919927969) ** 2 * 2) ** 0.5  # each SE = width / (2·1.96)
    assert rows["nps"]["change"] == pytest.approx(4) and rows["nps"]["lower"] == pytest.approx(4 - 1.959964 * se, abs=1e-4)
    assert rows["nps"]["exploratory"] and not rows["churn"]["exploratory"]
    # in a real second run the report shows the section and writes changes.json
    out = tmp_path / "reports"
    run_report(["02_churn_survival"], data=FIX, as_of="2024-05-31", out=out, run_id="20240531-000000-ffff")
    res = run_report(["02_churn_survival"], data=FIX, as_of="2024-06-15", out=out, run_id="20240615-000000-ffff")
    ch = json.loads((res.folder / "02_churn_survival" / "changes.json").read_text())
    assert ch["previous_run"] == "20240531-000000-ffff" and ch["changes"]
    html = (res.folder / "02_churn_survival" / "02_churn_survival.html").read_text()
    assert "Changes since the previous run" in html and "20240531-000000-ffff" in html


def test_metrics_schema_rejects_missing_keys_and_inverted_intervals():
    ok = {"as_of": "2024-06-15", "headline": [{"label": "x", "value": "1"}], "segment": "plan",
          "s12_overall": {"estimate": 0.8, "lower": 0.7, "upper": 0.9}, "s12_by_segment": {},
          "median_lifetime_months": {"estimate": None, "lower": None, "upper": None, "reason": "not reached"},
          "logrank": {"p_value": 0.3}, "ltv": {}}
    extras.check_metrics("02_churn_survival", ok)
    with pytest.raises(extras.MetricsSchemaError, match="s12_overall"):
        extras.check_metrics("02_churn_survival", {k: v for k, v in ok.items() if k != "s12_overall"})
    with pytest.raises(extras.MetricsSchemaError, match="does not contain the estimate"):
        extras.check_metrics("02_churn_survival", {**ok, "s12_overall": {"estimate": 0.95, "lower": 0.7, "upper": 0.9}})
    with pytest.raises(extras.MetricsSchemaError, match="without a reason"):
        extras.check_metrics("02_churn_survival", {**ok, "median_lifetime_months": {"estimate": None, "lower": None, "upper": None}})


def test_every_notebook_has_a_metrics_schema():
    for nb in parameters.discover(None):
        assert (extras.SCHEMAS / f"{nb.stem}.json").is_file(), nb.stem


def test_report_has_contents_and_definitions_block(three):
    res = three[0]
    html = (res.folder / "02_churn_survival" / "02_churn_survival.html").read_text()
    assert 'class="cs-toc"' in html and "Definitions and reconciliation" in html
    assert html.index('class="cs-toc"') < html.index("cs-definitions")
    assert "in the first month without payment" in html and "2024-06-15" in html  # grace 0: the definition in force


def test_every_kernel_gets_one_blas_thread_and_the_users_limits_are_kept(monkeypatch):
    """The kernels' BLAS/OpenMP threads are one each for any --jobs (the same sums in the same order, and no
    spin-waiting when kernels share the cores); limits the user set are kept. They are the kernel's environment:
    a kernel started by the runner's kernel manager has them, the runner's own environment does not."""
    import nbformat
    from nbclient import NotebookClient

    for k in job.THREAD_ENV:
        monkeypatch.delenv(k, raising=False)
    assert job.thread_limits() == {k: "1" for k in job.THREAD_ENV}
    assert job.thread_limits({"OMP_NUM_THREADS": "4"}) == {"OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    monkeypatch.setenv("MKL_NUM_THREADS", "3")  # the user's own limit
    probe = "import os; print([os.environ.get(k) for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS', 'MKL_NUM_THREADS')])"
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(probe)])
    NotebookClient(nb, kernel_name=job.KERNEL, kernel_manager_class=job.kernel_manager("probe")).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == "['1', '1', '3']"
    assert "OMP_NUM_THREADS" not in os.environ and "OPENBLAS_NUM_THREADS" not in os.environ


def test_results_do_not_depend_on_jobs(tmp_path, monkeypatch):
    """--jobs 1 and --jobs 2 give byte-identical churn-risk metrics and signal importance (the last digits moved
    with the BLAS thread count before)."""
    from csanalysis.data import synth

    for k in job.THREAD_ENV:
        monkeypatch.delenv(k, raising=False)
    synth.write_demo(tmp_path / "d", n_customers=1500, months=30, seed=3)
    out = {}
    for jobs in (1, 2):
        res = run_report(["00", "04"], data=tmp_path / "d", out=tmp_path / f"r{jobs}", jobs=jobs)
        nb = res.folder / "04_churn_risk"
        metrics = json.loads((nb / "metrics.json").read_text())
        out[jobs] = (metrics, (nb / "signal_importance.csv").read_bytes())
    assert out[1] == out[2]


def test_thread_limits_do_not_outlive_the_run(tmp_path, monkeypatch):
    for k in job.THREAD_ENV:
        monkeypatch.delenv(k, raising=False)
    run_report(["00_data_overview"], data=FIX, as_of="2024-06-15", out=tmp_path / "r", jobs=2)
    assert not any(k in os.environ for k in job.THREAD_ENV)


def test_cache_save_keeps_pending_tables_pending(tmp_path):
    """Saving builds each pending table for writing only (the runner never holds them all at once)."""
    ds = cs.load_dataset(FIX, as_of="2024-06-15")
    before = set(ds.pending())
    assert {"panel", "spells", "customers"} <= before
    again = cache.load(cache.save(ds, tmp_path / "c"))
    assert set(ds.pending()) == before
    for name in ("customers", "panel", "spells", "usage", "payments"):
        a, b = getattr(again, name), getattr(ds, name)
        assert (a is None) == (b is None), name
        if b is not None:
            pd.testing.assert_frame_equal(a, b, check_dtype=False)


def test_parallel_runs_start_the_longest_notebooks_first(tmp_path):
    """With several notebooks at a time, the runner starts them longest first, by the latest published run's
    times; notebooks that run had no time for go first, in name order; without a previous run, the bundled
    notebooks take their typical times and others keep name order ahead of them."""
    bundled = sorted((Path(__file__).resolve().parents[2] / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    assert {p.stem for p in bundled} == set(schedule.TYPICAL_SECONDS)  # a new bundled notebook needs its typical time
    first = [p.stem for p in schedule.longest_first([Path("notebooks/99_mine.ipynb"), *bundled], tmp_path)]
    assert first[:3] == ["99_mine", "07_lifecycle", "04_churn_risk"] and first[-1] == "00_data_overview"
    assert first[1:] == sorted(schedule.TYPICAL_SECONDS, key=lambda k: -schedule.TYPICAL_SECONDS[k])
    paths = [Path(f"notebooks/{n}.ipynb") for n in ("00_a", "01_b", "02_c", "03_d", "04_e")]
    assert schedule.longest_first(paths, tmp_path) == paths  # no previous run, no typical times
    run = tmp_path / "r1"
    run.mkdir()
    (run / "manifest.json").write_text(json.dumps({"notebooks": {
        "00_a": {"seconds": 8.6}, "01_b": {"seconds": 20.5}, "02_c": {"seconds": 31.6}, "04_e": {"seconds": 48.5},
        "05_gone": {"seconds": 99.0}}}), encoding="utf-8")
    (tmp_path / "latest").symlink_to("r1", target_is_directory=True)
    names = [p.stem for p in schedule.longest_first(paths, tmp_path)]
    assert names == ["03_d", "04_e", "02_c", "01_b", "00_a"]
    (run / "manifest.json").write_text("{not json", encoding="utf-8")
    assert schedule.longest_first(paths, tmp_path) == paths
    assert [p.stem for p in schedule.longest_first(bundled, tmp_path)] == [p.stem for p in schedule.longest_first(bundled, tmp_path / "none")]


def test_runner_processes_skip_the_slow_iri_format_checker():
    """The runner and its worker processes import papermill → nbformat → jsonschema without the optional
    rfc3987-syntax IRI checker (2 s of grammar compilation per process); jsonschema still validates."""
    import subprocess
    import sys

    code = ("import sys, csanalysis.report.run as r, jsonschema; "
            "assert sys.modules['rfc3987_syntax'] is None; "
            "jsonschema.validate({'a': 1}, {'type': 'object', 'properties': {'a': {'type': 'integer'}}}); "
            "bad = list(jsonschema.Draft202012Validator({'type': 'integer'}).iter_errors('x')); assert len(bad) == 1")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
