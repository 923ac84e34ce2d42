"""A kernel that dies before it starts (ZMQ "Address already in use" when kernels start side by side) is started
again; a notebook whose kernel started and then failed is not re-run (csanalysis.report.job)."""
from __future__ import annotations

import logging

import pytest

from csanalysis.report import job as job_mod

NEVER = "Kernel died before replying to kernel_info"


class FakePapermill:
    """Stands for papermill: raises the given exceptions on the first calls, then succeeds."""

    def __init__(self, failures):
        self.failures, self.calls = list(failures), 0

    def execute_notebook(self, *args, **kw):
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)


def _job(tmp_path):
    nb = tmp_path / "00_x.ipynb"
    nb.write_text("{}", encoding="utf-8")
    return job_mod.NotebookJob(path=nb, folder=tmp_path, parameters={}, timeout=60, lang="en", definitions="",
                               previous=None, footer="")


@pytest.mark.parametrize("deaths", [1, job_mod.KERNEL_STARTS - 1])
def test_a_kernel_that_died_before_starting_is_started_again(tmp_path, monkeypatch, caplog, deaths):
    fake = FakePapermill([RuntimeError(NEVER)] * deaths)
    monkeypatch.setattr(job_mod.pm, "execute_notebook", fake.execute_notebook)
    with caplog.at_level(logging.WARNING, logger="csanalysis.report"):
        _job(tmp_path)._execute([])
    assert fake.calls == deaths + 1
    assert sum("died before it started" in r.getMessage() for r in caplog.records) == deaths


def test_the_starts_are_bounded(tmp_path, monkeypatch):
    fake = FakePapermill([RuntimeError(NEVER)] * (job_mod.KERNEL_STARTS + 1))
    monkeypatch.setattr(job_mod.pm, "execute_notebook", fake.execute_notebook)
    result = _job(tmp_path).run()
    assert fake.calls == job_mod.KERNEL_STARTS
    assert result["status"] == "failed" and NEVER in result["error"]


@pytest.mark.parametrize("exc", [RuntimeError("Kernel died"),  # died while a cell ran: the notebook's failure
                                 ValueError(NEVER)])
def test_other_failures_are_not_retried(tmp_path, monkeypatch, exc):
    fake = FakePapermill([exc])
    monkeypatch.setattr(job_mod.pm, "execute_notebook", fake.execute_notebook)
    result = _job(tmp_path).run()
    assert fake.calls == 1 and result["status"] == "failed"
