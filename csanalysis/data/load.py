"""Load and validate a data source in the engine (Ibis; embedded DuckDB by default).

Raw files are read as text and parsed in the engine, counting every value that fails to parse (no type guesser
looks at a sample). Every check is a count query, so a million customers never pass through pandas row by
row; pandas only sees the aggregated tables (panel, spells, customer-month usage, …).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
import shutil
import tempfile
import weakref
from functools import partial
from pathlib import Path
from typing import Any

import ibis
import numpy as np
import pandas as pd
from ibis import _

from .. import periods
from ..periods import month_start
from . import attributes, direct
from . import spells as sp
from .dataset import Lazy
from .mapping import Mapping, MappingError, Settings, TableMapping, load_mapping
from . import schema as _schema
from .schema import LAYOUTS, PAYMENT_STATUSES, REVENUE_KINDS, TABLES, TableSpec
from .validation import DataValidationError, ValidationReport

N_EXAMPLES = 5
USAGE_MAX_MEASURES = ("active_users", "features_used")  # monthly maximum; other measures are summed
RANGES = {("nps", "score"): (0, 10)}  # checked with the types, so every error shows in one report
TRUE_CODES = ("true", "1", "yes", "y", "t", "churned")
FALSE_CODES = ("false", "0", "no", "n", "f", "active")
DAYS_PER_MONTH = 30.4375
MAX_AMOUNT = 1e13  # sums of amounts below this hold whole cents in double precision
MAGNITUDE_WARNING = 1000  # an amount this many times the median absolute amount is flagged


ENGINE_MEMORY_ENV = "CSANALYSIS_ENGINE_MEMORY"  # the embedded DuckDB's memory limit, e.g. "3GB" (see engine_connection)
ENGINE_MEMORY_DEFAULT = "2GB"
LOAD_ENGINE_MEMORY = "3GB"  # the limit while a load builds its cached tables (load_memory)


# --------------------------------------------------------------------------------------------- engine


def engine_connection(database: str = ":memory:", *, read_only: bool = False):
    """The embedded DuckDB of a load (an Ibis backend), bounded so that it spills to disk instead of growing.

    DuckDB's buffer manager is held to ``memory_limit`` (:data:`ENGINE_MEMORY_DEFAULT`, or the environment
    variable :data:`ENGINE_MEMORY_ENV`, e.g. ``CSANALYSIS_ENGINE_MEMORY=6GB``): the loader's cached tables (the
    monthly MRR, spells and panel) and the large sorts, joins and windows of its checks move to a spill folder of
    the connection's own under the system's temporary folder (removed with the connection) when they do not fit.
    DuckDB's default limit, 80% of the machine's memory, let one load of ten million customers grow the Python
    process past what the rest of the analysis needs. Queries that fit are unaffected.

    Without a ``database`` of the user's, the engine's database is a file in that spill folder rather than
    DuckDB's in-memory one, so the tables a load caches (at ten million customers the monthly MRR alone is 158M
    rows, about 4 GB) have a file to move to under the limit (the monthly MRR's grouping alone, at 10M, ran under
    2 GB with the file and not in memory; inside a whole load it needed :func:`load_memory` too). The file goes
    with the folder."""
    limit = os.environ.get(ENGINE_MEMORY_ENV, "").strip() or ENGINE_MEMORY_DEFAULT
    spill = tempfile.mkdtemp(prefix="csanalysis-duckdb-")
    if database == ":memory:":
        database = os.path.join(spill, "engine.duckdb")
    try:
        con = ibis.duckdb.connect(database, read_only=read_only, memory_limit=limit, temp_directory=spill)
    except Exception:
        shutil.rmtree(spill, ignore_errors=True)
        raise
    weakref.finalize(con, shutil.rmtree, spill, True)
    return con


@contextlib.contextmanager
def load_memory(con, own: bool = True):
    """The engine's memory limit raised to :data:`LOAD_ENGINE_MEMORY` while a load builds its cached tables, then
    set back to :data:`ENGINE_MEMORY_DEFAULT` (the tables move to the engine's file as they no longer fit).
    The monthly MRR is one grouped query over every recurring row (at ten million customers, 110M rows into
    158M customer-months): under 2 GB DuckDB's grouping stopped with "Out of Memory Error" however it was set
    (fewer threads, no insertion order); under 3 GB the whole load ran with the process at 3.4 GB.
    Only on a connection of :func:`engine_connection` (``own``) and when the user has not set
    :data:`ENGINE_MEMORY_ENV`; the benchmark's hand-written DuckDB reference runs under it too."""
    if not own or os.environ.get(ENGINE_MEMORY_ENV, "").strip():
        yield
        return
    con.raw_sql(f"SET memory_limit = '{LOAD_ENGINE_MEMORY}'")
    try:
        yield
    finally:
        con.raw_sql(f"SET memory_limit = '{ENGINE_MEMORY_DEFAULT}'")


# --------------------------------------------------------------------------------------------- sources


class _Source:
    """Finds the raw table for each canonical name in a folder, a DuckDB file or an Ibis backend."""

    def __init__(self, source: Any, mapping: Mapping, report: ValidationReport, backend=None):
        self.mapping, self.report = mapping, report
        self.folder: Path | None = None
        self._typed: set[str] = set()
        self.own = False
        if isinstance(source, ibis.BaseBackend):
            self.con, self.kind = source, "backend"
        else:
            path = Path(source)
            if path.is_dir():
                self.folder, self.kind = path, "folder"
                self.con = backend if backend is not None else engine_connection()
                self.own = backend is None  # the loader's own engine (its limits are ours to set)
            elif path.is_file() and path.suffix in (".duckdb", ".db", ".ddb"):
                self.con, self.kind = engine_connection(str(path), read_only=True), "duckdb"
            elif path.exists():
                raise DataValidationError(_single(report, "source", f"{path} is neither a folder of CSV/Parquet files nor a DuckDB database file"))
            else:
                raise DataValidationError(_single(report, "source", f"{path} does not exist"))

    def inside_folder(self) -> bool:
        """Whether every file read is inside the source folder or is the source file (the content the cache key
        hashes; a mapping may name a file outside the folder, with allow_outside_folder)."""
        if self.folder is None:
            return self.kind == "duckdb"
        root = self.folder.resolve()
        return all(label.startswith("table ") or Path(label).resolve().is_relative_to(root)
                   for label in getattr(self, "_labels", {}).values())

    def typed(self, name: str) -> bool:
        """Whether the raw table is typed data that the load may read again later: a Parquet file or a table of
        a DuckDB file opened read-only (not CSV text, not a table of the caller's own connection)."""
        return name in self._typed

    def file_label(self, name: str) -> str | None:
        return getattr(self, "_labels", {}).get(name)

    def read(self, name: str) -> ibis.Table | None:
        tmap = self.mapping.table(name)
        self._labels = getattr(self, "_labels", {})
        if self.kind != "folder":
            table_name = tmap.file or name
            if table_name not in _table_names(self.con):
                return None
            self._labels[name] = f"table {table_name}"
            if self.kind == "duckdb":  # opened read-only: its tables cannot change after the load
                self._typed.add(name)
            return self.con.table(table_name)
        if tmap.file:
            candidates = [self.folder / tmap.file]
            inside = candidates[0].resolve().is_relative_to(self.folder.resolve())
            if not inside and not tmap.allow_outside_folder:
                self.report.add("error", name, f"the mapping names file {tmap.file}, which is outside the data folder "
                                f"{self.folder}; move it in, or set allow_outside_folder: true for this table",
                                file=str(candidates[0]))
                return None
            if not candidates[0].exists():
                self.report.add("error", name, f"the mapping names file {tmap.file}, which does not exist in {self.folder}",
                                file=str(candidates[0]))
                return None
        else:
            candidates = sorted(p for p in self.folder.glob(f"{name}.*") if p.is_file())
            if not candidates:
                return None
        path = candidates[0]
        self._labels[name] = str(path)
        suffixes = "".join(path.suffixes).lower()
        try:
            if suffixes in (".csv", ".csv.gz", ".tsv", ".txt"):
                if tmap.encoding.replace("_", "-").lower() in ("utf-8", "utf8"):
                    _check_utf8(path)
                else:
                    path = _as_utf8(path, tmap.encoding)
                twice = _repeated_headers(path)
                if twice:
                    self.report.add("error", name, "the header repeats column name(s) " + ", ".join(
                        f"'{c}' ({n} times)" for c, n in twice.items()) + ": each column needs its own name (rename or "
                        "drop the copies; the reader would take one and rename the others)", column=next(iter(twice)),
                        file=self._labels[name])
                    return None
                t = self.con.read_csv(str(path), table_name=f"raw_{name}", all_varchar=True, header=True)
            elif suffixes in (".parquet", ".pq"):
                # a name of its own: the typed table may stay a view of this one (see _prepare), which a later
                # load on the same backend must not replace
                t = self.con.read_parquet(str(path), table_name=ibis.util.gen_name(f"raw_{name}"))
                self._typed.add(name)
            else:
                self.report.add("error", name, f"{path.name} is not a CSV or Parquet file (found '{suffixes}')", file=str(path))
                return None
            t.count().execute()  # force the read now, so a broken file is reported here
        except UnicodeDecodeError as exc:
            hint = ("set encoding (e.g. encoding: cp932 for a Shift_JIS export from a Japanese system) for this table "
                    "in the mapping, or re-export the file as UTF-8")
            enc = "UTF-8" if tmap.encoding.replace("_", "-").lower() in ("utf-8", "utf8") else tmap.encoding
            self.report.add("error", name, f"the file is not {enc} text (first bad byte at position "
                            f"{exc.start}); {hint}", file=str(path))
            return None
        except Exception as exc:  # noqa: BLE001 - any reader failure is reported with the file name
            msg = str(exc).splitlines()[0][:300]
            self.report.add("error", name, f"the file cannot be read as {'CSV' if 'csv' in suffixes else 'Parquet'}: {msg}", file=str(path))
            return None
        return t


def _check_utf8(path: Path, chunk: int = 1 << 24) -> None:
    """Raise UnicodeDecodeError if the file is not UTF-8 (streamed; gzip is left to the reader)."""
    if path.suffix == ".gz":
        return
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    offset = 0
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            try:
                decoder.decode(block)
            except UnicodeDecodeError as exc:
                raise UnicodeDecodeError("utf-8", block, offset + exc.start, offset + exc.end, exc.reason) from None
            offset += len(block)
        decoder.decode(b"", final=True)


_TRANSCODED: list = []  # temporary folders of files read through another encoding (removed at exit)


def _as_utf8(path: Path, encoding: str) -> Path:
    """A UTF-8 copy of a CSV file written in another encoding (the engine reads UTF-8), streamed; a byte that is
    not valid in ``encoding`` raises UnicodeDecodeError like the UTF-8 check."""
    import atexit
    import codecs
    import gzip
    import shutil
    import tempfile

    if not _TRANSCODED:
        _TRANSCODED.append(Path(tempfile.mkdtemp(prefix="csanalysis-utf8-")))
        atexit.register(shutil.rmtree, _TRANSCODED[0], True)
    out = _TRANSCODED[0] / f"{len(list(_TRANSCODED[0].iterdir()))}-{path.name.removesuffix('.gz')}"
    opener = gzip.open if path.suffix == ".gz" else open
    decoder = codecs.getincrementaldecoder(encoding)()
    offset = 0
    with opener(path, "rb") as src, open(out, "w", encoding="utf-8", newline="") as dst:
        while block := src.read(1 << 24):
            try:
                dst.write(decoder.decode(block))
            except UnicodeDecodeError as exc:
                raise UnicodeDecodeError(encoding, block, offset + exc.start, offset + exc.end, exc.reason) from None
            offset += len(block)
        dst.write(decoder.decode(b"", final=True))
    return out


def _repeated_headers(path: Path) -> dict[str, int]:
    """Column names the CSV header holds more than once (the reader would keep them apart as name, name_1 …)."""
    import csv
    import gzip

    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt", encoding="utf-8-sig", errors="replace", newline="") as fh:
        first = fh.readline()
    delimiter = max(",;\t|", key=first.count)
    names = [n.strip() for n in next(csv.reader([first], delimiter=delimiter), [])]
    return {n: names.count(n) for n in dict.fromkeys(names) if n and names.count(n) > 1}


def _single(report: ValidationReport, table: str, message: str) -> ValidationReport:
    report.add("error", table, message)
    return report


# ------------------------------------------------------------------------------------------- parsing


_FMT_TOKENS = {
    "%E": r"(?P<E>(?:令和|平成|昭和|大正|R|H|S|T)(?:\d{1,2}|元))",  # a Japanese era and its year: 令和6, R6, 平成元
    "%Y": r"(?P<Y>\d{4})", "%y": r"(?P<y>\d{2})", "%m": r"(?P<m>\d{1,2})", "%d": r"(?P<d>\d{1,2})",
    "%b": r"(?P<b>[A-Za-z]{3})", "%H": r"\d{1,2}", "%M": r"\d{2}", "%S": r"\d{2}(?:\.\d+)?", "%%": "%",
}
_MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]


# an ISO date, optionally with a time and zone (the date part is kept); anything else after it is a failure
_ISO_DATE = r"^(\d{4}-\d{1,2}-\d{1,2})(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?$"
_ERA_BASE = {"令和": 2018, "R": 2018, "平成": 1988, "H": 1988, "昭和": 1925, "S": 1925, "大正": 1911, "T": 1911}
# full-width digits, signs and separators (and the minus sign) as their ASCII forms, for ``full_width: true``
_FULL_WIDTH, _ASCII = "０１２３４５６７８９＋－−．，／：　", "0123456789+--.,/: "


def _parse_date(col, fmt: str | None, full_width: bool = False):
    """Engine expression: a text column parsed as a date; NULL where it does not parse (never an exception).

    ISO dates (optionally with a time, whose date part is taken) use TRY_CAST; text after the date or time is a
    failure, never cut off. A strptime-style format is matched with a regular expression and rebuilt as ISO
    text, then cast the same way, so an impossible date (31 February) is a parse failure, not a crash. ``%E`` is
    a Japanese era with its year (令和6, R6, 平成元; ``%E年%m月%d日``).
    """
    s = _trimmed(col)
    if full_width:
        s = s.translate(_FULL_WIDTH, _ASCII)
    if not fmt:
        # a plain date (ten characters) is cast as it is; anything longer must be a date with a time and zone
        dated = ibis.ifelse(s.re_search(_ISO_DATE), s.re_extract(_ISO_DATE, 1), ibis.null("string"))
        return ibis.ifelse(s.length() == 10, s, dated).try_cast("date")
    pattern, groups = "", []
    i = 0
    while i < len(fmt):
        tok = fmt[i : i + 2]
        if tok in _FMT_TOKENS:
            pattern += _FMT_TOKENS[tok]
            if tok in ("%E", "%Y", "%y", "%m", "%d", "%b"):
                groups.append(tok[1])
            i += 2
        else:
            pattern += re.escape(fmt[i])
            i += 1
    pattern = "^" + re.sub(r"\(\?P<\w>", "(", pattern) + "$"
    ok = s.re_search(pattern)
    part = {g: s.re_extract(pattern, k + 1) for k, g in enumerate(groups)}
    year = part["Y"] if "Y" in part else ("20" + part["y"] if "y" in part else None)
    if "E" in part:
        era = part["E"].re_extract(r"^(令和|平成|昭和|大正|R|H|S|T)", 1)
        n = part["E"].re_extract(r"(\d{1,2}|元)$", 1)
        base = ibis.cases(*[(era == k, v) for k, v in _ERA_BASE.items()], else_=None)
        year = (base + ibis.ifelse(n == "元", 1, n.try_cast("int32"))).cast("string")
    if "m" in part:
        month = part["m"].lpad(2, "0")
    elif "b" in part:
        month = ibis.cases(*[(part["b"].lower() == name, f"{k + 1:02d}") for k, name in enumerate(_MONTHS)], else_=None)
    else:
        month = None
    day = part["d"].lpad(2, "0") if "d" in part else ibis.literal("01")
    if year is None or month is None:
        raise MappingError(f"date_format {fmt!r} needs a year (%Y, %y or %E) and a month (%m or %b)")
    iso = year.concat("-", month, "-", day)
    return ibis.ifelse(ok, iso, ibis.null("string")).try_cast("date")


def _trimmed(col):
    """Engine expression: the column as text without leading or trailing white space. The replacement runs only
    on the rows that have such space (a regular-expression match is about half the cost of a replace)."""
    s = col.cast("string")
    return ibis.ifelse(_has_edge_space(s), s.re_replace(_EDGE_SPACE, ""), s)


_SPACES = (" ", "\t", "\n", "\v", "\f", "\r")  # what ``\s`` matches, in DuckDB (RE2) or Spark (Java): ASCII


def _has_edge_space(s):
    """Engine expression: the text starts or ends with white space (``_EDGE``). Every white-space character sorts
    at or below a space, and ends one of :data:`_SPACES`, so the regular expression runs only on the values whose
    first character sorts there or whose last character is one of them: the comparisons cost a fraction of a
    regular-expression match, and most values are decided by them. (A suffix test compares bytes; taking the last
    character, ``right(1)``, walks the text's characters and cost more than the rest of a table's checks.)"""
    ends = s.endswith(_SPACES[0])
    for c in _SPACES[1:]:
        ends = ends | s.endswith(c)
    return ibis.ifelse((s < "!") | ends, s.re_search(_EDGE), False)


def _is_blank(col):
    if not col.type().is_string():
        return col.isnull()  # a typed value (date, number) is never blank text: no need to write it as text
    # blank text is empty or starts with white space (which sorts at or below a space; see _has_edge_space)
    return col.isnull() | ibis.ifelse(col < "!", col.re_search(r"^\s*$"), False)


def _number_pattern(tmap: TableMapping) -> str:
    """The numbers a table's text may hold, written with its decimal mark and (in groups of three) its thousands
    separator: ``1234.5``, ``-1,234.50``, ``1.234,5`` … Anything else (``1040,0`` without ``decimal: ','``,
    ``nan``, ``inf``) is not a number."""
    d = re.escape(tmap.decimal)
    whole = r"\d+"
    if tmap.thousands:
        t = r"[ \u00a0\u202f]" if tmap.thousands == " " else re.escape(tmap.thousands)
        whole = rf"(?:\d{{1,3}}(?:{t}\d{{3}})+|\d+)"
    return rf"^[+-]?(?:{whole}(?:{d}\d*)?|{d}\d+)(?:[eE][+-]?\d+)?$"


def _number_text(raw, tmap: TableMapping):
    """Engine expression: the text of a number column as it reads under the table's options (full-width forms and
    currency marks removed), still with the file's decimal mark and thousands separator."""
    s = _trimmed(raw)
    if tmap.full_width:
        s = s.translate(_FULL_WIDTH, _ASCII)
    for mark in tmap.currency_marks:
        s = s.replace(mark, "")
    if tmap.full_width or tmap.currency_marks:
        s = _trimmed(s)
    return s


def _typed_column(raw, kind: str, fmt: str | None, tmap: TableMapping | None = None):
    """(parsed expression, failure condition) for a raw column of a given kind, read with the table's options
    (``decimal``, ``thousands``, ``full_width``, ``currency_marks``; data/README.md)."""
    tmap = tmap or TableMapping()
    dtype = raw.type()
    if kind == "date":
        if dtype.is_date():
            parsed = raw
        elif dtype.is_timestamp():
            parsed = raw.date()
        else:
            parsed = _parse_date(raw, fmt, tmap.full_width)
        return parsed, raw.notnull() & ~_is_blank(raw) & parsed.isnull() if not (dtype.is_date() or dtype.is_timestamp()) else ibis.literal(False)
    if kind in ("number", "integer"):
        if dtype.is_numeric():
            parsed = raw.cast("float64")
            # NaN and infinities are no amounts (a typed file can hold them; text never parses to them)
            fail = (raw.isnan() | raw.isinf()) if dtype.is_floating() else ibis.literal(False)
            parsed = ibis.ifelse(fail, ibis.null("float64"), parsed) if dtype.is_floating() else parsed
        else:
            text = _number_text(raw, tmap)
            plain = text
            if tmap.thousands:
                plain = plain.re_replace(r"[ \u00a0\u202f]" if tmap.thousands == " " else re.escape(tmap.thousands), "")
            if tmap.decimal != ".":
                plain = plain.replace(tmap.decimal, ".")
            parsed = ibis.ifelse(text.re_search(_number_pattern(tmap)), plain.try_cast("float64"), ibis.null("float64"))
            parsed = ibis.ifelse(text == "", ibis.null("float64"), parsed)
            fail = raw.notnull() & ~_is_blank(raw) & parsed.isnull()
        if kind == "integer":
            fail = fail | (parsed.notnull() & (parsed != parsed.floor()))
            parsed = ibis.ifelse(parsed == parsed.floor(), parsed, ibis.null("float64")).cast("int64")
        return parsed, fail
    if kind == "flag":
        text = _trimmed(raw).lower()
        parsed = ibis.cases((text.isin(TRUE_CODES), 1), (text.isin(FALSE_CODES), 0), else_=ibis.null("int8"))
        return parsed.cast("int8"), raw.notnull() & ~_is_blank(raw) & parsed.isnull()
    # id / text
    text = _trimmed(raw)
    return ibis.ifelse(text == "", ibis.null("string"), text), ibis.literal(False)


def _kind_word(kind: str, fmt: str | None) -> str:
    return {
        "date": f"dates that cannot be parsed as {fmt or 'YYYY-MM-DD'}",
        "number": "values that are not numbers",
        "numeric attribute": "values that are not numbers (the mapping declares this attribute numeric)",
        "integer": "values that are not whole numbers",
        "flag": "values that are not a recognised yes/no flag (" + "/".join(TRUE_CODES[:3]) + " or " + "/".join(FALSE_CODES[:3]) + ")",
    }.get(kind, "bad values")


def _hint(kind: str, examples: list, tmap: TableMapping) -> str | None:
    """The mapping option that would read such values, or what they are, from the failing examples; the reader
    never guesses it (a comma may be a decimal mark or a thousands separator)."""
    text = [str(e).strip() for e in examples if e is not None]
    if kind == "date":
        if any(era in t for t in text for era in _ERA_BASE if len(era) > 1):
            return "Japanese era dates read with date_format: '%E年%m月%d日' (令和6年5月17日)"
        if any("年" in t for t in text):
            return "dates written with 年月日 read with date_format: '%Y年%m月%d日'"
        if not tmap.full_width and any(c in _FULL_WIDTH for t in text for c in t):
            return "full-width digits read with full_width: true for this table"
        if any(re.match(r"^\d{4}-\d{1,2}-\d{1,2}\S", t) for t in text):
            return "text follows the date: fix the values (a date is read whole, never cut off)"
        return None
    if kind not in ("number", "integer", "numeric attribute"):
        return None
    if any(t.lower().lstrip("+-") in ("nan", "inf", "infinity", "na", "n/a", "null", "none") for t in text):
        return "NaN and infinities are not amounts: leave the cell empty or fix the value"
    if not tmap.full_width and any(c in _FULL_WIDTH for t in text for c in t):
        return "full-width digits read with full_width: true for this table"
    marks = sorted({c for t in text for c in t if c in "¥￥円$€£" and c not in tmap.currency_marks})
    if marks:
        return f"currency marks read with currency_marks: {marks} for this table"
    if any(re.match(r"^[+-]?\d{1,3}(\.\d{3})+,\d+$", t) or re.match(r"^[+-]?\d+,\d{1,2}$", t) for t in text):
        return "a decimal comma reads with decimal: ',' (and thousands: '.') for this table"
    if any(re.match(r"^[+-]?\d{1,3}(,\d{3})+(\.\d+)?$", t) for t in text):
        return "a thousands separator reads with thousands: ',' for this table"
    if any("," in t for t in text):
        return "set decimal and thousands for this table (the reader never guesses what a comma means)"
    return None


def _examples(expr, limit: int = N_EXAMPLES) -> list:
    """The first ``limit`` distinct values of a one-column expression, smallest first: the same examples on every
    run (a parallel engine returns ``distinct().limit()`` in any order)."""
    distinct = expr.distinct()
    return distinct.order_by(distinct.columns[0]).limit(limit).execute().iloc[:, 0].tolist()


def _quoted_ids(column: str, examples: list) -> list[str]:
    """The examples of a finding on ``column`` (its name in the standard layout) that are customer ids."""
    from .pseudonym import ID_COLUMNS

    return [str(e) for e in examples] if column in ID_COLUMNS else []


def _parses_text(dtype, kind: str) -> bool:
    """Whether :func:`_typed_column` parses this raw column from text (a CSV column, a number stored as text)."""
    if kind == "date":
        return not (dtype.is_date() or dtype.is_timestamp())
    if kind in ("number", "integer"):
        return not dtype.is_numeric()
    return kind == "flag"


def _prepare(name: str, raw: ibis.Table, tmap: TableMapping, report: ValidationReport, file: str | None,
             typed_source: bool = False):
    """Rename, parse and type one raw table in the engine; record every failure. Returns (table, n_rows).

    ``typed_source``: the raw table is a Parquet file or a table of a read-only DuckDB file. When its columns
    have the canonical types already and no value needs trimming, the typed table is a view of it (casts only),
    not a copy: writing the copy costs more than reading the file again in the later queries (and holds the
    whole table in memory). The file is then read again when a lazy table (usage, …) is first built."""
    spec: TableSpec = TABLES[name]
    available = list(raw.columns)
    missing_named = {c: s for c, s in tmap.columns.items() if s not in available}
    for canon, src in missing_named.items():
        report.add("error", name, f"the mapping names column '{src}' for '{canon}', but the file has no such column "
                   f"(columns are: {', '.join(available)})", column=src, file=file)
    n_rows = None  # counted with the checks below (one pass), or on its own when a column is missing

    def counted() -> int:
        return n_rows if n_rows is not None else int(raw.count().execute())

    selected, fails = {}, {}
    kept_text: dict[str, Any] = {}  # id and text columns, trimmed only if some value has white space at an edge
    parses_text = False
    for canon, kind in spec.columns.items():
        src = tmap.columns.get(canon, canon)
        if src not in available:
            if canon in spec.required and canon not in missing_named:
                n_rows = counted()
                report.add("error", name, f"required column '{canon}' is missing (columns are: {', '.join(available)})",
                           column=canon, n_rows=n_rows, file=file)
            continue
        col = raw[src]
        if canon in tmap.values and kind != "flag":
            col = _translate(col, tmap.values[canon])
        if kind == "flag" and canon in tmap.values:
            codes = tmap.values[canon]
            text = _trimmed(col)
            true_codes = [str(c) for c in codes.get(True, codes.get("true", []))]
            false_codes = [str(c) for c in codes.get(False, codes.get("false", []))]
            parsed = ibis.cases((text.isin(true_codes), 1), (text.isin(false_codes), 0), else_=ibis.null("int8")).cast("int8")
            fail = col.notnull() & parsed.isnull()
        else:
            parsed, fail = _typed_column(col, kind, tmap.date_format, tmap)
        if kind in ("id", "text") and canon not in tmap.values:
            kept_text[canon] = col
        else:
            parses_text = parses_text or canon in tmap.values or _parses_text(col.type(), kind)
        selected[canon] = parsed
        fails[canon] = (fail, kind, src)
        if (name, canon) in RANGES:
            lo, hi = RANGES[name, canon]
            fails[canon + "\0range"] = (parsed.notnull() & ((parsed < lo) | (parsed > hi)), f"range {lo}–{hi}", src)
        if canon in spec.required:
            fails[canon + "\0null"] = (_is_blank(col), "null", src)
    if spec.extra_numeric:
        used = {tmap.columns.get(c, c) for c in spec.columns}
        for src in available:
            if src in used or src in missing_named.values():
                continue
            canon = {v: k for k, v in tmap.columns.items()}.get(src, src)
            if canon in spec.columns:
                continue
            parsed, fail = _typed_column(raw[src], "number", None, tmap)
            parses_text = parses_text or _parses_text(raw[src].type(), "number")
            selected[canon] = parsed
            fails[canon] = (fail, "number", src)
    extras = _extra_attributes(name, spec, tmap, available, missing_named, report, file)
    extra_cols = {}
    for src, declared in extras.items():
        col = extra_cols[src] = _translate(raw[src], tmap.values[src]) if src in tmap.values else raw[src]
        if declared == "categorical":
            selected[src] = _typed_column(col, "text", None)[0]
            continue
        parsed, fail = _typed_column(col, "number", None, tmap)
        selected[src] = parsed
        parses_text = parses_text or _parses_text(col.type(), "number")
        # declared numeric: every failure is an error; inferred: a failure makes the column text (below)
        fails[src] = (fail, "numeric attribute" if declared == "numeric" else "infer", src)
    if not selected or any(f.level == "error" and f.table == name and f.column is not None and "missing" in f.message
                           for f in report.findings):
        return None, counted()
    # one pass counts the rows, every failure of every column, and the text values with white space at an edge (a
    # typed value written as text has none)
    checks = {key: ibis.ifelse(fail, 1, 0).sum() for key, (fail, *_r) in fails.items() if not _is_literal_false(fail)}
    edges = {canon: ibis.ifelse(_has_edge_space(col), 1, 0).sum()
             for canon, col in kept_text.items() if col.type().is_string()}
    aggs = {"n": raw.count(), **{f"c{i}": v for i, v in enumerate(checks.values())},
            **{f"e{i}": v for i, v in enumerate(edges.values())}}
    counts = raw.aggregate(**aggs).execute().iloc[0]
    n_rows = int(counts["n"])
    for i, canon in enumerate(edges):
        if int(counts[f"e{i}"] or 0):
            parses_text = True  # trimmed as _typed_column does
            del kept_text[canon]
    for canon, col in kept_text.items():
        # no value to trim: the same column as _typed_column's, without a regular expression per value
        text = col.cast("string")
        selected[canon] = ibis.ifelse(text == "", ibis.null("string"), text)
    for i, key in enumerate(checks):
        n_bad = int(counts[f"c{i}"] or 0)
        if not n_bad:
            continue
        fail, kind, src = fails[key]
        canon = key.split("\0")[0]
        if kind == "infer":  # an attribute with values that are not numbers: categorical (text)
            selected[canon] = _typed_column(extra_cols[src], "text", None)[0]
            continue
        if kind == "null":
            report.add("error", name, "required values are empty", column=src, n_rows=n_bad, file=file)
        elif kind.startswith("range"):
            examples = _examples(raw.filter(fail).select(src))
            report.add("error", name, f"{n_bad:,} of {n_rows:,} rows are outside {kind.split()[1]}", column=src,
                       n_rows=n_bad, examples=examples, ids=_quoted_ids(canon, examples), file=file)
        else:
            examples = _examples(raw.filter(fail).select(src))
            hint = _hint(kind, examples, tmap)
            report.add("error", name, f"{n_bad:,} of {n_rows:,} rows have {_kind_word(kind, tmap.date_format)}"
                       + (f"; {hint}" if hint else ""), column=src, n_rows=n_bad, examples=examples,
                       ids=_quoted_ids(canon, examples), file=file)
    t = raw.select(**selected)
    if typed_source and not parses_text:
        return t, n_rows
    # Engine-side reading is lazy: cache so every later query does not re-parse the text.
    return t.cache() if hasattr(t, "cache") else t, n_rows


def _extra_attributes(name: str, spec: TableSpec, tmap: TableMapping, available: list[str], missing_named: dict,
                      report: ValidationReport, file: str | None) -> dict[str, str | None]:
    """The columns of a customers or snapshot table kept as attributes (data/attributes.py), each with the kind the
    mapping declares for it (None: inferred from its values)."""
    if not spec.extra_attributes:
        return {}
    used = {tmap.columns.get(c, c) for c in spec.columns}
    out = {}
    for src in available:
        if src in used or src in missing_named.values():
            continue
        if src in spec.columns:  # a canonical name the mapping reads from another column
            report.add("note", name, f"column '{src}' is left out: the mapping reads '{src}' from column "
                       f"'{tmap.columns[src]}'", column=src, file=file,
                       key="finding.column_left_out", values={"column": src, "source": tmap.columns[src]})
            continue
        out[src] = tmap.attributes.get(src)
    for src in sorted(set(tmap.attributes) - set(out)):
        report.add("error", name, f"the mapping gives a kind for attribute '{src}', but the file has no such column "
                   f"(columns are: {', '.join(available)})", column=src, file=file)
    return out


def _is_literal_false(expr) -> bool:
    op = expr.op()
    return getattr(op, "value", None) is False


def _translate(col, codes: dict) -> Any:
    text = _trimmed(col)
    cases = [(text.isin([str(c) for c in src_codes]), str(canon)) for canon, src_codes in codes.items()]
    return ibis.cases(*cases, else_=text)


# ---------------------------------------------------------------------------------------- the dataset


# Leading/trailing white space. Not ``strip()``: on PySpark, ibis renders it as TRIM with a set of characters that
# includes a literal backslash-f, which also eats trailing 'f's ('one_off' → 'one_o').
_EDGE_SPACE = r"^\s+|\s+$"
_EDGE = r"^\s|\s$"


def _scalar(expr, default):
    """A scalar query's value, ``default`` for an empty aggregate (DuckDB gives None, Spark NaN)."""
    return _scalar_value(expr.execute(), default)


def _scalar_value(v, default):
    """An aggregate's value, ``default`` for an empty aggregate (None or NaN)."""
    return default if v is None or pd.isna(v) else v


def _median(col) -> float | None:
    """The median of an engine column (None when it has no value), as DuckDB's ``median`` gives it — the middle
    value, or ``lo + (hi − lo) · 0.5`` of the two middle values — from a count per distinct value and a running sum
    over them: grouping and windows spill to disk when the engine's memory is short, where ``median`` must hold every
    value at once (at ten million customers, more than a gigabyte for the revenue amounts)."""
    t = col.name("v").as_table().filter(_.v.notnull())
    h = t.group_by("v").aggregate(c=_.count())
    # the running count and the total, so that one query finds the middle ranks (the counts grouped once)
    h = h.mutate(cum=h.c.sum().over(ibis.window(order_by="v", rows=(None, 0))), n=h.c.sum().over(ibis.window()))
    rn_e = (h.n - 1) * 0.5
    lo_e, hi_e = rn_e.floor() + 1, rn_e.ceil() + 1  # 1-based ranks of the two middle values
    r = h.aggregate(n=h.c.sum(), lo=ibis.ifelse(h.cum >= lo_e, h.v, ibis.null()).min(),
                    hi=ibis.ifelse(h.cum >= hi_e, h.v, ibis.null()).min()).execute().iloc[0]
    n = int(_scalar_value(r["n"], 0))
    if n == 0:
        return None
    rn = (n - 1) * 0.5  # the 0-based position of the median, interpolated
    lo_k, hi_k = int(np.floor(rn)) + 1, int(np.ceil(rn)) + 1
    lo, hi = float(r["lo"]), float(r["hi"])
    return lo if lo_k == hi_k else lo + (hi - lo) * (rn - np.floor(rn))


def _table_names(con) -> list[str]:
    """Tables of a backend. ibis 12's DuckDB ``list_tables`` calls ``fetch_arrow_table`` on the connection, which
    duckdb 2 removed: read DuckDB's catalogue directly there."""
    try:
        return con.list_tables()
    except AttributeError:
        if getattr(con, "name", "") != "duckdb":
            raise
        rows = con.raw_sql("SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")
        return [r[0] for r in rows.fetchall()]


def load_dataset(
    source: Any,
    *,
    mapping: str | Path | dict | Mapping | None = None,
    as_of: str | dt.date | None = None,
    grace_months: int | None = None,
    fiscal_year_start: int | None = None,
    gross_margin: float | None = None,
    data_start: str | dt.date | None = None,
    backend=None,
    raise_on_error: bool = True,
    context=None,
    cache: bool | str | Path = True,
):
    """Load, validate and aggregate a data source into a :class:`~csanalysis.data.dataset.Dataset`.

    ``source`` is a folder of CSV/Parquet files, a DuckDB database file or an Ibis backend. Errors are all
    collected first and raised together as :class:`DataValidationError` (with ``.report``).

    ``context`` is a report run's :class:`~csanalysis.data.context.RunContext` or the path of its file (a
    notebook's ``run_context`` parameter): the Dataset is then read from the run's cache when the run loaded the
    same inputs, and customer ids are pseudonymised when the run asks for it. None or "" (a notebook run by
    hand): loaded here, ids as they are.

    Parameters
    ----------
    source : path or ibis backend
        A folder of CSV/Parquet files, a DuckDB database file or an Ibis backend.
    mapping : path, dict or None
        The column mapping (None: the folder's ``csanalysis.yaml`` if any, else the canonical names of
        data/README.md).
    as_of : date-like, optional
        The analysis date (None: the mapping's setting, else the end of the data's last complete month; a
        snapshot: today).
    grace_months : int, optional
        Months without payment before a stop is a churn (None: the mapping's setting or the default).
    fiscal_year_start : int, optional
        The fiscal year's first month (1–12; None: the mapping's setting or January).
    gross_margin : float, optional
        The gross margin of LTV and ROI (0–1; None: the mapping's setting or the default).
    data_start : date-like, optional
        The first month of the data window (None: the mapping's setting, else the data's first month).
    backend : ibis backend, optional
        The engine to load a folder or file into (None: an embedded DuckDB).
    raise_on_error : bool
        Raise :class:`DataValidationError` on errors found while building the tables (False: return the Dataset
        with its ``report``; errors in the raw tables always raise).
    context : RunContext, path or None
        A report run's context, as above.
    cache : bool or path
        Outside a report run, reuse an earlier load of the same folder or file when its files' content, the
        mapping and the settings are unchanged, and keep this load for the next time
        (:mod:`csanalysis.data.cache`: the user's load cache, ``$CSANALYSIS_CACHE_DIR`` or
        ``~/.cache/csanalysis/loads``; ``CSANALYSIS_LOAD_CACHE=0`` turns this default off); a path: that folder
        instead; False: load afresh and keep nothing. A reused
        load has the same tables, settings and validation report (warnings included) as the load it keeps.

    Returns
    -------
    Dataset
        The validated, aggregated tables with their validation ``report``.

    Raises
    ------
    DataValidationError
        Every error found, with ``.report``.
    """
    from . import cache as _cache
    from . import pseudonym
    from .context import run_context
    from .dataset import Dataset

    context = run_context(context)
    overrides = cache_settings(as_of=as_of, grace_months=grace_months, fiscal_year_start=fiscal_year_start,
                               gross_margin=gross_margin, data_start=data_start, raise_on_error=raise_on_error,
                               pseudonymise=context.pseudonymise)
    user_root = user_key = None
    if backend is None and not isinstance(source, ibis.BaseBackend) and not isinstance(mapping, Mapping):
        if context.cache_dir:
            hit = _cache.lookup(source, mapping, overrides, context)  # inside a report run: the run's one aggregation
            if hit is not None:
                return hit
        elif (cache is not False and (cache is not True or _cache.user_cache_enabled())
              and Path(str(source)).exists()):
            user_root = _cache.user_cache_dir() if cache is True else Path(cache)
            # the source as given and as resolved (the report and the file names quote them); today's date when
            # as_of is not given (the last complete month and the rows dated after today depend on it)
            user_key = _cache.cache_key(source, mapping, {
                **overrides, "source": str(source), "resolved": str(Path(str(source)).resolve()),
                "today": str(dt.date.today()) if as_of is None else None})
            hit = _cache.reuse(user_root, user_key, _cache.Reload(partial(
                load_dataset, source, mapping=mapping, as_of=as_of, grace_months=grace_months,
                fiscal_year_start=fiscal_year_start, gross_margin=gross_margin, data_start=data_start,
                raise_on_error=raise_on_error, context=context, cache=False)))
            if hit is not None:
                return hit
    folder = Path(source) if not isinstance(source, ibis.BaseBackend) and Path(source).is_dir() else None
    mapping = load_mapping(mapping, folder=folder)
    settings = mapping.settings.updated(
        as_of=as_of, grace_months=grace_months, fiscal_year_start=fiscal_year_start,
        gross_margin=gross_margin, data_start=data_start,
    )
    settings = Settings(**{**settings.to_dict()})  # re-validate overrides
    report = ValidationReport(source=str(source))
    src = _Source(source, mapping, report, backend=backend)
    layout = LAYOUTS[mapping.layout]

    tables: dict[str, ibis.Table] = {}
    for name in layout["required"] + layout["optional"]:
        raw = src.read(name)
        if raw is None:
            if name in layout["required"] and not any(f.table == name for f in report.errors):
                report.add("error", name, f"required table '{name}' was not found in {source} "
                           f"(expected {name}.csv or {name}.parquet, or a 'file' in the mapping)")
            continue
        t, n = _prepare(name, raw, mapping.table(name), report, src.file_label(name), typed_source=src.typed(name))
        report.counts[name] = {"read": n, "used": n}
        if n == 0 and name in layout["required"]:
            report.add("error", name, "the table is empty", n_rows=0, file=src.file_label(name))
        if t is not None:
            tables[name] = t
    if not report.ok:
        raise DataValidationError(_shown(report, overrides["pseudonymise"]))

    builder = _Builder(tables, settings, report, src, mapping.layout)
    with load_memory(src.con, src.own):
        ds = builder.build()
    if not report.ok and raise_on_error:
        raise DataValidationError(_shown(report, overrides["pseudonymise"]))
    attr_table = tables.get("snapshot" if mapping.layout == "snapshot" else "customers")
    kinds = attributes.table_kinds(attr_table) if attr_table is not None else {}
    if ds:
        attributes.report_uninformative(attr_table, kinds, report, "snapshot" if mapping.layout == "snapshot" else "customers")
    out = Dataset(
        source=str(source), layout=mapping.layout, settings=builder.settings, report=report,
        tables=tables, con=src.con, attribute_kinds=kinds, **ds,
    )
    if overrides["pseudonymise"]:
        pseudonym.pseudonymise_dataset(out)
    if user_key is not None and src.inside_folder():
        _cache.keep(out, user_root, user_key)
    return out


def _shown(report: ValidationReport, pseudonymise: bool) -> ValidationReport:
    """The report as an error shows it: in a pseudonymised run, with the ids it quotes pseudonymised."""
    if pseudonymise:
        from .pseudonym import pseudonymise_report

        pseudonymise_report(report)
    return report


def cache_settings(*, pseudonymise: bool = False, **overrides) -> dict:
    """The settings part of a cache key, as :func:`load_dataset` computes it for the same arguments (``pseudonymise``:
    the run context's switch, keyed by :func:`csanalysis.data.pseudonym.cache_setting`)."""
    from . import pseudonym

    base = {"as_of": None, "grace_months": None, "fiscal_year_start": None, "gross_margin": None,
            "data_start": None, "raise_on_error": True}
    return {**base, **overrides, "pseudonymise": pseudonym.cache_setting(pseudonymise)}


CUSTOMER_TABLES = ("revenue", "usage", "nps", "payments", "cs_activities", "customer_attributes", "tickets")
CUT_TABLES = ("revenue", "usage", "nps", "payments", "cs_activities", "tickets")  # cut at as_of by their date
FUTURE_TABLES = ("revenue", "usage", "payments", "nps")  # their latest date up to today sets a default as_of


def _outside(col, allowed):
    """Engine expression: a value that is not one of ``allowed`` (an empty value is not checked)."""
    return col.notnull() & ~col.isin(list(allowed))


def _tally(cond):
    """Engine aggregate: the rows where ``cond`` holds (NULL counts as false, as in a filter)."""
    return ibis.ifelse(cond, 1, 0).sum()


def _scanned(scan: dict | None, name: str, key: str, compute):
    """A table's count or value from its scan (:meth:`_Builder._scan`), else ``compute()``: the check's own query."""
    if scan is not None and key in scan.get(name, {}):
        return scan[name][key]
    return compute()


def _gap_rows(cm, *, distinct: bool):
    """Engine expression: the customer-months (``customer_id``, ``m``) of ``cm`` that come more than a month after
    the customer's previous month in ``cm``.

    ``distinct`` reduces ``cm`` to one row per customer-month before the window. Without it the result is the
    same: a month's second row has m − prev = 0, so each month after a gap comes once. The window then sorts
    the rows as they are, which costs less than reducing them when there is about one row a month."""
    if distinct:
        cm = cm.distinct()
    prev = cm.m.lag().over(ibis.window(group_by=cm.customer_id, order_by=cm.m))
    return cm.mutate(prev=prev).filter(_.m - _.prev > 1).select("customer_id", "m")


def _annual_invoices(revenue) -> pd.DataFrame:
    from .invoices import annual_invoices

    return annual_invoices(revenue)


def _checked_frame(expr, to_pandas, schema: str) -> pd.DataFrame:
    """An engine table (panel or spells) as the documented pandas frame, checked against its schema (named: the
    schemas are built, and pandera imported, only when a frame is checked)."""
    return getattr(_schema, schema).validate(to_pandas(expr.execute()))


class _Builder:
    """Cross-table checks, the as_of cut, MRR spreading and the churn definition (all in the engine)."""

    def __init__(self, tables, settings: Settings, report: ValidationReport, src: _Source, layout: str):
        self.t, self.settings, self.report, self.src, self.layout = tables, settings, report, src, layout

    def file(self, name):
        return self.src.file_label(name)

    # -- checks -------------------------------------------------------------------------------------
    def _count(self, expr) -> int:
        return int(expr.count().execute())

    def _check_values(self, name: str, column: str, allowed, scan: dict | None = None) -> None:
        t = self.t.get(name)
        if t is None or column not in t.columns:
            return
        bad = t.filter(_outside(t[column], allowed))
        n = _scanned(scan, name, f"outside:{column}", lambda: self._count(bad))
        if n:
            self.report.add("error", name, f"{n:,} rows have a value outside {list(allowed)}", column=column,
                            n_rows=n, examples=_examples(bad.select(column)), file=self.file(name))

    def _check_orphans(self, name: str, customers, scan: dict | None = None) -> None:
        t = self.t.get(name)
        if t is None or customers is None:
            return
        orphans = t.anti_join(customers.select("customer_id"), "customer_id")
        n = _scanned(scan, name, "orphans", lambda: self._count(orphans))
        if n:
            self.report.add("error", name, f"{n:,} rows belong to customers that are not in the customers table",
                            column="customer_id", n_rows=n, examples=_examples(orphans.select("customer_id")),
                            file=self.file(name))

    def _as_of(self, scan: dict | None = None) -> dt.date | None:
        """The analysis date: the setting, else the end of the last complete month of the data. Rows dated after
        today cannot be data yet (one stray year-2204 row would make every customer look churned): without an
        explicit ``as_of`` they are errors, with examples (None is returned); with one, they are cut like any row
        after it."""
        if self.settings.as_of is not None:
            return self.settings.as_of
        if "snapshot" in self.t:
            return pd.Timestamp.today().normalize().date()
        today = dt.date.today()
        dates = []
        for name in ("revenue", "usage", "payments", "nps"):
            if name in self.t and "date" in self.t[name].columns:
                t = self.t[name]
                future = t.filter(t.date > today)
                n = _scanned(scan, name, "future", lambda: self._count(future))
                if n:
                    ex = future.order_by(ibis.desc("date")).select("customer_id", "date").limit(N_EXAMPLES).execute()
                    self.report.add("error", name, f"{n:,} rows are dated after today ({today}): fix their dates, or set "
                                    "as_of (--as-of) to analyse up to a date and leave later rows out", column="date",
                                    n_rows=n, examples=[f"{r.customer_id}: {pd.Timestamp(r.date).date()}" for r in ex.itertuples()],
                                    ids=ex["customer_id"].astype(str).tolist(), file=self.file(name))
                dates.append(_scanned(scan, name, "latest", lambda: t.filter(t.date <= today).date.max().execute()))
        dates = [d for d in dates if d is not None and not pd.isna(d)]
        if not self.report.ok or not dates:
            return None
        latest = pd.Timestamp(max(dates))
        # the last day of the last complete month (periods.last_complete_month: the latest date's month if the
        # data reach its last day, else the one before)
        return (month_start(periods.last_complete_month(latest) + 1) - pd.Timedelta(days=1)).date()

    def _as_of_after_data(self, as_of_m: int, scan: dict | None = None) -> None:
        """An explicit as_of more than a month after the last revenue row: a warning (everyone looks churned)."""
        last = _scanned(scan, "revenue", "last", lambda: _scalar(self.t["revenue"].date.max(), None))
        if last is None:
            return
        gap = as_of_m - periods.month_index(last)
        if self.settings.as_of is not None and gap > 1:
            self.report.add("warning", "revenue", f"as_of {self.settings.as_of} is {gap} months after the last revenue "
                            f"row ({pd.Timestamp(last):%Y-%m}): customers without revenue since then count as churned",
                            column="date", file=self.file("revenue"), key="finding.as_of_after_revenue",
                            values={"as_of": str(self.settings.as_of), "gap": int(gap), "last": f"{pd.Timestamp(last):%Y-%m}"})

    def _check_magnitudes(self, name: str, column: str, scan: dict | None = None) -> None:
        """Amounts the engine cannot sum to the cent (|x| ≥ :data:`MAX_AMOUNT`) are errors; amounts more than
        :data:`MAGNITUDE_WARNING` times the table's median absolute amount are warnings (a typo or a unit slip)."""
        t = self.t.get(name)
        if t is None or column not in t.columns:
            return
        x = t[column].abs()
        big = t.filter(x >= MAX_AMOUNT)
        n = _scanned(scan, name, f"big:{column}", lambda: self._count(big))
        if n:
            self.report.add("error", name, f"{n:,} rows have an amount of {MAX_AMOUNT:,.0e} or more, beyond what can be "
                            "added up to the cent: fix the values (or the unit)", column=column, n_rows=n,
                            examples=_examples(big.select(column)), file=self.file(name))
            return
        median = _median(t.filter(x > 0).select(v=x).v)
        if not median:
            return
        odd = t.filter(x > MAGNITUDE_WARNING * median)
        n = self._count(odd)
        if n:
            self.report.add("warning", name, f"{n:,} rows have an amount more than {MAGNITUDE_WARNING:,} times the "
                            f"median amount ({median:,.2f}): check them for a typo or a unit slip", column=column,
                            n_rows=n, examples=_examples(odd.select(column)), file=self.file(name),
                            key="finding.large_amounts", values={"n": f"{n:,}", "times": f"{MAGNITUDE_WARNING:,}",
                                                                 "median": f"{median:,.2f}"})

    def _cut_after(self, name: str, as_of: dt.date, column: str = "date", scan: dict | None = None) -> None:
        t = self.t.get(name)
        if t is None or column not in t.columns:
            return
        n_cut = _scanned(scan, name, f"after:{column}", lambda: self._count(t.filter(t[column] > as_of)))
        self.report.counts[name]["cut_after_as_of"] = n_cut
        self.report.counts[name]["used"] -= n_cut
        if n_cut:
            self.report.add("note", name, f"{n_cut:,} rows dated after as_of {as_of} are left out", column=column,
                            n_rows=n_cut, file=self.file(name), key="finding.cut_after_as_of",
                            values={"n": f"{n_cut:,}", "as_of": str(as_of)})
            self.t[name] = t.filter(t[column] <= as_of)

    def _scan(self, customers, clean: bool) -> dict[str, dict]:
        """The row checks of each table whose rows belong to customers (:data:`CUSTOMER_TABLES`), counted in one
        aggregate pass over it, joined to the customers' ids. Each check then reads its count here
        (:func:`_scanned`), reports in its own order and queries examples only for a count that is not zero.

        Per table: rows of customers not in the customers table; values outside their list (revenue ``kind``,
        payments ``status``); and, for the tables cut at ``as_of`` or that set a default one, the rows after
        ``as_of`` (when it is set) or after today with the latest date up to today (when it is not). Revenue
        also: amounts too large to add up to the cent, its latest date, the rows dated before the customer's
        signup date (only when customer ids are unique, ``clean``: a repeated id joins each row more than once),
        the currencies, and (``as_of`` set) the recurring rows whose period ends before it starts, with and
        without the rows after ``as_of``."""
        as_of = self.settings.as_of
        today = dt.date.today()
        if clean:
            ids = customers.select(_scan_id="customer_id", _scan_hit=ibis.literal(1, "int8"),
                                   _scan_signup="signup_date")
        else:  # each id once: the join keeps each row of the table once
            ids = customers.select(_scan_id="customer_id", _scan_hit=ibis.literal(1, "int8")).distinct()
        out = {}
        for name in CUSTOMER_TABLES:
            t = self.t.get(name)
            if t is None or "customer_id" not in t.columns:
                continue
            j = t.left_join(ids, t.customer_id == ids._scan_id)
            aggs = {"orphans": _tally(j._scan_hit.isnull())}
            checked = {"revenue": ("kind", REVENUE_KINDS), "payments": ("status", PAYMENT_STATUSES)}.get(name)
            if checked and checked[0] in t.columns:
                aggs[f"outside:{checked[0]}"] = _tally(_outside(j[checked[0]], checked[1]))
            if "date" in t.columns:
                if as_of is not None and name in CUT_TABLES:
                    aggs["after:date"] = _tally(j.date > as_of)
                if as_of is None and name in FUTURE_TABLES:
                    aggs["future"] = _tally(j.date > today)
                    aggs["latest"] = j.date.max(where=j.date <= today)
            if name == "revenue":
                if "amount" in t.columns:
                    aggs["big:amount"] = _tally(j.amount.abs() >= MAX_AMOUNT)
                if clean and "date" in t.columns:
                    aggs["before"] = _tally(j.date < j._scan_signup)
                if "date" in t.columns:
                    aggs["last"] = j.date.max()
                if "currency" in t.columns:
                    aggs["currencies"] = j.currency.nunique()
                    aggs["currency"] = j.currency.min()
                if as_of is not None and "period_start" in t.columns and "period_end" in t.columns:
                    rec = (j.kind.isnull() | (j.kind == "recurring")) if "kind" in t.columns else ibis.literal(True)
                    bad = rec & (j.period_end < j.period_start)
                    aggs["bad_period"] = _tally(bad)
                    aggs["bad_period_kept"] = _tally(bad & (j.date <= as_of))
            row = j.aggregate(**aggs).execute().iloc[0]
            out[name] = {k: (row[k] if k in ("latest", "last", "currency") else int(_scalar_value(row[k], 0)))
                         for k in aggs}
            if "last" in out[name]:
                out[name]["last"] = _scalar_value(out[name]["last"], None)
        return out

    # -- build --------------------------------------------------------------------------------------
    def build(self) -> dict:
        if self.layout == "snapshot":
            return self._build_snapshot()
        t, report = self.t, self.report
        revenue = t["revenue"]
        customers = t.get("customers")
        if customers is None:  # purchase log: customers from the first purchase
            customers = revenue.group_by("customer_id").aggregate(signup_date=_.date.min())
            self.report.add("note", "customers", "derived from revenue: signup_date is each customer's first purchase",
                            key="finding.customers_from_revenue")
            self.t["customers"] = customers
        dupes = customers.group_by("customer_id").aggregate(n=_.count()).filter(_.n > 1)
        n_dupes = int(_scalar(dupes.n.sum(), 0))
        if n_dupes:
            # the examples in id order: a GROUP BY's rows come in no set order (it changes with the query plan)
            report.add("error", "customers", f"{self._count(dupes):,} customer_id values appear more than once",
                       column="customer_id", n_rows=n_dupes,
                       examples=dupes.order_by("customer_id").limit(N_EXAMPLES).execute()["customer_id"].tolist(),
                       file=self.file("customers"))
        scan = self._scan(customers, clean=not n_dupes)  # one pass per table counts its row checks
        for name in CUSTOMER_TABLES:
            self._check_orphans(name, customers, scan)
        if "kind" in revenue.columns:
            self._check_values("revenue", "kind", REVENUE_KINDS, scan)
        self._check_values("payments", "status", PAYMENT_STATUSES, scan)
        self._check_magnitudes("revenue", "amount", scan)
        if "currency" in revenue.columns:
            def currencies():  # the currencies and their rows, the main currency first
                return (revenue.filter(revenue.currency.notnull()).group_by("currency").aggregate(n=_.count())
                        .order_by([ibis.desc("n"), "currency"]).execute())

            # the scan counted them and kept the smallest, which is the only one when there is one
            cur = None if "currencies" in scan.get("revenue", {}) else currencies()
            n_cur = len(cur) if cur is not None else scan["revenue"]["currencies"]
            if n_cur > 1:
                cur = cur if cur is not None else currencies()
                report.add("error", "revenue", f"more than one currency ({len(cur)}): convert to a single currency first",
                           column="currency", n_rows=int(cur.n.sum()),
                           examples=[f"{c}: {n:,} rows" for c, n in zip(cur.currency, cur.n)], file=self.file("revenue"))
            elif n_cur == 1:
                only = str(cur.currency.iloc[0]) if cur is not None else str(scan["revenue"]["currency"])
                if self.settings.currency is None and 0 < len(only.strip()) <= 8:
                    self.settings = self.settings.updated(currency=only.strip())  # the reports' money
        before = revenue.join(customers.select("customer_id", "signup_date"), "customer_id").filter(
            _.date < _.signup_date)
        n_before = _scanned(scan, "revenue", "before", lambda: self._count(before))
        if n_before:
            ex = (before.select("customer_id", "date", "signup_date").order_by(["customer_id", "date"])
                  .limit(N_EXAMPLES).execute())  # the same examples on every run
            report.add("error", "revenue", f"{n_before:,} rows are dated before the customer's signup_date",
                       column="date", n_rows=n_before,
                       examples=[f"{r.customer_id}: {r.date} < {r.signup_date}" for r in ex.itertuples()],
                       ids=ex["customer_id"].astype(str).tolist(), file=self.file("revenue"))
        if not report.ok:
            return {}

        as_of = self._as_of(scan)
        if as_of is None:
            return {}
        self.settings = self.settings.updated(as_of=as_of)
        as_of_m = periods.last_complete_month(as_of)
        self._as_of_after_data(as_of_m, scan)
        for name in CUT_TABLES:
            self._cut_after(name, as_of, scan=scan)
        if "cs_costs" in self.t:
            self._cut_after("cs_costs", as_of, column="month")
        revenue = self.t["revenue"]

        # MRR: recurring amounts spread over their service months (see data/README.md)
        rec = revenue
        if "kind" in revenue.columns:
            rec = revenue.filter(revenue.kind.isnull() | (revenue.kind == "recurring"))
        has_period = "period_start" in rec.columns and "period_end" in rec.columns
        if has_period:
            span = (rec.period_end.delta(rec.period_start, unit="day") + 1) / DAYS_PER_MONTH
            n_months = ibis.greatest(span.round().cast("int32"), 1)
            rec = rec.mutate(
                start_m=ibis.ifelse(rec.period_start.notnull() & rec.period_end.notnull(), sp.month_index(rec.period_start), sp.month_index(rec.date)),
                n_months=ibis.ifelse(rec.period_start.notnull() & rec.period_end.notnull(), n_months, 1),
            )
            bad_period = rec.filter(rec.period_end < rec.period_start)
            # the scan counted the rows with and without those after as_of (cut only when there are some)
            key = "bad_period_kept" if self.report.counts["revenue"].get("cut_after_as_of") else "bad_period"
            n_bad = _scanned(scan, "revenue", key, lambda: self._count(bad_period))
            if n_bad:
                report.add("error", "revenue", f"{n_bad:,} rows have period_end before period_start", column="period_end",
                           n_rows=n_bad, examples=_examples(bad_period.select("period_end")), file=self.file("revenue"))
                return {}
        else:
            rec = rec.mutate(start_m=sp.month_index(rec.date), n_months=ibis.literal(1, "int32"))
        rec = rec.select("customer_id", "amount", "start_m", "n_months")
        # one row per service month: unnest the range 0 … n_months − 1 (in the engine; portable to Spark)
        spread = rec.mutate(k=ibis.range(0, rec.n_months).unnest()).select(
            "customer_id", m=(_.start_m + _.k).cast("int32"), amt=_.amount / _.n_months)
        monthly = spread.group_by(["customer_id", "m"]).aggregate(mrr=_.amt.sum().round(2))
        monthly = monthly.cache() if hasattr(monthly, "cache") else monthly
        purchase_log = self.layout == "purchase_log"
        negative = monthly.filter((_.mrr < 0) & (_.m <= as_of_m)) if purchase_log else monthly.filter(_.mrr < 0)
        n_neg = self._count(negative)
        if n_neg:
            ex = negative.order_by(["customer_id", "m"]).limit(N_EXAMPLES).execute()
            examples = [f"{r.customer_id} {periods.month_label(r.m)}: {r.mrr:,.2f}" for r in ex.itertuples()]
            if purchase_log:
                # returns larger than the month's purchases: still a month with purchase rows (activity), kept
                # with its net amount, and said so
                report.add("warning", "revenue", f"{n_neg:,} customer-months have purchases that sum to less than "
                           "zero (returns or refunds larger than that month's purchases); they count as active months "
                           "and enter revenue with their net (negative) amount", column="amount", n_rows=n_neg,
                           examples=examples, ids=ex["customer_id"].astype(str).tolist(), file=self.file("revenue"),
                           key="finding.negative_purchase_months", values={"n": f"{n_neg:,}"})
            else:
                report.add("error", "revenue", f"{n_neg:,} customer-months have negative MRR after spreading invoices "
                           "over their service periods (a credit note larger than what it credits)", column="amount",
                           n_rows=n_neg, examples=examples, ids=ex["customer_id"].astype(str).tolist(),
                           file=self.file("revenue"))
                return {}
        totals = monthly.aggregate(
            in_panel=ibis.ifelse(_.m <= as_of_m, _.mrr, 0).sum(), after=ibis.ifelse(_.m > as_of_m, _.mrr, 0).sum()
        ).execute().iloc[0]
        recurring = (revenue.kind.isnull() | (revenue.kind == "recurring")) if "kind" in revenue.columns else None
        sums = revenue.aggregate(all=revenue.amount.sum(), rec=revenue.amount.sum(where=recurring)).execute().iloc[0]
        source_recurring = float(_scalar_value(sums["rec"], 0.0))
        all_rev = float(_scalar_value(sums["all"], 0.0))
        report.reconciliation.update({
            "revenue total (rows up to as_of)": all_rev,
            "one-off revenue (not MRR)": all_rev - source_recurring,
            "recurring revenue in the source": source_recurring,
            "MRR in the panel (months up to as_of)": float(totals["in_panel"] or 0),
            "MRR spread into months after as_of": float(totals["after"] or 0),
            "difference (rounding to cents)": source_recurring - float(totals["in_panel"] or 0) - float(totals["after"] or 0),
        })
        # the active months: MRR above zero (subscription); any month with a purchase row, whatever the rows sum
        # to (purchase log: a free item or a fully discounted order is a purchase; see data/README.md)
        paid = monthly.filter((_.m <= as_of_m) if purchase_log else ((_.mrr > 0) & (_.m <= as_of_m)))
        data_start_m = (periods.month_index(self.settings.data_start) if self.settings.data_start
                        else int(paid.m.min().execute()))
        self.settings = self.settings.updated(data_start=month_start(data_start_m).date())
        signup = customers.select("customer_id", signup_m=sp.month_index(customers.signup_date))
        spells = sp.spells_expr(paid, as_of_m=as_of_m, grace=self.settings.grace_months,
                                data_start_m=data_start_m, signup=signup)
        spells = spells.cache() if hasattr(spells, "cache") else spells
        panel = sp.panel_expr(paid, spells)
        panel = panel.cache() if hasattr(panel, "cache") else panel  # every aggregation reads it
        # the panel and spells stay in the engine; pandas analyses get them (checked) on first read
        out = {
            "panel": Lazy(partial(_checked_frame, panel, sp.panel_to_pandas, _schema.panel_schema_name(self.layout)),
                          partial(direct.panel, panel, layout=self.layout)),
            "spells": Lazy(partial(_checked_frame, spells, sp.spells_to_pandas, "SPELLS_SCHEMA"), partial(direct.spells, spells)),
            "engine": {"panel": panel, "spells": spells},
        }
        if "customers" not in self.report.counts:  # derived from a purchase log
            n = self._count(customers)
            self.report.counts["customers"] = {"read": n, "used": n}
        out["customers"] = Lazy(partial(self._customers, customers), partial(direct.customers, customers))
        # the large optional tables are aggregated when first read (Dataset.Lazy); their checks run now, in the engine
        out["usage"] = (Lazy(partial(self._usage, as_of_m), lambda: direct.monthly(self._usage_expr(as_of_m)))
                        if "usage" in self.t else None)
        out["nps"] = Lazy(self.t["nps"].order_by(["customer_id", "date"]).execute) if "nps" in self.t else None
        out["payments"] = (Lazy(partial(self._monthly_counts, "payments", "status", as_of_m),
                                lambda: direct.monthly(self._monthly_counts_expr("payments", "status", as_of_m)))
                           if "payments" in self.t else None)
        out["payment_attempts"] = (Lazy(partial(self._payment_attempts, as_of_m)) if "payments" in self.t else None)
        out["cs_activities"] = (Lazy(partial(self._monthly_counts, "cs_activities", "activity", as_of_m),
                                     lambda: direct.monthly(self._monthly_counts_expr("cs_activities", "activity", as_of_m)))
                                if "cs_activities" in self.t else None)
        out["tickets"] = Lazy(self.t["tickets"].order_by(["customer_id", "date"]).execute) if "tickets" in self.t else None
        out["invoices"] = (Lazy(partial(_annual_invoices, self.t["revenue"]))
                           if self.layout == "subscription" and "revenue" in self.t else None)
        out["cs_costs"] = self.t["cs_costs"].order_by("month").execute() if "cs_costs" in self.t else None
        out["attributes"] = self.t["customer_attributes"].execute() if "customer_attributes" in self.t else None
        out["as_of_month"] = month_start(as_of_m)
        self._warnings(out, as_of_m)
        return out

    def _customers(self, customers) -> pd.DataFrame:
        df = customers.order_by("customer_id").execute()
        for c in ("signup_date", "renewal_date"):
            if c in df.columns:
                df[c] = pd.to_datetime(df[c])
        return df.reset_index(drop=True)

    def _usage(self, as_of_m: int):
        if "usage" not in self.t:
            return None
        df = self._usage_expr(as_of_m).execute()
        df = df.sort_values(["customer_id", "m"], kind="stable").reset_index(drop=True)
        df.insert(1, "month", month_start(df.pop("m")))
        df["last_active_date"] = pd.to_datetime(df["last_active_date"])
        return df

    def _usage_expr(self, as_of_m: int):
        """The usage table per customer and month index ``m``, in the engine."""
        u = self.t["usage"]
        measures = [c for c in u.columns if c not in ("customer_id", "date")]
        activity = sum((ibis.ifelse(u[c] > 0, 1, 0) for c in measures), ibis.literal(0)) if measures else ibis.literal(1)
        u = u.mutate(m=sp.month_index(u.date), _active=activity)
        u = u.filter(u.m <= as_of_m)
        aggs = {c: (u[c].max() if c in USAGE_MAX_MEASURES else u[c].sum()) for c in measures}
        aggs["last_active_date"] = ibis.ifelse(u._active > 0, u.date, ibis.null("date")).max()
        aggs["n_rows"] = u.count()
        return u.group_by(["customer_id", "m"]).aggregate(**aggs)

    def _monthly_counts(self, name: str, column: str, as_of_m: int):
        expr = self._monthly_counts_expr(name, column, as_of_m) if name in self.t else None
        if expr is None:
            return None
        df = expr.execute()
        df = df.sort_values(["customer_id", "m"], kind="stable").reset_index(drop=True)
        df.insert(1, "month", month_start(df.pop("m")))
        return df

    def _monthly_counts_expr(self, name: str, column: str, as_of_m: int):
        """Rows per customer, month index ``m`` and value of ``column``, in the engine (None: no values)."""
        t = self.t[name].mutate(m=sp.month_index(_.date))
        t = t.filter(t.m <= as_of_m)
        levels = sorted(v for v in t.select(column).distinct().execute()[column].tolist() if v is not None)
        aggs = {str(v): ibis.ifelse(t[column] == v, 1, 0).sum() for v in levels}
        if not aggs:
            return None
        return t.group_by(["customer_id", "m"]).aggregate(**aggs)

    def _payment_attempts(self, as_of_m: int) -> pd.DataFrame:
        """The payment rows up to the ``as_of`` month: customer_id, date, status (sorted by customer, date, status)."""
        t = self.t["payments"]
        t = t.filter(sp.month_index(t.date) <= as_of_m).select("customer_id", "date", "status")
        df = t.execute().sort_values(["customer_id", "date", "status"], kind="stable").reset_index(drop=True)
        df["customer_id"] = df["customer_id"].astype(str)
        df["date"] = pd.to_datetime(df["date"])
        return df

    def _counted(self, expr, order: list[str]) -> tuple[int, list]:
        """Rows of a check's result and the first few customer ids (by ``order``), from one evaluation of it."""
        expr = expr.cache() if hasattr(expr, "cache") else expr
        n = self._count(expr)
        examples = expr.order_by(order).limit(N_EXAMPLES).execute()["customer_id"].tolist() if n else []
        return n, examples

    def _warnings(self, out: dict, as_of_m: int) -> None:
        spells = out["engine"]["spells"]
        no_rev = self.t["customers"].select("customer_id").anti_join(spells.select("customer_id"), "customer_id")
        n, examples = self._counted(no_rev, ["customer_id"])
        if n:
            self.report.add("warning", "customers", f"{n:,} customers have no paid month up to as_of", n_rows=n,
                            examples=examples, ids=examples, key="finding.no_paid_month", values={"n": f"{n:,}"})
        if "usage" in self.t:
            u = self.t["usage"]
            cm = u.select("customer_id", m=sp.month_index(u.date)).filter(_.m <= as_of_m)
            # more rows than customer-months in the data window: some months have several rows (daily or
            # weekly usage), which are cheaper to reduce to one each than to sort
            n_months = as_of_m - periods.month_index(self.settings.data_start) + 1
            several = self.report.counts["usage"]["used"] > self.report.counts["customers"]["read"] * n_months
            n, examples = self._counted(_gap_rows(cm, distinct=several), ["customer_id", "m"])
            if n:
                self.report.add("warning", "usage", f"{n:,} gaps of more than a month with no usage rows "
                                "(months without rows count as no activity)", n_rows=n, examples=examples, ids=examples,
                                key="finding.usage_gaps", values={"n": f"{n:,}"})
        if "nps" in self.t:
            # a response counts as from a customer when its month is inside one of the customer's spells
            nps = self.t["nps"]
            r = nps.select("customer_id", "date", rm=sp.month_index(nps.date))
            s = spells.select(s_id="customer_id", s_start="start_m", s_last="last_m", s_event="event")
            former = r.anti_join(s, [r.customer_id == s.s_id, r.rm >= s.s_start, (s.s_event == 0) | (r.rm <= s.s_last)])
            n, examples = self._counted(former, ["customer_id", "date"])
            if n:
                self.report.add("warning", "nps", f"{n:,} responses come from customers who were not active "
                                "that month (former or not-yet customers); they are kept", n_rows=n, examples=examples,
                                ids=examples, key="finding.nps_not_active", values={"n": f"{n:,}"})

    # -- snapshot layout ------------------------------------------------------------------------------
    def _build_snapshot(self) -> dict:
        """One spell per row with T = ``tenure_months`` and E = ``churned`` (data/README.md, "snapshot").

        ``tenure_months`` is how long the customer has been (or was) a customer. A still-active row was paying in
        the ``as_of`` month, its ``tenure``-th month: its spell starts ``tenure`` months before ``as_of`` and is
        censored at T = tenure (survival.survival_data: duration − 1). A churned row paid ``tenure`` months and
        was gone in the next, its churn month, which is never after ``as_of``: the first month after signup +
        tenure when ``signup_date`` gives it and that is not later than ``as_of``, else the ``as_of`` month
        itself (a snapshot does not say when in the past a customer left). A churned row with tenure 0 left in
        its first month: an event at 0 with no paid month."""
        import numpy as np

        snap = self.t["snapshot"]
        report = self.report
        dupes = snap.group_by("customer_id").aggregate(n=_.count()).filter(_.n > 1)
        if self._count(dupes):
            report.add("error", "snapshot", f"{self._count(dupes):,} customer_id values appear more than once",
                       column="customer_id", n_rows=int(dupes.n.sum().execute()), examples=_examples(dupes.select("customer_id")),
                       file=self.file("snapshot"))
        bad = snap.filter(snap.tenure_months < 0)
        if self._count(bad):
            report.add("error", "snapshot", "tenure_months must not be negative", column="tenure_months",
                       n_rows=self._count(bad), examples=_examples(bad.select("tenure_months")), file=self.file("snapshot"))
        if "mrr" in snap.columns:
            bad = snap.filter(snap.mrr < 0)
            if self._count(bad):
                report.add("error", "snapshot", "mrr must not be negative", column="mrr", n_rows=self._count(bad),
                           examples=_examples(bad.select("mrr")), file=self.file("snapshot"))
        if not report.ok:
            return {}
        n_zero = self._count(snap.filter(snap.tenure_months == 0))
        if n_zero:
            report.add("note", "snapshot", f"{n_zero:,} rows have tenure 0 (customers in their first month): a "
                       "still-active one is censored at 0 and adds nothing to the curve, a churned one is a churn at 0",
                       column="tenure_months", n_rows=n_zero, file=self.file("snapshot"),
                       key="finding.tenure_zero", values={"n": f"{n_zero:,}"})
        if self.settings.as_of is None:
            report.add("note", "snapshot", "as_of is not set: the snapshot is taken as of today; set as_of (the "
                       "export date) in the mapping's settings or with --as-of", key="finding.snapshot_no_as_of")
        as_of = self.settings.as_of or self._as_of()
        self.settings = self.settings.updated(as_of=as_of)
        as_of_m = periods.last_complete_month(as_of)
        df = snap.order_by("customer_id").execute()
        tenure = df["tenure_months"].astype("int64").to_numpy()
        event = df["churned"].astype("int64").to_numpy()
        end_m = np.full(len(df), as_of_m, dtype="int64")
        if "signup_date" in df.columns:
            signup = pd.to_datetime(df["signup_date"])
            signup_m = periods.month_index(signup).astype("float64")
            dated = (event == 1) & ~np.isnan(signup_m) & (np.nan_to_num(signup_m) + tenure <= as_of_m)
            end_m[dated] = (signup_m[dated] + tenure[dated]).astype("int64")
        # active: paid in months as_of − tenure … as_of (tenure + 1 months); churned: tenure months before end_m
        duration = np.where(event == 1, tenure, tenure + 1)
        start_m = np.where(event == 1, end_m - tenure, as_of_m - tenure)
        last_m = start_m + duration - 1
        spells = pd.DataFrame({
            "customer_id": df["customer_id"].astype(str), "spell": 1, "start_m": start_m, "last_m": last_m,
            "duration": duration, "event": event, "entry": 0,
        })
        mrr = df["mrr"].astype("float64") if "mrr" in df.columns else pd.Series(float("nan"), index=df.index)
        idx = np.repeat(np.arange(len(df)), duration)
        within = np.arange(duration.sum()) - np.repeat(np.cumsum(duration) - duration, duration)
        panel = pd.DataFrame({
            "customer_id": spells["customer_id"].to_numpy()[idx],
            "m": start_m[idx] + within,
            "mrr": mrr.to_numpy()[idx], "spell": 1, "tenure": within, "spell_month": within,
        })
        customers = df.drop(columns=["tenure_months", "churned"] + (["mrr"] if "mrr" in df.columns else []))
        if "signup_date" not in customers.columns:
            customers["signup_date"] = month_start(start_m).to_numpy()
        customers["signup_date"] = pd.to_datetime(customers["signup_date"])
        self.report.counts["customers"] = {"read": len(df), "used": len(df)}
        return {
            "panel": getattr(_schema, _schema.panel_schema_name("snapshot")).validate(sp.panel_to_pandas(panel)),
            "spells": _schema.SPELLS_SCHEMA.validate(sp.spells_to_pandas(spells)),
            "customers": customers.reset_index(drop=True),
            "usage": self._usage(as_of_m), "nps": self.t["nps"].execute() if "nps" in self.t else None,
            "payments": None, "cs_activities": None, "cs_costs": None, "attributes": None,
            "payment_attempts": self._payment_attempts(as_of_m) if "payments" in self.t else None,
            "tickets": self.t["tickets"].order_by(["customer_id", "date"]).execute() if "tickets" in self.t else None,
            "as_of_month": month_start(as_of_m),
        }
