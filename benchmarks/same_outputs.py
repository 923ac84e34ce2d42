"""Check that two published runs hold the same numbers: every notebook's metrics.json and its CSV tables.

Used around refactors whose rule is "behaviour unchanged" (issue 20): render the suite before and after on the
same data, then

    python -m benchmarks.same_outputs reports/<run-before> reports/<run-after>

prints each file that differs (with the first differing JSON paths) and exits 1 if any does. With ``--partial``
only the notebooks present in the second run are compared (for a run of some notebooks). Files compared:
``*/metrics.json`` and ``*/*.csv`` (byte for byte) and every other ``*/*.json`` table a notebook writes. The
rendered HTML, the executed notebooks, the manifest and the log carry run ids and times and are not compared.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

__all__ = ["compare", "main"]


def _files(run: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(run.glob("*/*")):
        if path.suffix in (".csv", ".json") and path.is_file():
            out[str(path.relative_to(run))] = path
    return out


def _json_paths(a, b, at: str = "$", found: list[str] | None = None, limit: int = 5) -> list[str]:
    found = [] if found is None else found
    if len(found) >= limit:
        return found
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b), key=str):
            if key not in a or key not in b:
                found.append(f"{at}.{key}: only in {'after' if key not in a else 'before'}")
            else:
                _json_paths(a[key], b[key], f"{at}.{key}", found, limit)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b)):
            _json_paths(x, y, f"{at}[{i}]", found, limit)
    elif a != b:
        found.append(f"{at}: {a!r} -> {b!r}"[:200])
    return found


def compare(before: Path, after: Path, *, partial: bool = False) -> list[str]:
    """The differences between two runs' tables, one line each (empty when the runs agree byte for byte).

    ``partial=True`` compares only the notebooks (folders) that the second run has.
    """
    a, b = _files(Path(before)), _files(Path(after))
    if partial:
        ran = {name.split("/")[0] for name in b}
        a = {name: path for name, path in a.items() if name.split("/")[0] in ran}
    lines = [f"only in before: {name}" for name in sorted(set(a) - set(b))]
    lines += [f"only in after: {name}" for name in sorted(set(b) - set(a))]
    for name in sorted(set(a) & set(b)):
        x, y = a[name].read_bytes(), b[name].read_bytes()
        if x == y:
            continue
        detail = ""
        if name.endswith(".json"):
            try:
                detail = "; ".join(_json_paths(json.loads(x), json.loads(y)))
            except ValueError:
                detail = "not JSON"
        lines.append(f"differs: {name}" + (f" ({detail})" if detail else ""))
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before", type=Path)
    parser.add_argument("after", type=Path)
    parser.add_argument("--partial", action="store_true", help="compare only the notebooks the second run has")
    args = parser.parse_args(argv)
    lines = compare(args.before, args.after, partial=args.partial)
    n = len(_files(args.after))
    for line in lines:
        print(line)
    print(f"{n} files compared, {len(lines)} differences")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
