"""The runner's layout (issue 20): one job per module, no import cycle between the front page and the runner, and
the settings a run hands its notebooks travel as the ``run_context`` parameter, never as environment variables."""
from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from csanalysis.data import RunContext
from csanalysis.report import parameters

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "csanalysis"
RUNNER = ("run", "parameters", "job", "schedule", "store", "runlog", "errors")


def _imported_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(m for m in sys.modules if m.startswith('csanalysis'))))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT,
                         timeout=120).stdout
    return set(out.split())


def test_the_front_page_and_the_store_do_not_import_the_runner():
    """index → front → store, and index → parameters: none of them imports run (the cycle index ↔ run is gone),
    nor the notebook runner (job) or the scheduler."""
    for module in ("csanalysis.report.index", "csanalysis.report.store", "csanalysis.report.front"):
        loaded = _imported_after(f"import {module}")
        assert module in loaded  # the control: the probe sees what was imported
        assert not loaded & {"csanalysis.report.run", "csanalysis.report.job", "csanalysis.report.schedule"}, module


@pytest.mark.parametrize("name", RUNNER)
def test_each_runner_module_says_its_job_and_its_public_names(name):
    module = importlib.import_module(f"csanalysis.report.{name}")
    assert module.__doc__ and len(module.__doc__.split()) >= 10, name
    assert module.__all__ and all(hasattr(module, n) for n in module.__all__), name


def _environment_reads(path: Path) -> list[str]:
    """The environment variables a module names (string constants ``CSANALYSIS_*``) and whether it touches
    ``os.environ``/``os.getenv`` at all."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("CSANALYSIS_"):
            found.append(node.value)
        if isinstance(node, ast.Attribute) and node.attr in ("environ", "getenv") and getattr(node.value, "id", "") == "os":
            found.append("os." + node.attr)
    return found


def test_no_module_reads_the_runs_settings_from_the_environment():
    """The cache folder, the data's fingerprint and the pseudonymisation switch reach a notebook in its run context;
    the environment holds only user configuration (the pseudonym key; the user's own load cache outside report runs:
    its folder, size bound and off switch; the embedded engine's memory limit) and the kernels' thread limits
    (job.py)."""
    reads = {str(p.relative_to(PACKAGE)): r for p in sorted(PACKAGE.rglob("*.py")) if (r := _environment_reads(p))}
    names = {n for r in reads.values() for n in r if n.startswith("CSANALYSIS_")}
    assert names == {"CSANALYSIS_PSEUDONYM_KEY", "CSANALYSIS_PSEUDONYM_KEY_FILE", "CSANALYSIS_CACHE_DIR",
                     "CSANALYSIS_CACHE_MAX_BYTES", "CSANALYSIS_LOAD_CACHE", "CSANALYSIS_ENGINE_MEMORY"}
    assert {p for p, r in reads.items() if "os.environ" in r or "os.getenv" in r} == {
        "data/pseudonym.py", "report/job.py", "data/cache.py", "data/load.py"}
    for nb in parameters.discover():
        cells = json.loads(nb.read_text(encoding="utf-8"))["cells"]
        assert not any("environ" in "".join(c["source"]) for c in cells), nb.stem


def test_every_notebook_takes_the_run_context_and_loads_with_it():
    for nb in parameters.discover():
        spec = parameters.parameters_of(nb)
        assert spec["run_context"]["default"] == '""' and spec["run_context"]["type"] == "str", nb.stem
        source = "".join("".join(c["source"]) for c in json.loads(nb.read_text(encoding="utf-8"))["cells"])
        assert "context=run_context" in source, nb.stem


def test_the_run_context_file_round_trips(tmp_path):
    ctx = RunContext(cache_dir=str(tmp_path / ".cache"), source=str(tmp_path.resolve()), fingerprint="f" * 16,
                     pseudonymise=True)
    again = RunContext.read(ctx.write(tmp_path / "run_context.json"))
    assert again == ctx
    assert again.fingerprint_of(tmp_path) == "f" * 16 and again.fingerprint_of(tmp_path / "other") is None
    (tmp_path / "bad.json").write_text('{"cache": 1}')
    with pytest.raises(ValueError, match="not a run context"):
        RunContext.read(tmp_path / "bad.json")
