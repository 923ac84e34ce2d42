"""The report suite's floor (benchmarks/floor.py): each floor notebook takes the real notebook's parameters and
metadata, so the runner runs it as it runs the real one, and it reads the run's cache and nothing more."""
from __future__ import annotations

import nbformat

from benchmarks import floor
from csanalysis.report import parameters


def test_floor_notebooks_keep_each_real_notebooks_parameters_and_metadata(tmp_path):
    real = parameters.discover()
    assert len(real) == 9  # the default suite, 00..08
    written = floor.write_floor_notebooks(tmp_path, real)
    for path, fpath in zip(real, written):
        assert fpath.name == path.name
        assert parameters.parameters_of(fpath) == parameters.parameters_of(path)
        assert parameters.rules_of(fpath) == parameters.rules_of(path)
        assert parameters.title_of(fpath) == parameters.title_of(path)
        nb = nbformat.read(fpath, as_version=4)
        assert nb.metadata.kernelspec == nbformat.read(path, as_version=4).metadata.kernelspec
        code = nb.cells[1].source
        assert "cs.load_dataset(data, mapping=mapping, as_of=as_of, context=run_context)" in code
        assert all(f"'{t}'" in code for t in floor.READS) and "import matplotlib" not in code
