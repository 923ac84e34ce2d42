"""A quiet command line: ``csanalysis report`` prints one progress line per notebook and the published paths;
the kernels' own output ("Kernel is running over TCP without encryption", "KeyboardInterrupt caught in kernel"),
papermill's and nbclient's logging go to ``run.log`` in the run's folder, and to the console only with
``--verbose``."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from csanalysis.report.runlog import LOG_NAME
from csanalysis.report.store import runs

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "data" / "demo"
KERNEL_TCP = "Kernel is running over TCP without encryption"
# what read like failures on the console before (kernel stderr, papermill's and nbconvert's logging)
NOISE = ("Kernel is running over TCP", "KeyboardInterrupt", "IPKernelApp", "WARNING", "ERROR", "Input Notebook",
         "Executing notebook", "Alternative text is missing", "Traceback", "Warning:")


def _cli(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    env.pop("PYTHONWARNINGS", None)  # the default warning filters, as a user has them
    return subprocess.run([sys.executable, "-m", "csanalysis.cli", *args], capture_output=True, text=True, env=env,
                          cwd=cwd, timeout=900)


def test_report_prints_progress_and_paths_and_logs_the_rest_to_the_run_folder(tmp_path):
    out = tmp_path / "reports"
    r = _cli("report", "00", "05", "--data", str(DEMO), "--out", str(out), "--jobs", "2")
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr == ""  # nothing on the console but the lines below
    for word in NOISE:
        assert word not in r.stdout, word
    lines = r.stdout.splitlines()
    progress = [m for m in (re.fullmatch(r"\[(\d)/2\] ([#.]{20}) (\S+) … done in \d+ s", line) for line in lines) if m]
    assert [m[1] for m in progress] == ["1", "2"]  # one line per notebook, counting up
    assert [m[2] for m in progress] == ["#" * 10 + "." * 10, "#" * 20]  # the bar of the whole run
    assert sorted(m[3] for m in progress) == ["00_data_overview", "05_cs_impact"]
    run = runs(out)[0]
    assert f"published {run}" in lines
    for nb in ("00_data_overview", "05_cs_impact"):
        html = run / nb / f"{nb}.html"
        assert f"  {nb} → {html}" in lines and html.is_file()
    log = run / LOG_NAME
    assert f"  log → {log}" in lines
    assert len(lines) == 1 + 2 + 1 + 2 + 1  # start, two notebooks, published, two paths, log
    text = log.read_text(encoding="utf-8")
    # each kernel's own output, under the notebook's name; papermill's logging; the runner's
    for nb in ("00_data_overview", "05_cs_impact"):
        assert re.search(rf"INFO csanalysis\.kernel: {nb}: \[IPKernelApp\] WARNING \| {KERNEL_TCP}", text), nb
        assert f"INFO papermill: Input Notebook:  {ROOT / 'notebooks' / nb}.ipynb" in text
        assert re.search(rf"INFO csanalysis\.report: {nb}: succeeded in [\d.]+ s", text)


@pytest.fixture()
def small(tmp_path: Path) -> Path:
    """Three customers paying Jan–Apr 2024 (a notebook runs on it in a few seconds)."""
    d = tmp_path / "small"
    d.mkdir()
    pd.DataFrame({"customer_id": ["A", "B", "C"], "signup_date": ["2024-01-10", "2024-01-20", "2024-02-05"],
                  "plan": ["Basic", "Pro", "Basic"]}).to_csv(d / "customers.csv", index=False)
    pd.DataFrame({"customer_id": ["A", "A", "B", "B", "C", "C"],
                  "date": ["2024-01-10", "2024-02-10", "2024-01-20", "2024-02-20", "2024-02-05", "2024-03-05"],
                  "amount": [100, 100, 200, 200, 60, 60]}).to_csv(d / "revenue.csv", index=False)
    return d


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_verbose_shows_the_log_on_the_console_too(small, tmp_path, jobs):
    """In the runner (one notebook at a time) and from worker processes (two at once)."""
    out = tmp_path / "reports"
    r = _cli("report", "00", "01", "--data", str(small), "--as-of", "2024-04-30", "--out", str(out), "--jobs", jobs,
             "--verbose")
    assert r.returncode == 0, r.stdout + r.stderr
    for nb in ("00_data_overview", "01_cohort_retention"):
        assert re.search(rf"INFO csanalysis\.kernel: {nb}: \[IPKernelApp\] WARNING \| {KERNEL_TCP}", r.stderr), nb
        assert re.search(rf"^\[\d/2\] [#.]{{20}} {nb} … done in \d+ s$", r.stdout, re.M), nb
    assert "INFO papermill: Executing notebook with kernel: csanalysis" in r.stderr
    assert KERNEL_TCP not in r.stdout  # the progress lines stay apart from the log
    log = (runs(out)[0] / LOG_NAME).read_text(encoding="utf-8")
    assert KERNEL_TCP in log and "INFO papermill: Executing notebook with kernel: csanalysis" in log


@pytest.mark.parametrize("jobs", ["1", "2"])
def test_a_failed_run_says_so_on_one_line_and_keeps_its_log(small, tmp_path, jobs):
    """A notebook that fails: its progress line says FAILED, the error names the notebook, the cell and the log
    kept with the failed run, which holds the kernel's output (in the runner and in worker processes)."""
    nbdir = tmp_path / "project" / "notebooks"
    nbdir.mkdir(parents=True)
    nb = nbformat.read(ROOT / "notebooks" / "00_data_overview.ipynb", as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('boom in the last cell')"))
    nbformat.write(nb, nbdir / "00_data_overview.ipynb")
    nbformat.write(nbformat.read(ROOT / "notebooks" / "01_cohort_retention.ipynb", as_version=4),
                   nbdir / "01_cohort_retention.ipynb")
    # the command line with the runner finding the notebooks in nbdir
    code = ("import sys; from pathlib import Path; from csanalysis.report import parameters; "
            f"parameters.notebooks_dir = lambda: Path({str(nbdir)!r}); from csanalysis.cli import app; "
            "sys.argv = ['csanalysis'] + sys.argv[1:]; app()")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    r = subprocess.run([sys.executable, "-c", code, "report", "--data", str(tmp_path / "small"), "--as-of",
                        "2024-04-30", "--out", str(tmp_path / "reports"), "--jobs", jobs], capture_output=True,
                       text=True, env=env, timeout=600)
    assert r.returncode == 4, r.stdout + r.stderr
    assert re.search(r"^\[\d/2\] [#.]{20} 00_data_overview … FAILED in \d+ s$", r.stdout, re.M)
    failed = next((tmp_path / "reports" / "failed").iterdir())
    said = " ".join(r.stderr.split())
    assert "notebook 00_data_overview failed in cell" in said and "boom in the last cell" in said
    assert f"(its log: {failed / LOG_NAME})" in said
    assert KERNEL_TCP not in r.stdout + r.stderr
    assert KERNEL_TCP in (failed / LOG_NAME).read_text(encoding="utf-8")
