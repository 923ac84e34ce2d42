"""The notebooks are committed as sources only: no outputs, no execution counts (so a review's diff is the cells'
source, README "Layout"), and each opens with its code cell tagged ``parameters`` (papermill's injection point)."""
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_there_are_notebooks():
    assert len(NOTEBOOKS) >= 7, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    with_outputs = [i for i, c in enumerate(nb.cells) if c.cell_type == "code" and (c.outputs or c.execution_count)]
    assert not with_outputs, f"{path.name}: cells {with_outputs} carry outputs or execution counts (clear them)"
    assert "parameters" in code[0].metadata.get("tags", []), f"{path.name}: the first code cell is not tagged parameters"
