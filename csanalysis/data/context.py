"""The run context: the settings a report run hands each of its notebooks, in one small JSON file.

A report run loads the data once and caches the Dataset; its notebooks then read that cache instead of loading
again. What a notebook needs for this travels as one notebook parameter, ``run_context`` (the path of the file
the runner writes into the run's staging folder; :func:`csanalysis.load_dataset` takes it as ``context``):

* ``cache_dir``: the run's cache folder (``reports/.cache``), where :func:`csanalysis.data.cache.lookup` looks;
* ``source`` and ``fingerprint``: the resolved data source and the fingerprint of its files the runner computed
  at its start (:func:`csanalysis.data.cache.fingerprint`), so that a kernel does not read every file again to
  find the run's cache entry;
* ``pseudonymise``: whether customer identifiers are replaced by keyed pseudonyms (``csanalysis report
  --pseudonymise``). The key itself is user configuration and never part of the context
  (:func:`csanalysis.data.pseudonym.pseudonym_key`).

An empty context (a notebook opened by hand, ``run_context = ""``) loads the data directly, without a cache and
with the identifiers as they are.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

FILE_NAME = "run_context.json"  # in the run's staging folder, published with the run


@dataclass(frozen=True)
class RunContext:
    """What a report run tells its notebooks' :func:`~csanalysis.load_dataset` (see the module doc)."""

    cache_dir: str | None = None
    source: str | None = None
    fingerprint: str | None = None
    pseudonymise: bool = False

    def fingerprint_of(self, source) -> str | None:
        """The fingerprint the runner computed for ``source`` (None when the context is for another source)."""
        if self.fingerprint and self.source == str(Path(str(source)).resolve()):
            return self.fingerprint
        return None

    def write(self, path: str | Path) -> Path:
        """Write the context as JSON to ``path``; returns the path."""
        path = Path(path)
        path.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        return path

    @classmethod
    def read(cls, path: str | Path) -> "RunContext":
        """The context written to ``path`` by :meth:`write` (a clear error when the file is missing or not one)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"run context {path} does not exist (it is written by `csanalysis report` for "
                                    f"the notebooks of its run; leave run_context empty to run a notebook by hand)")
        try:
            fields = json.loads(path.read_text(encoding="utf-8"))
            return cls(**fields)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"run context {path} is not a run context file: {exc}") from None


def run_context(context: RunContext | str | Path | None) -> RunContext:
    """A :class:`RunContext` from what a caller gives: one as it is, a path to its file, or None or "" for none."""
    if isinstance(context, RunContext):
        return context
    if context is None or str(context) == "":
        return RunContext()
    return RunContext.read(context)


__all__ = ["RunContext", "run_context", "FILE_NAME"]
