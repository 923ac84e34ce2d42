"""The notebooks a run can take and their parameters: discovery, each notebook's own metadata (title, needs,
parameter rules), the parameters papermill reads from its ``parameters`` cell, and the check and coercion of the
values a user gives (``--param``/``--params``) before anything runs.

A notebook's parameters are the annotated assignments of its cell tagged ``parameters`` (papermill reads them;
``csanalysis list`` shows them). The runner sets :data:`RUNNER_PARAMS` itself for every notebook; the others
come from the user, typed by their annotation (:func:`check_parameters`) and checked against the rules the
notebook declares in its metadata ``csanalysis.parameters`` (:func:`rules_of`).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .errors import ParameterError

OPTION_PARAMS = ("data", "mapping", "as_of", "output_dir", "lang")  # each set by its own option of the runner
CONTEXT_PARAM = "run_context"  # the run context's file, written by the runner (csanalysis.data.context)
RUNNER_PARAMS = (*OPTION_PARAMS, CONTEXT_PARAM)


def project_root() -> Path:
    return Path(__file__).resolve().parents[2]


def notebooks_dir() -> Path:
    return project_root() / "notebooks"


def discover(names: list[str] | None = None) -> list[Path]:
    """Notebook paths by name (``00_data_overview`` or a unique prefix such as ``00``); all by default."""
    available = sorted(notebooks_dir().glob("[0-9][0-9]_*.ipynb"))
    if not names:
        return available
    chosen = []
    for name in names:
        hits = [p for p in available if p.stem == name or p.stem.startswith(name)]
        if len(hits) != 1:
            raise ParameterError(f"notebook {name!r} {'is ambiguous' if hits else 'does not exist'}; "
                                 f"available: {', '.join(p.stem for p in available)}")
        chosen.append(hits[0])
    return chosen


def _meta(path: Path) -> dict:
    """A notebook's own metadata (``metadata.csanalysis``: title, needs, parameters), or {}."""
    return json.loads(path.read_text(encoding="utf-8")).get("metadata", {}).get("csanalysis") or {}


def needs_of(path: Path) -> list[str]:
    """What a notebook needs of the data that not every layout holds (its metadata ``csanalysis.needs``, names
    from :data:`csanalysis.data.schema.NEEDS`)."""
    return list(_meta(path).get("needs", []))


def title_of(path: Path) -> str | None:
    """The message key of a notebook's title (its metadata ``csanalysis.title``), or None."""
    return _meta(path).get("title")


def report_title(name: str) -> str | None:
    """The message key of the title of the bundled notebook ``name`` (e.g. ``00_data_overview``), or None when
    there is no such notebook or it has no title."""
    path = notebooks_dir() / f"{name}.ipynb"
    return title_of(path) if path.is_file() else None


def rules_of(path: Path) -> dict[str, dict]:
    """The rules a notebook declares for its parameters' values (its metadata ``csanalysis.parameters``): name →
    ``choices`` (the values the analysis accepts), ``min`` / ``max`` (inclusive), ``above`` (exclusive lower
    bound; for a list parameter, each of its values), ``file`` (an existing file) or ``folder`` (a folder, made when missing). The runner checks them
    before the data are loaded (:func:`check_parameters`)."""
    return dict(_meta(path).get("parameters", {}))


def rule_text(rule: dict) -> str:
    """A rule as the allowed values, for messages and ``csanalysis list``: ``one of a, b``, ``≥ 0``, ``a file``."""
    parts = []
    if "choices" in rule:
        parts.append("one of " + ", ".join(str(c) for c in rule["choices"]))
    if "above" in rule:
        parts.append(f"> {rule['above']:g}")
    if "min" in rule:
        parts.append(f"≥ {rule['min']:g}")
    if "max" in rule:
        parts.append(f"≤ {rule['max']:g}")
    if rule.get("file"):
        parts.append("an existing file (relative to the current folder)")
    if rule.get("folder"):
        parts.append("a folder (relative to the current folder)")
    return ", ".join(parts)


def _check_rule(name: str, value: Any, rule: dict, where: str) -> Any:
    """``value`` (already typed) against its notebook's rule; a file or folder comes back absolute, resolved against
    the caller's working directory (the kernels run in notebooks/)."""
    if value is None:
        return None

    def bad(v) -> bool:
        return (("choices" in rule and v not in rule["choices"]) or ("min" in rule and v < rule["min"])
                or ("max" in rule and v > rule["max"]) or ("above" in rule and v <= rule["above"]))

    if any(bad(v) for v in value) if isinstance(value, list) else bad(value):  # a list: each of its values
        raise ParameterError(f"parameter {name}={value!r} for {where}: use {rule_text(rule)}")
    if rule.get("file") or rule.get("folder"):
        path = Path(value).expanduser().resolve()
        if rule.get("file") and not path.is_file():
            raise ParameterError(f"parameter {name}={value!r} for {where}: {path} is not a file; use {rule_text(rule)}")
        if rule.get("folder") and path.exists() and not path.is_dir():
            raise ParameterError(f"parameter {name}={value!r} for {where}: {path} is a file, not a folder")
        return str(path)
    return value


def layout_support(ds, paths: list[Path] | None = None) -> list[dict]:
    """Each report and whether this Dataset's layout can answer it: ``report`` (notebook name), ``title`` (message
    key or None) and ``left_out`` (the reason's message key, or None when the report runs)."""
    paths = discover() if paths is None else paths
    gone = left_out(paths, ds)
    return [{"report": p.stem, "title": title_of(p), "left_out": gone.get(p.stem)} for p in paths]


def left_out(paths: list[Path], ds) -> dict[str, str]:
    """The notebooks this Dataset's layout cannot answer: name → the reason's message key."""
    out = {}
    for path in paths:
        why = next(filter(None, (ds.left_out(n) for n in needs_of(path))), None)
        if why:
            out[path.stem] = why
    return out


def parameters_of(path: Path) -> dict[str, dict]:
    """The notebook's parameters: name → {type, default, help, rule} (papermill reads the annotated cell; ``rule``
    from :func:`rules_of`, empty when the parameter has none)."""
    from ._papermill import pm  # papermill is slow to import: only where a parameters cell is read

    rules = rules_of(path)
    return {k: {"type": v["inferred_type_name"], "default": v["default"], "help": v["help"], "rule": rules.get(k, {})}
            for k, v in pm.inspect_notebook(str(path)).items()}


def _coerce(name: str, value: Any, type_name: str, where: str):
    """Check a parameter value against the notebook's annotation; return the typed value."""
    t = type_name.replace(" ", "")
    optional = t.startswith("Optional[") or "None" in t.split("|")
    base = t.removeprefix("Optional[").removesuffix("]").split("|")[0] if optional else t
    if value is None or (isinstance(value, str) and value.lower() in ("none", "null")):
        if optional:
            return None
        raise ParameterError(f"parameter {name} of {where} may not be empty (type {type_name})")
    try:
        if base == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(value)
        if base == "float":
            return float(value)
        if base == "bool":
            if isinstance(value, bool):
                return value
            if str(value).lower() in ("true", "1", "yes"):
                return True
            if str(value).lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if base.startswith("list"):
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list):
                raise ValueError
            if not base.startswith("list["):
                return value
            return [_coerce(name, v, base[5:-1], where) for v in value]
        if base == "str":
            return str(value)
    except (ValueError, TypeError):
        raise ParameterError(f"parameter {name}={value!r} for {where} is not a valid {type_name}") from None
    return value


def check_runner_params(params: dict[str, Any]) -> None:
    """Refuse ``--param`` values for the parameters the runner sets itself (:data:`RUNNER_PARAMS`)."""
    clash = sorted(set(params) & set(OPTION_PARAMS))
    if clash:
        raise ParameterError(f"set {', '.join(clash)} with its own option (--data, --mapping, --as-of, --lang, --out), not --param")
    if CONTEXT_PARAM in params:
        raise ParameterError(f"{CONTEXT_PARAM} is written by the runner for each run, not set with --param")


def check_parameters(paths: list[Path], params: dict[str, Any]) -> dict[Path, dict]:
    """Refuse unknown parameter names, values of the wrong type and values outside the notebook's rules
    (:func:`rules_of`) before anything runs; file and folder values come back absolute."""
    per_notebook, known = {}, set()
    for path in paths:
        spec = parameters_of(path)
        known |= set(spec)
        rules = rules_of(path)
        per_notebook[path] = {k: _check_rule(k, _coerce(k, v, spec[k]["type"], path.stem), rules.get(k, {}), path.stem)
                              for k, v in params.items() if k in spec}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ParameterError(f"unknown parameter(s) {', '.join(unknown)}; the selected notebooks take: "
                             f"{', '.join(sorted(known - set(RUNNER_PARAMS)))}")
    return per_notebook


__all__ = ["RUNNER_PARAMS", "OPTION_PARAMS", "CONTEXT_PARAM", "project_root", "notebooks_dir", "discover", "needs_of", "title_of",
           "report_title", "rules_of", "rule_text", "layout_support", "left_out", "parameters_of",
           "check_runner_params", "check_parameters"]
