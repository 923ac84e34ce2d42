"""The report suite's floor (issue 21): what the runner and its kernels cost before any analysis.

For each notebook of the default suite, a floor notebook with the real notebook's metadata (kernel, title,
parameter rules) and its ``parameters`` cell as it is, then one cell that

* imports the package (``import csanalysis as cs`` and the report helpers it uses; no plotting library),
* reads the run's cached Dataset as the real notebooks do (``cs.load_dataset(data, mapping=mapping, as_of=as_of,
  context=run_context)``) and reads into pandas the tables every analysis reads, :data:`READS` (customers, the
  customer-month panel and the spells, from the cache's Parquet files; the optional tables, such as usage and NPS,
  only the notebooks that need them read),
* writes its title as the report's one heading and an empty ``metrics.json``,

and the runner renders it as it renders the real one (the definitions block, the footer, the HTML without code).
:func:`run_floor` runs them with the same runner (``run_report``, the same number of notebooks at once, a fresh
reports folder): the same kernels, the same load and cache, the same rendering, without the analyses. The one
difference in the runner: an empty ``metrics.json`` is not checked against the real notebook's schema
(:class:`FloorJob`).
"""
from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

import nbformat

READS = ("customers", "panel", "spells")  # the Dataset's tables each floor notebook reads into pandas

CELL = '''import csanalysis as cs
from csanalysis.report import heading, set_language, write_metrics

set_language(lang)
ds = cs.load_dataset(data, mapping=mapping, as_of=as_of, context=run_context)
rows = {{name: len(getattr(ds, name)) for name in {reads!r}}}  # read from the run's cache into pandas
heading({title!r}, level=1)
metrics_file = write_metrics(output_dir, {{}})
'''


def floor_notebook(path: Path) -> nbformat.NotebookNode:
    """The floor notebook of the notebook at ``path`` (see the module's doc)."""
    real = nbformat.read(path, as_version=4)
    params = next(c for c in real.cells if "parameters" in c.metadata.get("tags", []))
    title = real.metadata.get("csanalysis", {}).get("title")
    if not title:
        raise ValueError(f"{path.name} has no title (metadata csanalysis.title)")
    nb = nbformat.v4.new_notebook(metadata=real.metadata)
    first = nbformat.v4.new_code_cell(params.source, metadata={"tags": ["parameters"]})
    nb.cells = [first, nbformat.v4.new_code_cell(CELL.format(reads=READS, title=title))]
    return nb


def write_floor_notebooks(folder: Path, paths: list[Path]) -> list[Path]:
    """Write the floor notebook of each of ``paths`` into ``folder`` under the same name."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for path in paths:
        nbformat.write(floor_notebook(path), folder / path.name)
        written.append(folder / path.name)
    return written


def _job_class():
    from csanalysis.report.job import NotebookJob

    return NotebookJob


@dataclass(frozen=True)
class FloorJob(_job_class()):
    """The runner's job for a floor notebook: the same run, with its empty ``metrics.json`` not checked against
    the real notebook's schema (a worker process unpickles this class, so the difference holds there too)."""

    def run(self) -> dict:
        from csanalysis.report import extras

        with mock.patch.object(extras, "check_metrics", lambda notebook, metrics: None):
            return super().run()


def run_floor(data: Path, out: Path, jobs: int, timeout: int = 900):
    """Run the floor suite on ``data`` into the reports folder ``out`` with ``jobs`` notebooks at once: the floor
    notebooks of the default suite (:func:`csanalysis.report.parameters.discover`), written to a temporary
    folder, run by ``run_report`` (``timeout``: seconds a cell may run, as the suite's). Returns its
    ``RunResult``."""
    from csanalysis.report import parameters
    from csanalysis.report import run as runner

    with tempfile.TemporaryDirectory(prefix="csanalysis-floor-") as tmp:
        nbdir = Path(tmp)
        write_floor_notebooks(nbdir, parameters.discover())
        with mock.patch.object(parameters, "notebooks_dir", lambda: nbdir), \
                mock.patch.object(runner, "NotebookJob", FloorJob):
            return runner.run_report(data=data, out=out, jobs=jobs, timeout=timeout)


__all__ = ["READS", "floor_notebook", "write_floor_notebooks", "FloorJob", "run_floor"]
