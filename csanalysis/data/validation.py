"""Validation findings: errors stop the load, warnings and notes are reported with counts.

Every finding names the table, the file, the column, how many rows and a few offending values, so a user can
find and fix the rows without reading code.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["error", "warning", "note"]


@dataclass
class Finding:
    level: Level
    table: str
    message: str
    column: str | None = None
    n_rows: int | None = None
    examples: list[Any] = field(default_factory=list)
    file: str | None = None
    # the customer ids the examples quote (an example may be an id, or "id: value"): a pseudonymised run replaces
    # them by their pseudonyms (data/pseudonym.py pseudonymise_report); not written anywhere
    ids: list[str] = field(default_factory=list, repr=False)
    # the message in the report's catalogue (csanalysis/report/messages: ``key`` formatted with ``values``), for a
    # finding a report shows (warnings and notes); ``message`` is the English text of the command line and logs
    key: str | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def __str__(self) -> str:
        where = self.table + (f" ({self.file})" if self.file else "")
        col = f", column '{self.column}'" if self.column else ""
        rows = f" [{self.n_rows:,} row{'s' if self.n_rows != 1 else ''}]" if self.n_rows is not None else ""
        ex = f"; e.g. {', '.join(repr(e) for e in self.examples)}" if self.examples else ""
        return f"{self.level.upper()}: {where}{col}: {self.message}{rows}{ex}"

    def to_dict(self) -> dict:
        return {
            "level": self.level, "table": self.table, "file": self.file, "column": self.column,
            "message": self.message, "n_rows": self.n_rows, "examples": [str(e) for e in self.examples],
            "key": self.key, "values": dict(self.values),
        }


@dataclass
class ValidationReport:
    source: str
    findings: list[Finding] = field(default_factory=list)
    # rows read, used and cut per table; reconciliation numbers
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    reconciliation: dict[str, float] = field(default_factory=dict)

    def add(self, level: Level, table: str, message: str, **kw) -> None:
        """Record a finding.

        Parameters
        ----------
        level : {"error", "warning", "note"}
            How serious it is.
        table : str
            The table it is about.
        message : str
            The English text (command line and logs).
        **kw
            The other fields of :class:`Finding` (``column``, ``n_rows``, ``examples``, ``file``, ``ids``,
            ``key`` and ``values`` of the catalogue message).

        Returns
        -------
        None
        """
        self.findings.append(Finding(level, table, message, **kw))

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors

    def to_text(self) -> str:
        lines = [f"Validation of {self.source}: " + ("OK" if self.ok else f"{len(self.errors)} error(s)")]
        for f in self.errors + self.warnings + [f for f in self.findings if f.level == "note"]:
            lines.append("  " + str(f))
        if self.counts:
            lines.append("  Rows per table (read / used / cut):")
            for table, c in self.counts.items():
                cut = ", ".join(f"{v:,} {k.removeprefix('cut_')}" for k, v in c.items() if k.startswith("cut_") and v)
                lines.append(
                    f"    {table:<20} {c.get('read', 0):>12,} / {c.get('used', 0):>12,}" + (f"   cut: {cut}" if cut else "")
                )
        if self.reconciliation:
            lines.append("  Reconciliation:")
            for k, v in self.reconciliation.items():
                lines.append(f"    {k:<45} {v:>16,.2f}")
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "source": self.source, "ok": self.ok, "findings": [f.to_dict() for f in self.findings],
            "counts": self.counts, "reconciliation": self.reconciliation,
        }


class DataValidationError(ValueError):
    """Raised when a data source has errors; carries the whole report (every error, not only the first)."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__(report.to_text())
