"""Notebooks read as analyses in JupyterLab (a markdown note before each section, tagged ``analyst-note``), and the
stakeholder HTML leaves those notes out."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from csanalysis.report.html import ANALYST_NOTE, notebook_to_html

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


def test_html_leaves_the_analyst_notes_out_and_keeps_the_report(tmp_path):
    nb = nbformat.v4.new_notebook()
    note = nbformat.v4.new_markdown_cell("# A note for analysts\n\nThe secret word is zanzibar.")
    note.metadata["tags"] = [ANALYST_NOTE]
    code = nbformat.v4.new_code_cell("x")
    code.outputs = [nbformat.v4.new_output("display_data", data={"text/markdown": "## Visible heading\n\nRetention is high."})]
    nb.cells = [note, code, nbformat.v4.new_markdown_cell("An untagged markdown cell stays.")]
    src = tmp_path / "n.ipynb"
    nbformat.write(nb, str(src))
    html = notebook_to_html(src, tmp_path / "n.html").read_text(encoding="utf-8")
    assert "zanzibar" not in html and "A note for analysts" not in html
    assert "Retention is high." in html and "An untagged markdown cell stays." in html


def test_every_section_of_every_notebook_has_an_analyst_note_before_it():
    assert len(NOTEBOOKS) >= 6
    for path in NOTEBOOKS:
        nb = nbformat.read(str(path), as_version=4)
        cells = nb.cells
        assert cells[0].cell_type == "markdown" and ANALYST_NOTE in cells[0].metadata.get("tags", []), path.name
        assert cells[0].source.startswith("# "), f"{path.name}: the first note names the analysis"
        for i, cell in enumerate(cells):
            if cell.cell_type == "code" and re.search(r"^\s*(heading\(|write_table\()", cell.source, re.M):
                before = cells[i - 1]
                assert before.cell_type == "markdown" and ANALYST_NOTE in before.metadata.get("tags", []), \
                    f"{path.name}: cell {i} ({cell.source.strip().splitlines()[0][:60]}) has no analyst note before it"
            if cell.cell_type == "markdown":
                assert ANALYST_NOTE in cell.metadata.get("tags", []), f"{path.name}: untagged markdown cell {i}"
