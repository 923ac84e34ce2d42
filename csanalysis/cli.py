"""The ``csanalysis`` command: demo-data, validate, list, report, index.

Exit codes: 0 success; 1 unexpected error; 2 invalid parameters; 3 invalid data; 4 a notebook failed.
"""
from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Customer-success analytics reports.")


@contextlib.contextmanager
def _exit_codes():
    """The documented exit codes: 2 invalid parameters or mapping, 3 invalid data, 4 a failed notebook."""
    from .data import DataValidationError, MappingError
    from .report.errors import ReportError

    try:
        yield
    except ReportError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(exc.exit_code) from None
    except DataValidationError as exc:
        typer.echo(exc.report.to_text(), err=True)
        raise typer.Exit(3) from None
    except MappingError as exc:
        typer.echo(f"invalid mapping or settings: {exc}", err=True)
        raise typer.Exit(2) from None


@app.command("demo-data")
def demo_data(
    out: Path = typer.Option(Path("data/demo"), help="Folder to write the demo tables into."),
    customers: int = typer.Option(3000, help="Number of customers."),
    months: int = typer.Option(36, help="Months of history."),
    seed: int = typer.Option(0, help="Random seed (same seed, same data)."),
    fmt: str = typer.Option("parquet", "--format", help="parquet or csv."),
    null_world: bool = typer.Option(False, help="Switch every planted effect off."),
):
    """Generate a simulated B2B SaaS dataset with its planted truth (truth.json)."""
    from .data.synth import write_demo

    write_demo(out, fmt=fmt, n_customers=customers, months=months, seed=seed, null_world=null_world)
    typer.echo(f"wrote {customers:,} customers × {months} months to {out}")


@app.command()
def validate(
    data: Path = typer.Option(..., help="Folder of CSV/Parquet files or a DuckDB file."),
    mapping: Optional[Path] = typer.Option(None, help="Mapping YAML for your own export."),
    as_of: Optional[str] = typer.Option(None, help="Analysis date (YYYY-MM-DD)."),
):
    """Validate a data source and print a readable report with reconciling totals."""
    from .data import load_dataset

    with _exit_codes():
        ds = load_dataset(data, mapping=mapping, as_of=as_of)
    typer.echo(ds.report.to_text())
    typer.echo(f"  as_of {ds.as_of}; churn definition: {ds.churn_definition()}")


@app.command("list")
def list_notebooks():
    """Show each notebook's parameters with defaults, types and descriptions."""
    from .report.parameters import CONTEXT_PARAM, discover, parameters_of, rule_text

    for path in discover():
        typer.echo(path.stem)
        for name, p in parameters_of(path).items():
            if name == CONTEXT_PARAM:  # written by the runner for its notebooks, not a setting
                continue
            typer.echo(f"  {name:<22} {p['type']:<16} default {p['default']:<22} {p['help']}")
            if p["rule"]:
                typer.echo(f"  {'':<22} allowed: {rule_text(p['rule'])}")


def _parse_params(pairs: list[str], params_file: Optional[Path]) -> dict:
    from .data.mapping import read_yaml

    params: dict = {}
    if params_file:
        if not params_file.is_file():
            raise typer.BadParameter(f"--params {params_file} does not exist")
        loaded = read_yaml(params_file.read_bytes(), f"--params {params_file}", typer.BadParameter) or {}
        if not isinstance(loaded, dict):
            raise typer.BadParameter(f"--params {params_file} must hold a mapping of parameter: value")
        params.update({str(k): v for k, v in loaded.items()})
    for pair in pairs:
        if "=" not in pair:
            raise typer.BadParameter(f"--param {pair!r}: use KEY=VALUE")
        key, value = pair.split("=", 1)
        params[key.strip()] = read_yaml(value, f"--param {key.strip()}", typer.BadParameter) if value.strip() else ""
    return params


@app.command()
def report(
    names: Optional[list[str]] = typer.Argument(None, help="Notebooks to run (default: all)."),
    data: Path = typer.Option(Path("data/demo"), help="Data source."),
    mapping: Optional[Path] = typer.Option(None, help="Mapping YAML."),
    as_of: Optional[str] = typer.Option(None, help="Analysis date (YYYY-MM-DD)."),
    param: list[str] = typer.Option([], "--param", help="Notebook parameter KEY=VALUE (repeatable)."),
    params: Optional[Path] = typer.Option(None, "--params", help="YAML file of notebook parameters."),
    lang: str = typer.Option("en", help="Report language: en or ja."),
    out: Path = typer.Option(Path("reports"), help="Reports folder."),
    keep: Optional[int] = typer.Option(None, help="Keep only the newest N runs."),
    timeout: int = typer.Option(900, help="Execution timeout per cell, seconds."),
    pseudonymise: bool = typer.Option(False, "--pseudonymise", help="Replace customer ids by keyed pseudonyms "
                                      "(HMAC; key from CSANALYSIS_PSEUDONYM_KEY or ~/.config/csanalysis/pseudonym.key)."),
    jobs: int = typer.Option(min(2, os.cpu_count() or 1), "--jobs", help="Notebooks run at once (each in its own "
                             "kernel, holding the data in memory); default: up to two, as cores allow."),
    schedule: str = typer.Option("monthly", help="How often the data are refreshed: daily, weekly, monthly or "
                                 "quarterly; the front page warns when the newest data are older than this implies."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Show the run's log (papermill, nbclient, the "
                                 "kernels' own output) here as well; it is always written to run.log in the run's folder."),
):
    """Execute notebooks with papermill and publish stakeholder HTML under reports/<run-id>/.

    Prints one line per notebook as it ends and the published paths; the log goes to run.log in the run's folder."""
    from .report.run import run_report
    from .report.runlog import LOG_NAME

    with _exit_codes():
        result = run_report(names or None, data=data, mapping=str(mapping) if mapping else None, as_of=as_of,
                            params=_parse_params(param, params), lang=lang, out=out, keep=keep, timeout=timeout,
                            pseudonymise=pseudonymise, jobs=jobs, progress=typer.echo, verbose=verbose, schedule=schedule)
    typer.echo(f"published {result.folder}")
    for nb, info in result.notebooks.items():
        if info["status"] == "left out":
            typer.echo(f"  {nb}: left out: {info['reason']}")
            continue
        typer.echo(f"  {nb} → {result.folder / nb / (nb + '.html')}")
    typer.echo(f"  log → {result.folder / LOG_NAME}")


@app.command("index")
def index_page(
    out: Path = typer.Option(Path("reports"), help="Reports folder."),
    lang: Optional[str] = typer.Option(None, help="Page language: en or ja (default: the newest run's)."),
    schedule: Optional[str] = typer.Option(None, help="Expected data refresh: daily, weekly, monthly or quarterly "
                                           "(default: the newest run's)."),
):
    """Write the front page (reports/index.html) again, e.g. in the other language or for another schedule."""
    from .report.front import SCHEDULES
    from .report.i18n import LANGUAGES
    from .report.index import write_index
    from .report.store import lock

    if lang is not None and lang not in LANGUAGES:
        raise typer.BadParameter(f"--lang {lang!r}: use en or ja")
    if schedule is not None and schedule not in SCHEDULES:
        raise typer.BadParameter(f"--schedule {schedule!r}: use one of {', '.join(SCHEDULES)}")
    if not out.is_dir():
        raise typer.BadParameter(f"--out {out} is not a reports folder")
    with lock(out):  # as the runner publishes: never beside a run writing the page
        path = write_index(out, lang=lang, schedule=schedule)
    typer.echo(f"wrote {path}")


if __name__ == "__main__":
    app()
