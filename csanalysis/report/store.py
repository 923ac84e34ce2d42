"""The store of published runs in a reports folder: where a run is written, how it is published (atomically, under
a lock) or kept as failed, its manifest, the list of published runs, the latest one, pruning.

The folder's layout:

* ``<run-id>/``: a published run: ``manifest.json`` (what ran, on what, with which parameters, the outcome), one
  folder per notebook, ``run.log``;
* ``latest``: a symbolic link to the last published run;
* ``.tmp-<run-id>/``: a run being written, with its ``.running`` file held locked by the writing process (a killed
  run's lock is released, and the next run removes its folder: :func:`clean_stale`);
* ``failed/<run-id>/``: a run of which a notebook failed, kept for debugging, never published;
* ``.lock``: taken while a run is published and while ``index.html`` is written (:func:`lock`);
* ``index.html``: the front page (:mod:`csanalysis.report.index`), written after each publication.

A run renders into its ``.tmp-<run-id>/`` folder and is moved into place only when every notebook succeeded
(:func:`publish`); then ``latest`` is replaced, and the files a notebook keeps outside its run (notebook 04's list
in ``reports/risk_lists/``) are copied there (:func:`csanalysis.report.outputs.keep_on_publish`). A failed run
publishes nothing, and keeps nothing (:func:`keep_failed`).
"""
from __future__ import annotations

import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from .errors import ParameterError
from .outputs import publish_copies
from .parameters import RUNNER_PARAMS, project_root

MANIFEST = "manifest.json"
RUNNING = ".running"  # held locked by the run writing a .tmp-<run id> folder; a killed run's lock is released


@contextmanager
def lock(out: Path) -> Iterator[None]:
    """The reports folder's lock: one run publishes, or one command writes the front page, at a time."""
    out.mkdir(parents=True, exist_ok=True)
    with open(out / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def check_out(out: Path) -> None:
    """The reports folder is a folder that can be made and written, or a one-line ParameterError says why (nothing
    is created here: bad data must leave no reports folder behind)."""
    if out.exists() and not out.is_dir():
        raise ParameterError(f"--out {out} is a file, not a folder")
    base = out
    while not base.exists() and base != base.parent:
        base = base.parent
    if not base.is_dir():
        raise ParameterError(f"--out {out} cannot be made: {base} is a file, not a folder")
    if not os.access(base, os.W_OK | os.X_OK):
        raise ParameterError(f"--out {out} cannot be written: {base} is not writable")


def clean_stale(out: Path, max_age_hours: float = 1.0, min_age_seconds: float = 60.0) -> list[Path]:
    """Remove the temporary folders of runs that were killed: their ``.running`` lock is free (or, for a folder
    without one, it is older than ``max_age_hours``). A run still writing holds its lock and is left alone; so is
    a folder made in the last ``min_age_seconds`` (a run takes its lock just after making it)."""
    removed = []
    for tmp in out.glob(".tmp-*"):
        if not tmp.is_dir():
            continue
        flag = tmp / RUNNING
        try:
            if time.time() - tmp.stat().st_mtime < min_age_seconds:
                continue
            if flag.is_file():
                with open(flag, "a") as fh:
                    fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)  # raises while the run is alive
            elif time.time() - tmp.stat().st_mtime < max_age_hours * 3600:
                continue
        except OSError:
            continue
        shutil.rmtree(tmp, ignore_errors=True)
        removed.append(tmp)
    return removed


@contextmanager
def staging(out: Path, run_id: str) -> Iterator[Path]:
    """The folder a run writes into, ``out/.tmp-<run_id>/``, with its ``.running`` lock held until the run returns
    (killed runs' folders are removed first: :func:`clean_stale`)."""
    clean_stale(out)
    tmp = out / f".tmp-{run_id}"
    tmp.mkdir(parents=True)
    running = open(tmp / RUNNING, "w")  # noqa: SIM115 (held for the whole run; closed below)
    fcntl.flock(running, fcntl.LOCK_EX)
    try:
        yield tmp
    finally:
        running.close()


def _git_commit() -> str | None:
    try:
        return subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=project_root(), capture_output=True,
                              text=True, timeout=5, check=True).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def new_manifest(*, run_id: str, data: Path, fingerprint: str, mapping: str | None, ds, lang: str,
                 parameters: dict[str, Any], cache_key: str, schedule: str, pseudonymise: bool) -> dict:
    """A run's manifest as it starts (each notebook's entry is added as it is planned and updated as it ends).

    Parameters
    ----------
    run_id, data, fingerprint, mapping : the run's id, the resolved data source, its files' fingerprint and the
        mapping's path (or None).
    ds : the run's Dataset (its analysis date, layout and each table's first and last date).
    lang, parameters, schedule, pseudonymise : the run's options (``parameters``: the user's ``--param`` values).
    cache_key : the key of the run's one load in the cache.

    Returns
    -------
    dict
        The manifest, written to ``manifest.json`` by :func:`seal` and :func:`publish`.
    """
    return {
        "run_id": run_id, "started": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "data": str(data), "data_fingerprint": fingerprint, "mapping": mapping,
        "as_of": str(ds.as_of), "lang": lang, "parameters": parameters, "cache_key": cache_key,
        # for the front page's data freshness: each table's first and last date, the expected refresh schedule
        "layout": ds.layout, "schedule": schedule,
        "data_dates": {name: {"first": first, "last": last} for name, (first, last) in ds.date_ranges().items()},
        "pseudonymised": pseudonymise,
        "package_version": __import__("csanalysis").__version__, "git_commit": _git_commit(), "notebooks": {},
    }


def write_manifest(folder: Path, manifest: dict) -> Path:
    path = folder / MANIFEST
    path.write_text(json.dumps(manifest, indent=2, default=str) + "\n", encoding="utf-8")
    return path


def seal(tmp: Path, manifest: dict) -> None:
    """A run that has finished writing: its manifest written; its ``.running`` file removed (the lock stays held
    through the open file until the run returns)."""
    write_manifest(tmp, manifest)
    (tmp / RUNNING).unlink()


def keep_failed(tmp: Path, out: Path, run_id: str) -> Path:
    """Move a failed run to ``out/failed/<run_id>/`` (hold :func:`lock`); nothing is published."""
    failed = out / "failed" / run_id
    failed.parent.mkdir(exist_ok=True)
    os.replace(tmp, failed)
    return failed


def publish(tmp: Path, out: Path, run_id: str, manifest: dict, keep: int | None = None) -> Path:
    """Publish a run that succeeded (hold :func:`lock`): copy the files its notebooks keep outside the run, record
    the time, move it to ``out/<run_id>/``, point ``latest`` at it and keep only the newest ``keep`` runs.

    Parameters
    ----------
    tmp : the run's staging folder (:func:`staging`).
    out : the reports folder.
    run_id : the run's id, its folder's name.
    manifest : the run's manifest; its ``published`` time is added and it is written again.
    keep : the number of newest runs to keep (None: all).

    Returns
    -------
    Path
        The published run's folder.
    """
    for name, entry in manifest["notebooks"].items():  # files the notebooks keep outside the run: only now
        if entry["status"] == "succeeded":
            publish_copies(tmp / name)
    final = out / run_id
    # published runs are ordered by this time (index, latest, --keep): two runs started in the same second
    # are ordered as they were published, the last one being the one "latest" points to
    manifest["published"] = dt.datetime.now(dt.timezone.utc).isoformat(timespec="microseconds")
    write_manifest(tmp, manifest)
    os.replace(tmp, final)
    link = out / f".latest-{run_id}"
    link.symlink_to(run_id, target_is_directory=True)
    os.replace(link, out / "latest")
    if keep:
        prune(out, keep)
    return final


def latest_manifest(out: Path) -> dict | None:
    """The manifest of the last published run (``out/latest``), or None when there is none or it cannot be read."""
    try:
        return json.loads((out / "latest" / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def previous(out: Path, notebook: str, data: Path, nb_params: dict) -> dict | None:
    """The latest published run of the same notebook on the same data with the same notebook parameters.

    Parameters
    ----------
    out : the reports folder.
    notebook : the notebook's name (``02_churn_survival``).
    data : the resolved data source.
    nb_params : the user's parameters for the notebook (the runner's own, :data:`RUNNER_PARAMS`, are not compared).

    Returns
    -------
    dict or None
        ``run_id``, ``as_of`` and the notebook's ``metrics`` of that run; None when ``latest`` is not such a run.
    """
    latest = out / "latest"
    if not latest.exists():
        return None
    try:
        man = json.loads((latest / MANIFEST).read_text(encoding="utf-8"))
        entry = man["notebooks"][notebook]
        same = man.get("data") == str(data) and {k: v for k, v in entry["parameters"].items() if k not in RUNNER_PARAMS} == nb_params
        if not same:
            return None
        metrics = json.loads((latest / notebook / "metrics.json").read_text(encoding="utf-8"))
    except (OSError, KeyError, ValueError):
        return None
    return {"run_id": man["run_id"], "as_of": man["as_of"], "metrics": metrics}


def runs(out: Path) -> list[Path]:
    """Published run folders, newest (last published) first; runs published before the time was recorded come
    after them, by their id (which starts with their start time)."""
    found = [p for p in out.iterdir() if p.is_dir() and not p.is_symlink() and (p / MANIFEST).is_file()
             and not p.name.startswith(".") and p.name != "failed"]

    def published(p: Path) -> str:
        try:
            return json.loads((p / MANIFEST).read_text(encoding="utf-8")).get("published") or ""
        except (OSError, ValueError):
            return ""

    return sorted(found, key=lambda p: (published(p), p.name), reverse=True)


def prune(out: Path, keep: int) -> list[Path]:
    """Remove all but the newest ``keep`` published runs (never the one ``latest`` points to)."""
    removed = []
    latest = (out / "latest").resolve() if (out / "latest").exists() else None
    for old in runs(out)[keep:]:
        if old.resolve() != latest:
            shutil.rmtree(old)
            removed.append(old)
    return removed


__all__ = ["MANIFEST", "RUNNING", "lock", "check_out", "clean_stale", "staging", "new_manifest", "write_manifest",
           "seal", "keep_failed", "publish", "latest_manifest", "previous", "runs", "prune"]
