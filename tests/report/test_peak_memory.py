"""Each notebook's peak memory in the manifest (csanalysis/report/memory.py): the kernel's own high-water mark, right
when two notebooks run at once, and never one notebook's peak recorded for the other."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from csanalysis.report import memory, parameters
from csanalysis.report.run import run_report

ROOT = Path(__file__).resolve().parents[2]
BIG_MB = 400  # the array the big notebook fills with ones (MB = 2**20 bytes, as in the manifest)

pytestmark = pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="peak memory is read from /proc (Linux)")


@pytest.fixture()
def small_data(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    pd.DataFrame({"customer_id": ["A", "B", "C"], "signup_date": ["2024-01-10", "2024-01-20", "2023-06-01"],
                  "plan": ["Basic", "Pro", "Basic"]}).to_csv(d / "customers.csv", index=False)
    pd.DataFrame({"customer_id": ["A", "A", "A", "B", "C", "C"],
                  "date": ["2024-01-10", "2024-02-10", "2024-03-10", "2024-01-20", "2024-01-01", "2024-02-01"],
                  "amount": [100, 100, 150, 90, 80, 80]}).to_csv(d / "revenue.csv", index=False)
    return d


def _extra_cell(me: str, other: str, meeting: Path, mb: int) -> str:
    """A last cell that fills ``mb`` MB with ones, then waits until the other notebook has done the same: both
    kernels are alive, one holding the big array, when either is measured."""
    return (f"import time, pathlib\nimport numpy as np\n"
            f"block = np.ones({mb} * 2**20 // 8)\nassert block.sum() == block.size\n"
            f"meet = pathlib.Path({str(meeting)!r})\n(meet / {me!r}).touch()\n"
            f"t0 = time.time()\nwhile not (meet / {other!r}).exists():\n"
            f"    assert time.time() - t0 < 300, 'the other notebook never ran at the same time'\n"
            f"    time.sleep(0.1)\n")


def test_each_notebook_records_its_own_kernels_peak_with_two_at_once(small_data, tmp_path, monkeypatch):
    meeting = tmp_path / "meeting"
    meeting.mkdir()
    nbdir = tmp_path / "nbs"
    nbdir.mkdir()
    # the big array in 01, the small in 00: 01 starts first (longest first), so an order mixed up would show
    for name, mb, other in (("00_data_overview", 1, "01_cohort_retention"), ("01_cohort_retention", BIG_MB, "00_data_overview")):
        nb = nbformat.read(ROOT / "notebooks" / f"{name}.ipynb", as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(_extra_cell(name, other, meeting, mb)))
        nbformat.write(nb, nbdir / f"{name}.ipynb")
    monkeypatch.setattr(parameters, "notebooks_dir", lambda: nbdir)
    out = tmp_path / "reports"
    res = run_report(data=small_data, as_of="2024-04-30", out=out, jobs=2)
    manifest = json.loads((out / res.run_id / "manifest.json").read_text(encoding="utf-8"))
    small = manifest["notebooks"]["00_data_overview"]
    big = manifest["notebooks"]["01_cohort_retention"]
    assert small["status"] == big["status"] == "succeeded"
    assert big["peak_mb"] >= BIG_MB
    # the same kernel otherwise (imports, a tiny data set): the difference is the array, within a tenth
    assert 0.9 * BIG_MB <= big["peak_mb"] - small["peak_mb"] <= 1.5 * BIG_MB, (small["peak_mb"], big["peak_mb"])
    assert small["peak_mb"] < big["peak_mb"] - 0.9 * BIG_MB  # not swapped, not shared
    # the workers ran papermill and the HTML, not the arrays
    assert 0 < small["worker_peak_mb"] < big["peak_mb"] and 0 < big["worker_peak_mb"] < big["peak_mb"]
    runner = manifest["runner"]
    assert runner["load_seconds"] >= 0 and 0 < runner["load_peak_mb"] <= runner["peak_mb"]
    log = (out / res.run_id / "run.log").read_text(encoding="utf-8")
    assert f"01_cohort_retention: succeeded in {big['seconds']} s, kernel peak {big['peak_mb']} MB" in log


def test_kernel_peak_is_the_process_high_water_mark_and_its_live_children():
    """memory.kernel_peak_mb on a process that filled 300 MB and freed it, with a child holding 200 MB."""
    code = ("import subprocess, sys, numpy as np\n"
            "child = subprocess.Popen([sys.executable, '-c', 'import numpy as np, sys; b = np.ones(200 * 2**20 // 8); "
            "print(int(b.sum()), flush=True); sys.stdin.read()'], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)\n"
            "child.stdout.readline()\n"
            "b = np.ones(300 * 2**20 // 8); assert b.sum() == b.size; del b\n"
            "print('ready', flush=True); sys.stdin.read(); child.stdin.close(); child.wait()\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert p.stdout.readline().strip() == "ready"
        own = memory.process_peak_mb(p.pid)
        kids = memory.descendants(p.pid)
        assert len(kids) == 1 and 200 <= memory.process_peak_mb(kids[0]) < 300
        assert 300 <= own < 450  # the freed array still counts: a high-water mark
        assert memory.kernel_peak_mb(p.pid) == pytest.approx(own + memory.process_peak_mb(kids[0]), abs=0.2)
    finally:
        p.stdin.close()
        p.wait(30)
    time.sleep(0.1)
    assert memory.kernel_peak_mb(p.pid) is None  # ended: unmeasured, never a guess
