"""Figures without collisions: every figure of every notebook, drawn on the demo data (English and Japanese) and
on a purchase log and a CRM snapshot (the figures only those layouts draw), has no two tick labels whose boxes
overlap. The notebooks' own code cells run here, in this process (the same calls, parameters and figure sizes as
in a report); each figure is checked when the notebook shows it or its cell ends, as the inline backend would.

The ratio axes (hazard and odds ratios, log scale) take their ticks from ``csanalysis.plots.ratio_ticks``: plain
numbers such as 0.25, 0.5, 1, 2, 4, never matplotlib's minor labels "2×10⁻¹ 3×10⁻¹" printed over each other."""
from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from csanalysis import plots  # noqa: E402
from csanalysis.report import i18n  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "data" / "demo"
NOTEBOOKS = sorted(p.stem for p in (ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _drawn_tick_labels(axis) -> list:
    """The tick labels matplotlib draws on ``axis``: visible, not empty, at a tick inside the view (the locator
    also returns ticks beyond the limits, which are not drawn)."""
    tr = axis.get_transform()
    a, b = sorted(tr.transform(np.asarray(axis.get_view_interval(), dtype=float)))
    eps = 1e-9 * max(abs(b - a), 1e-300)
    out = []
    for locs, labels in ((axis.get_majorticklocs(), axis.get_majorticklabels()),
                         (axis.get_minorticklocs(), axis.get_minorticklabels())):
        for loc, label in zip(locs, labels):
            t = tr.transform(np.asarray([loc], dtype=float))[0]
            if a - eps <= t <= b + eps and label.get_visible() and label.get_text().strip():
                out.append(label)
    return out


def overlapping_tick_labels(fig, tolerance: float = 0.5) -> list[tuple[str, str, str]]:
    """Pairs of tick labels anywhere in ``fig`` (every visible axes, x and y, major and minor) whose drawn boxes
    overlap by more than ``tolerance`` pixels each way: (axes title, label, label)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = []
    for ax in fig.axes:
        if not ax.get_visible():
            continue
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_visible():
                boxes += [(ax, label, label.get_window_extent(renderer)) for label in _drawn_tick_labels(axis)]
    bad = []
    for i, (ax, label, box) in enumerate(boxes):
        for _, other, obox in boxes[i + 1:]:
            w = min(box.x1, obox.x1) - max(box.x0, obox.x0)
            h = min(box.y1, obox.y1) - max(box.y0, obox.y0)
            if w > tolerance and h > tolerance:
                bad.append((ax.get_title(), label.get_text(), other.get_text()))
    return bad


def notebook_figures(name: str, params: dict, monkeypatch) -> list[tuple[str, list]]:
    """Run notebook ``name``'s code cells here with ``params`` set after its parameters cell; every figure it shows
    (``plt.show``) or leaves open at the end of a cell is checked and closed: (where, overlapping labels) each."""
    cells = json.loads((ROOT / "notebooks" / f"{name}.ipynb").read_text(encoding="utf-8"))["cells"]
    checked: list[tuple[str, list]] = []
    where = {"cell": None}

    def check(*_args, **_kwargs):
        for num in plt.get_fignums():
            fig = plt.figure(num)
            title = next((ax.get_title() for ax in fig.axes if ax.get_title()), "")
            checked.append((f"{name} cell {where['cell']} ({title})", overlapping_tick_labels(fig)))
        plt.close("all")

    monkeypatch.setattr(plt, "show", check)
    monkeypatch.chdir(ROOT / "notebooks")  # where the kernel runs
    ns: dict = {}
    with matplotlib.rc_context(), contextlib.redirect_stdout(io.StringIO()):  # the house style stays in here
        try:
            for i, cell in enumerate(cells):
                if cell["cell_type"] != "code":
                    continue
                where["cell"] = i
                exec(compile("".join(cell["source"]), f"{name}.ipynb cell {i}", "exec"), ns)  # noqa: S102
                if "parameters" in cell["metadata"].get("tags", []):
                    ns.update(params)
                check()
        finally:
            plt.close("all")
            i18n.set_language("en")
            i18n.set_layout("subscription")
    return checked


def _assert_no_overlaps(checked):
    assert checked, "the notebook drew no figure: nothing was checked"
    bad = [(where, pairs) for where, pairs in checked if pairs]
    assert not bad, "tick labels overlap:\n" + "\n".join(f"  {w}: {p}" for w, p in bad)


@pytest.mark.parametrize("lang", ["en", "ja"])
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_no_tick_labels_overlap_in_any_figure_on_the_demo(name, lang, tmp_path, monkeypatch):
    checked = notebook_figures(name, {"data": str(DEMO), "output_dir": str(tmp_path / name), "lang": lang}, monkeypatch)
    _assert_no_overlaps(checked)


@pytest.fixture(scope="module")
def purchase_log_folder(tmp_path_factory):
    """Purchases of 150 buyers over 18 months (the generator of tests/test_nb_purchase_log.py)."""
    from test_nb_purchase_log import _log

    return _log(tmp_path_factory.mktemp("plog") / "log", buyers=150)


@pytest.fixture(scope="module")
def snapshot_folder(tmp_path_factory):
    """A CRM export of 800 accounts (the generator of tests/test_snapshot_survival.py)."""
    from test_snapshot_survival import MAPPING, _export

    folder = tmp_path_factory.mktemp("snap")
    _export(n=800, seed=5).to_csv(folder / "telco_export.csv", index=False)
    (folder / "mapping.yaml").write_text(MAPPING)
    return folder


@pytest.mark.parametrize("name", ["00_data_overview", "04_churn_risk"])
@pytest.mark.parametrize("layout", ["purchase_log", "snapshot"])
def test_no_tick_labels_overlap_in_the_figures_of_other_layouts(layout, name, request, tmp_path, monkeypatch):
    folder = request.getfixturevalue(f"{layout}_folder")
    checked = notebook_figures(name, {"data": str(folder), "mapping": str(folder / "mapping.yaml"),
                                      "output_dir": str(tmp_path / name), "lang": "en"}, monkeypatch)
    _assert_no_overlaps(checked)


def test_the_check_finds_labels_printed_over_each_other():
    """The check is not blind: matplotlib's own labels on a log axis inside one decade (the forest plot before
    ``ratio_ticks``) collide on a narrow axes, and labels set on top of each other are found."""
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.errorbar([0.3, 0.45], [0, 1], xerr=[[0.1, 0.1], [0.2, 0.2]], fmt="o")
    ax.set_xscale("log")
    assert any("10^{-1}" in a and "10^{-1}" in b for _, a, b in overlapping_tick_labels(fig))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(3, 3))
    ax.set_xticks([0, 0.01, 1], ["a long label", "another long label", "far"])
    assert overlapping_tick_labels(fig) == [("", "a long label", "another long label")]
    plt.close(fig)


@pytest.mark.parametrize("values, ticks", [
    ((0.2, 0.7, 1.0), [0.2, 0.5, 1]),  # inside one decade: matplotlib labelled 2×10⁻¹ … 6×10⁻¹ on top of each other
    ((0.22, 1.6, 1.0), [0.25, 0.5, 1]),
    ((0.05, 3.0, 1.0), [0.05, 0.1, 0.2, 0.5, 1, 2]),
    ((0.3, 1.6, 1.0), [0.5, 0.67, 0.8, 1, 1.25, 1.5]),
    ((0.01, 50.0, 1.0), [0.01, 0.1, 1, 10]),
    ((0.97, 1.01, 1.0), [0.95, 1, 1.05]),
    ((2.0, 2.1), [2.0, 2.1, 2.2]),  # too narrow for any set: the even steps of a linear axis
    ((np.nan, 0.0, -1.0, np.inf), [1]),
])
def test_ratio_ticks_are_plain_numbers_at_least_three_when_the_span_allows(values, ticks):
    got = plots.ratio_ticks(values)
    assert got == pytest.approx(ticks, rel=1e-9)
    assert [plots.base._ratio_label(t) for t in got] == [f"{t:g}" for t in ticks]


def test_forest_plot_of_ratios_inside_one_decade_reads_as_plain_numbers():
    hrs = pd.DataFrame({"covariate": ["plan", "plan", "seats"], "level": ["Pro", "Enterprise", "x"],
                        "reference": ["Basic", "Basic", "per doubling of seats"],
                        "hr": [0.45, 0.3, 0.62], "lower": [0.35, 0.2, 0.55], "upper": [0.6, 0.45, 0.7]})
    ax = plots.plot_forest(hrs)
    fig = ax.figure
    assert overlapping_tick_labels(fig) == []
    shown = [label.get_text() for label in _drawn_tick_labels(ax.xaxis)]
    assert shown == ["0.2", "0.5", "1"]  # the reference 1 is on the axis; no minor labels
    assert ax.get_xscale() == "log"
    plt.close(fig)
