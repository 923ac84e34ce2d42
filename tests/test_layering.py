"""The layering of the package, read from the source with ``ast``: data flows one way (data → analyses → plots →
notebooks → report), so no analysis imports from ``csanalysis/report/`` (only the report itself and the command
line do), and ``csanalysis/plots/`` imports no analysis. Imports inside functions count: a lazy import is still an
import."""
from __future__ import annotations

import ast
from pathlib import Path

import csanalysis

PKG = Path(csanalysis.__file__).resolve().parent
ROOT = PKG.parent


def _module_name(path: Path, root: Path = ROOT) -> tuple[str, str]:
    """The dotted module name of ``path`` (under ``root``) and the package a relative import in it is resolved
    against."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), ".".join(parts)
    return ".".join(parts), ".".join(parts[:-1])


def imports(path: Path, root: Path = ROOT) -> list[tuple[int, str]]:
    """Every module ``path`` imports, absolute, with its line: ``import a.b``, ``from a import b`` (as ``a`` and
    ``a.b``: ``b`` may be a module), relative imports resolved, and ``importlib.import_module("…")`` with a literal
    name; at any depth (inside functions and classes too)."""
    _, package = _module_name(path, root)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level - 1 > len(base):
                    raise AssertionError(f"{path}:{node.lineno}: relative import beyond the top of the package")
                base = base[:len(base) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module
            found.append((node.lineno, module))
            found += [(node.lineno, f"{module}.{a.name}") for a in node.names if a.name != "*"]
        elif (isinstance(node, ast.Call)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) == "import_module" and node.args and isinstance(node.args[0], ast.Constant) and isinstance(node.args[0].value, str)
              and not node.args[0].value.startswith(".")):
            found.append((node.lineno, node.args[0].value))
    return found


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def _sources(*, skip: tuple[str, ...]) -> list[Path]:
    files = sorted(PKG.rglob("*.py"))
    assert len(files) > 20, f"found only {len(files)} modules under {PKG}"
    return [f for f in files if not any(_within(_module_name(f)[0], s) for s in skip)]


def _violations(files: list[Path], forbidden, root: Path = ROOT) -> list[str]:
    """``file:line: imports module`` for each import statement that imports a module ``forbidden`` says no to."""
    out = {}
    for f in files:
        for line, m in imports(f, root):
            if forbidden(m):
                out.setdefault((f, line), f"{f.relative_to(root)}:{line}: imports {m}")
    return list(out.values())


def test_the_import_reader_resolves_relative_and_lazy_imports(tmp_path):
    """The reader itself on a hand-made module, so a clean result below means something."""
    pkg = tmp_path / "csanalysis" / "nps"
    pkg.mkdir(parents=True)
    mod = pkg / "m.py"
    mod.write_text("import os\nfrom .statistic import x\n\ndef f():\n    from ..report.i18n import term\n"
                   "    from .. import report\n    import importlib\n"
                   "    importlib.import_module('csanalysis.report.run')\n", encoding="utf-8")
    got = imports(mod, tmp_path)
    assert (1, "os") in got and (2, "csanalysis.nps.statistic") in got
    assert (5, "csanalysis.report.i18n") in got and (6, "csanalysis.report") in got
    assert (8, "csanalysis.report.run") in got
    bad = _violations([mod], lambda m: _within(m, "csanalysis.report"), tmp_path)
    assert bad == ["csanalysis/nps/m.py:5: imports csanalysis.report.i18n",
                   "csanalysis/nps/m.py:6: imports csanalysis.report",
                   "csanalysis/nps/m.py:8: imports csanalysis.report.run"]


def test_analyses_import_nothing_from_report():
    files = _sources(skip=("csanalysis.report", "csanalysis.cli"))
    assert any(f.name == "impact.py" for f in files) and any(f.parent.name == "nps" for f in files)
    bad = _violations(files, lambda m: _within(m, "csanalysis.report"))
    assert not bad, "analyses import from csanalysis/report/ (the report reads analyses, never the reverse):\n" + \
        "\n".join(bad)


def test_plots_import_no_analysis():
    """A plot takes data (and its labels) and an optional ``ax``: it imports nothing of csanalysis but plots/."""
    files = [f for f in _sources(skip=()) if _within(_module_name(f)[0], "csanalysis.plots")]
    assert len(files) > 2
    bad = _violations(files, lambda m: _within(m, "csanalysis") and not _within(m, "csanalysis.plots"))
    assert not bad, "\n".join(bad)
