"""Mapping files and settings: how a user's export maps onto the canonical tables, in one place.

A mapping (YAML file or dict) may name each table's file, rename columns, give a date format, translate
coded values and (customers or snapshot) declare the kind of the export's own attributes (``attributes:
{company_size: categorical}``, see data/attributes.py); its ``settings`` hold ``as_of``, ``grace_months``,
``fiscal_year_start``, ``gross_margin`` and ``data_start``. A source folder may carry its own mapping as ``csanalysis.yaml``; it is read when no mapping is
given. Settings passed as arguments override the file.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from .schema import LAYOUTS, TABLES

FOLDER_MAPPING = "csanalysis.yaml"


class MappingError(ValueError):
    """The mapping file or the settings are wrong (unknown keys, bad values)."""


@dataclass(frozen=True)
class Settings:
    as_of: dt.date | None = None
    grace_months: int = 0
    fiscal_year_start: int = 1
    gross_margin: float = 0.8
    data_start: dt.date | None = None

    def __post_init__(self):
        for name in ("as_of", "data_start"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, dt.date):
                try:
                    object.__setattr__(self, name, pd.Timestamp(v).date())
                except (ValueError, TypeError) as exc:
                    raise MappingError(f"setting {name}={v!r} is not a date (use YYYY-MM-DD)") from exc
        if not (isinstance(self.grace_months, int) and 0 <= self.grace_months <= 24):
            raise MappingError(f"setting grace_months={self.grace_months!r} must be a whole number of months, 0–24")
        if not (isinstance(self.fiscal_year_start, int) and 1 <= self.fiscal_year_start <= 12):
            raise MappingError(f"setting fiscal_year_start={self.fiscal_year_start!r} must be a month number 1–12")
        if not (0 < float(self.gross_margin) <= 1):
            raise MappingError(f"setting gross_margin={self.gross_margin!r} must be a share in (0, 1]")

    def updated(self, **kw) -> Settings:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})

    def to_dict(self) -> dict:
        return {f.name: (str(v) if isinstance(v := getattr(self, f.name), dt.date) else v) for f in fields(self)}


@dataclass(frozen=True)
class TableMapping:
    file: str | None = None
    columns: dict[str, str] = field(default_factory=dict)  # canonical name -> name in the file
    date_format: str | None = None
    values: dict[str, dict[Any, list]] = field(default_factory=dict)  # column -> {canonical: [codes]}
    attributes: dict[str, str] = field(default_factory=dict)  # column -> numeric | categorical (data/attributes.py)


@dataclass(frozen=True)
class Mapping:
    layout: str = "subscription"
    tables: dict[str, TableMapping] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    path: str | None = None

    def table(self, name: str) -> TableMapping:
        return self.tables.get(name, TableMapping())


def _attribute_kinds(where: str, table: str, raw) -> dict[str, str]:
    """A table's ``attributes:`` (column → numeric | categorical), checked."""
    from .attributes import KINDS

    if raw is None:
        return {}
    if not TABLES[table].extra_attributes:
        tables = sorted(n for n, s in TABLES.items() if s.extra_attributes)
        raise MappingError(f"{where}: table {table!r} has no customer attributes; 'attributes' belongs under {tables}")
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: table {table!r} attributes must map column names to a kind, e.g. "
                           "{company_size: categorical, monthly_charges: numeric}")
    out = {}
    for col, kind in raw.items():
        if str(kind) not in KINDS:
            raise MappingError(f"{where}: table {table!r} attribute {str(col)!r} has kind {kind!r}; "
                               f"use one of {list(KINDS)}")
        if str(col) in TABLES[table].columns:
            raise MappingError(f"{where}: table {table!r} attribute {str(col)!r} is a canonical column "
                               f"(type {TABLES[table].columns[str(col)]}); its kind is fixed")
        out[str(col)] = str(kind)
    return out


def load_mapping(mapping: str | Path | dict | Mapping | None, *, folder: Path | None = None) -> Mapping:
    """Read a mapping from a YAML path, a dict, or (when None) the source folder's ``csanalysis.yaml``."""
    if isinstance(mapping, Mapping):
        return mapping
    path = None
    if mapping is None:
        if folder is not None and (folder / FOLDER_MAPPING).is_file():
            mapping = folder / FOLDER_MAPPING
        else:
            return Mapping()
    if isinstance(mapping, (str, Path)):
        path = str(mapping)
        try:
            raw = yaml.safe_load(Path(mapping).read_text(encoding="utf-8")) or {}
        except FileNotFoundError as exc:
            raise MappingError(f"mapping file {path} does not exist") from exc
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise MappingError(f"mapping file {path} is not valid YAML: {exc}") from exc
    else:
        raw = dict(mapping)
    where = f"mapping {path}" if path else "mapping"
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected a YAML mapping with keys layout, tables, settings")
    unknown = set(raw) - {"layout", "tables", "settings"}
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {sorted(unknown)}; expected layout, tables, settings")
    layout = raw.get("layout", "subscription")
    if layout not in LAYOUTS:
        raise MappingError(f"{where}: layout {layout!r} is not one of {sorted(LAYOUTS)}")
    tables = {}
    for name, spec in (raw.get("tables") or {}).items():
        if name not in TABLES:
            raise MappingError(f"{where}: unknown table {name!r}; known tables: {sorted(TABLES)}")
        spec = spec or {}
        bad = set(spec) - {"file", "columns", "date_format", "values", "attributes"}
        if bad:
            raise MappingError(f"{where}: table {name!r} has unknown key(s) {sorted(bad)}")
        cols = {str(k): str(v) for k, v in (spec.get("columns") or {}).items()}
        unknown_cols = set(cols) - set(TABLES[name].columns)
        if unknown_cols and not TABLES[name].extra_numeric:
            raise MappingError(
                f"{where}: table {name!r} maps unknown canonical column(s) {sorted(unknown_cols)}; "
                f"canonical columns are {sorted(TABLES[name].columns)}"
            )
        values = {
            str(col): {canon: [codes] if not isinstance(codes, list) else codes for canon, codes in (m or {}).items()}
            for col, m in (spec.get("values") or {}).items()
        }
        attrs = _attribute_kinds(where, name, spec.get("attributes"))
        tables[name] = TableMapping(spec.get("file"), cols, spec.get("date_format"), values, attrs)
    settings_raw = raw.get("settings") or {}
    known = {f.name for f in fields(Settings)}
    if set(settings_raw) - known:
        raise MappingError(f"{where}: unknown setting(s) {sorted(set(settings_raw) - known)}; known: {sorted(known)}")
    return Mapping(layout, tables, Settings(**settings_raw), path)
