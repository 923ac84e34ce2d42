"""Notebook → stakeholder HTML: no code, prompts, stderr or warnings, no analyst notes (markdown cells tagged
``analyst-note``); self-contained; no external requests."""
from __future__ import annotations

import html as _html
import re
from pathlib import Path

import nbformat
from nbconvert import HTMLExporter
from nbconvert.preprocessors import Preprocessor, TagRemovePreprocessor

from . import i18n

_MD_ESCAPE = re.compile(r"\\(.)")  # a character narrative.escape put a backslash before

TEMPLATES = Path(__file__).parent / "templates"
ANALYST_NOTE = "analyst-note"  # markdown cells that tell a data scientist in JupyterLab what a section computes


class _DropNoise(Preprocessor):
    """Remove stderr streams, warnings, errors-free noise and widget outputs from every cell."""

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "code":
            kept = []
            for out in cell.get("outputs", []):
                if out.get("output_type") == "stream" and out.get("name") == "stderr":
                    continue
                data = out.get("data", {})
                if "application/vnd.jupyter.widget-view+json" in data:
                    continue
                kept.append(out)
            cell.outputs = kept
        return cell, resources


class _FigureAlt(Preprocessor):
    """Give every figure a description in the report's language (``report.figure_alt`` with the heading of the
    section it sits in): the template writes it as the image's ``alt`` text."""

    heading: str = ""

    def preprocess(self, nb, resources):
        self.heading = ""
        return super().preprocess(nb, resources)

    def _read(self, markdown: str) -> None:
        for line in markdown.splitlines():
            if line.startswith("#"):
                self.heading = _MD_ESCAPE.sub(r"\1", line.lstrip("#").strip())

    def preprocess_cell(self, cell, resources, index):
        if cell.cell_type == "markdown":
            self._read(cell.source)
        for out in cell.get("outputs", []):  # in order: a heading displayed before a figure names it
            data = out.get("data", {})
            self._read(data.get("text/markdown", ""))
            if "image/png" in data or "image/svg+xml" in data:
                out.setdefault("metadata", {})["cs_alt"] = (i18n.tr("report.figure_alt", heading=self.heading)
                                                            if self.heading else i18n.tr("report.figure"))
        return cell, resources


def notebook_to_html(nb_path: str | Path, html_path: str | Path, *, title: str | None = None,
                     footer: str | None = None, sections: list[str] | None = None, toc: bool = True) -> Path:
    """Render an executed notebook for stakeholders. ``sections`` (trusted HTML built with escaped values, e.g.
    the definitions block) go after the report's own content; ``toc`` adds a table of contents.

    Parameters
    ----------
    nb_path : path
        The executed notebook.
    html_path : path
        Where to write the HTML.
    title : str, optional
        The page title (None: left to nbconvert).
    footer : str, optional
        Trusted HTML for the page's foot.
    sections : list of str, optional
        Trusted HTML blocks after the report's content.
    toc : bool
        Add a table of contents.

    Returns
    -------
    Path
        ``html_path``.
    """
    nb = nbformat.read(str(nb_path), as_version=4)
    exporter = HTMLExporter(template_name="csreport", extra_template_basedirs=[str(TEMPLATES)],
                            exclude_input=True, exclude_input_prompt=True, exclude_output_prompt=True,
                            language_code=i18n.language())  # <html lang="ja">: screen readers, CJK glyph choice
    # first: the analysts' notes leave before anything reads the cells (their headings must not name figures)
    exporter.register_preprocessor(TagRemovePreprocessor(remove_cell_tags={ANALYST_NOTE}, enabled=True), enabled=True)
    exporter.register_preprocessor(_DropNoise(), enabled=True)
    exporter.register_preprocessor(_FigureAlt(), enabled=True)
    if title:
        nb.metadata["title"] = title
    body, _ = exporter.from_notebook_node(nb)
    if sections:
        body = body.replace("</main>", "".join(sections) + "</main>", 1) if "</main>" in body else \
            body.replace("</body>", "".join(sections) + "</body>", 1)
    if toc:
        from .extras import add_toc

        body = add_toc(body)
    if footer:
        body = body.replace("</body>", f'<footer class="cs-provenance">{_html.escape(footer)}</footer>\n</body>', 1)
    out = Path(html_path)
    out.write_text(body, encoding="utf-8")
    return out
