"""Mapping files and settings: how a user's export maps onto the canonical tables, in one place.

A mapping (YAML file or dict) may name each table's file, rename columns, give a date format, translate
coded values and (customers or snapshot) declare the kind of the export's own attributes (``attributes:
{company_size: categorical}``, see data/attributes.py); its ``settings`` hold ``as_of``, ``grace_months``,
``fiscal_year_start``, ``gross_margin``, ``data_start`` and ``currency``. A source folder may carry its own mapping as ``csanalysis.yaml``; it is read when no mapping is
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
FIRST_DATE, LAST_DATE = dt.date(1970, 1, 1), dt.date(2199, 12, 31)  # analysis dates this tool accepts


class MappingError(ValueError):
    """The mapping file or the settings are wrong (unknown keys, bad values)."""


MAX_YAML_BYTES = 1 << 20  # a mapping, a parameters file or a scorecard is a few kilobytes


class _PlainLoader(yaml.SafeLoader):
    """PyYAML's safe loader without its date guessing: a date stays text, so ``as_of: 2024-02-30`` is reported by
    the setting that holds it instead of failing inside the parser."""


_PlainLoader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def read_yaml(text: str | bytes, where: str, error: type[Exception] = None) -> Any:
    """Parse a small YAML document safely: at most :data:`MAX_YAML_BYTES`, UTF-8, no anchors or aliases (a few
    hundred bytes of nested aliases expand to gigabytes), dates left as text. Failures raise ``error`` (default
    :class:`MappingError`) naming ``where``."""
    error = error or MappingError
    if len(text) > MAX_YAML_BYTES:
        raise error(f"{where} is larger than {MAX_YAML_BYTES // 1024} KiB; a mapping or parameters file is a few lines")
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error(f"{where} is not UTF-8 text (first bad byte at position {exc.start})") from None
    try:
        for token in yaml.scan(text, Loader=_PlainLoader):
            if isinstance(token, (yaml.AliasToken, yaml.AnchorToken)):
                raise error(f"{where}: YAML anchors and aliases (& and *) are not accepted; write the values out")
        return yaml.load(text, Loader=_PlainLoader)  # noqa: S506 - a SafeLoader subclass
    except yaml.YAMLError as exc:
        raise error(f"{where} is not valid YAML: {str(exc).splitlines()[0]}") from None


@dataclass(frozen=True)
class Settings:
    as_of: dt.date | None = None
    grace_months: int = 0
    fiscal_year_start: int = 1
    gross_margin: float = 0.8
    data_start: dt.date | None = None
    currency: str | None = None  # of every amount (USD, JPY …); default: the revenue table's currency column

    def __post_init__(self):
        for name in ("as_of", "data_start"):
            v = getattr(self, name)
            if v is not None and not isinstance(v, (str, dt.date)):
                raise MappingError(f"setting {name}={v!r} is not a date (use YYYY-MM-DD)")
            if v is not None and not isinstance(v, dt.date):
                try:
                    object.__setattr__(self, name, pd.Timestamp(v).date())
                except (ValueError, TypeError) as exc:
                    raise MappingError(f"setting {name}={v!r} is not a date (use YYYY-MM-DD)") from exc
        for name in ("as_of", "data_start"):
            v = getattr(self, name)
            if v is not None and not (FIRST_DATE <= v <= LAST_DATE):
                raise MappingError(f"setting {name}={v} is outside the dates this tool can hold ({FIRST_DATE} to {LAST_DATE})")
        if isinstance(self.grace_months, bool) or not (isinstance(self.grace_months, int) and 0 <= self.grace_months <= 24):
            raise MappingError(f"setting grace_months={self.grace_months!r} must be a whole number of months, 0–24")
        if isinstance(self.fiscal_year_start, bool) or not (isinstance(self.fiscal_year_start, int) and 1 <= self.fiscal_year_start <= 12):
            raise MappingError(f"setting fiscal_year_start={self.fiscal_year_start!r} must be a month number 1–12")
        if isinstance(self.gross_margin, bool) or not isinstance(self.gross_margin, (int, float)) or not (0 < float(self.gross_margin) <= 1):
            raise MappingError(f"setting gross_margin={self.gross_margin!r} must be a share in (0, 1]")
        if self.currency is not None and (not isinstance(self.currency, str) or not self.currency.strip()
                                          or len(self.currency.strip()) > 8):
            raise MappingError(f"setting currency={self.currency!r} must be a currency code (USD, JPY …) or a short mark (¥)")

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
    # how the file writes its values (data/README.md, "Reading numbers and text")
    decimal: str = "."  # the decimal mark: "." or ","
    thousands: str | None = None  # the thousands separator, if any: ",", ".", " " or "'"
    encoding: str = "utf-8"  # the text encoding of a CSV file (e.g. cp932 for Shift_JIS exports)
    full_width: bool = False  # full-width digits, signs and separators (１２３，４５６) read as ASCII
    currency_marks: tuple[str, ...] = ()  # marks written inside amounts and removed (e.g. ¥, 円, $)
    allow_outside_folder: bool = False  # the mapping's file may be outside the data folder


@dataclass(frozen=True)
class Mapping:
    layout: str = "subscription"
    tables: dict[str, TableMapping] = field(default_factory=dict)
    settings: Settings = field(default_factory=Settings)
    path: str | None = None

    def table(self, name: str) -> TableMapping:
        return self.tables.get(name, TableMapping())


_READING = ("decimal", "thousands", "encoding", "full_width", "currency_marks", "allow_outside_folder")
DECIMAL_MARKS = (".", ",")
THOUSANDS_SEPARATORS = (",", ".", " ", "'")


def _reading(where: str, table: str, spec: dict) -> dict:
    """A table's reading options (decimal, thousands, encoding, full_width, currency_marks), checked."""
    import codecs

    out = {}
    if "decimal" in spec:
        if spec["decimal"] not in DECIMAL_MARKS:
            raise MappingError(f"{where}: table {table!r} decimal must be one of {list(DECIMAL_MARKS)}, not {spec['decimal']!r}")
        out["decimal"] = spec["decimal"]
    if spec.get("thousands") is not None:
        if spec["thousands"] not in THOUSANDS_SEPARATORS:
            raise MappingError(f"{where}: table {table!r} thousands must be one of {list(THOUSANDS_SEPARATORS)} "
                               f"(or left out for none), not {spec['thousands']!r}")
        if spec["thousands"] == out.get("decimal", "."):
            raise MappingError(f"{where}: table {table!r} thousands and decimal are both {spec['thousands']!r}")
        out["thousands"] = spec["thousands"]
    if "encoding" in spec:
        try:
            codecs.lookup(str(spec["encoding"]))
        except LookupError:
            raise MappingError(f"{where}: table {table!r} encoding {spec['encoding']!r} is not a known text encoding "
                               "(e.g. utf-8, cp932, shift_jis, euc-jp, utf-16, latin-1)") from None
        out["encoding"] = str(spec["encoding"])
    for key in ("full_width", "allow_outside_folder"):
        if key in spec:
            if not isinstance(spec[key], bool):
                raise MappingError(f"{where}: table {table!r} {key} must be true or false, not {spec[key]!r}")
            out[key] = spec[key]
    if "currency_marks" in spec:
        marks = spec["currency_marks"]
        marks = [marks] if isinstance(marks, str) else marks
        if not isinstance(marks, list) or not all(isinstance(m, str) and m.strip() for m in marks):
            raise MappingError(f"{where}: table {table!r} currency_marks must be a list of marks, e.g. ['¥', '円']")
        out["currency_marks"] = tuple(marks)
    return out


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
            if Path(mapping).stat().st_size > MAX_YAML_BYTES:
                raise MappingError(f"mapping file {path} is larger than {MAX_YAML_BYTES // 1024} KiB")
            raw = read_yaml(Path(mapping).read_bytes(), f"mapping file {path}") or {}
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise MappingError(f"mapping file {path} does not exist") from exc
    else:
        raw = dict(mapping)
    where = f"mapping {path}" if path else "mapping"
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: expected a YAML mapping with keys layout, tables, settings")
    unknown = set(raw) - {"layout", "tables", "settings"}
    if unknown:
        raise MappingError(f"{where}: unknown key(s) {sorted(unknown)}; expected layout, tables, settings")
    layout = raw.get("layout", "subscription")
    if not isinstance(layout, str) or layout not in LAYOUTS:
        raise MappingError(f"{where}: layout {layout!r} is not one of {sorted(LAYOUTS)}")
    tables = {}
    if not isinstance(raw.get("tables") or {}, dict):
        raise MappingError(f"{where}: tables must map table names to their settings (file, columns, …)")
    for name, spec in (raw.get("tables") or {}).items():
        if name not in TABLES:
            raise MappingError(f"{where}: unknown table {name!r}; known tables: {sorted(TABLES)}")
        spec = spec or {}
        if not isinstance(spec, dict):
            raise MappingError(f"{where}: table {name!r} must be a mapping of its settings (file, columns, …)")
        bad = set(spec) - {"file", "columns", "date_format", "values", "attributes", *_READING}
        if bad:
            raise MappingError(f"{where}: table {name!r} has unknown key(s) {sorted(bad)}")
        for key, kind in (("file", str), ("date_format", str), ("columns", dict), ("values", dict)):
            if spec.get(key) is not None and not isinstance(spec[key], kind):
                raise MappingError(f"{where}: table {name!r} {key} must be {'text' if kind is str else 'a mapping'}, "
                                   f"not {spec[key]!r}")
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
        tables[name] = TableMapping(spec.get("file"), cols, spec.get("date_format"), values, attrs,
                                    **_reading(where, name, spec))
    settings_raw = raw.get("settings") or {}
    if not isinstance(settings_raw, dict):
        raise MappingError(f"{where}: settings must be a mapping (as_of, grace_months, …)")
    known = {f.name for f in fields(Settings)}
    if set(settings_raw) - known:
        raise MappingError(f"{where}: unknown setting(s) {sorted(set(settings_raw) - known)}; known: {sorted(known)}")
    return Mapping(layout, tables, Settings(**settings_raw), path)
